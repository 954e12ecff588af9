"""How many batch rows one generate() call may hold: derived from the memory that is free, never a constant.

K samples, two clips or N clips run as one batch; when the rows' key-value caches would not fit, they run in
chunks of as many rows as fit. Pure arithmetic here, the free-memory reading at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

USABLE_SHARE = 0.8  # of the free memory: the rest is headroom for the allocator and activations we do not model
TEXT_TOKENS = 512  # a generous bound on a prompt's text tokens (the template is ~120, prompts ≤ 2000 characters)


def kv_bytes_per_token(config: Any, dtype_bytes: int) -> int:
    """Key and value cache bytes one token costs across all layers."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    return 2 * text.num_hidden_layers * heads * head_dim * dtype_bytes


def row_bytes(prompt_tokens: int, max_new_tokens: int, kv_per_token: int, vocab: int, hidden: int,
              dtype_bytes: int) -> int:
    """One row's peak: its cache at full length, two float32 copies of the vocabulary's scores (the processors'
    input and output), and the prefill's hidden states (a few copies of the prompt's activations)."""
    tokens = prompt_tokens + max_new_tokens
    return tokens * kv_per_token + 2 * 4 * vocab + 4 * prompt_tokens * hidden * dtype_bytes


def model_row_bytes(model: Any, visual_tokens: int, max_new_tokens: int) -> int:
    """``row_bytes`` for this model, a clip of ``visual_tokens`` and the request's token budget."""
    import torch

    dtype_bytes = torch.finfo(model.dtype).bits // 8
    text = model.config.get_text_config()
    return row_bytes(visual_tokens + TEXT_TOKENS, max_new_tokens, kv_bytes_per_token(model.config, dtype_bytes),
                     text.vocab_size, text.hidden_size, dtype_bytes)


def rows_per_chunk(rows: int, free_bytes: int, per_row: int) -> int:
    """As many rows as fit in the usable share of ``free_bytes`` (at least one, at most all of them)."""
    if per_row <= 0:
        return rows
    return max(1, min(rows, int(free_bytes * USABLE_SHARE) // per_row))


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), max(1, size))]


def free_bytes(device: str) -> int:
    """Memory free on ``device`` now: the GPU's own count, or the system's available memory on CPU."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30  # unknown: assume a modest machine
