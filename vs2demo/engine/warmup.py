"""The warm-up at load: compile the decode step before the first visitor waits for it.

With a static cache and a compiled decode step, the first generate() at a new cache length or batch size
compiles (tens of seconds for the 7B model) and, on CUDA, records graphs, which belong to the thread that
recorded them. So the warm-up runs a few text-only steps on the model's own decode thread, at the warm cache
length (static_cache.WARM_CACHE_LEN) for one row: the decode step does not depend on the video, only on the
cache's shape. Nothing is warmed when the engine decodes eagerly.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from vs2demo.engine.events import Status

WARM_STEPS = 3  # the first step after the prefill compiles, the next ones replay


def warm_up(engine: Any) -> Generator[Status, None, None]:
    """Compile (and record) the decode step of ``engine`` (an HFEngine), telling its status while it runs."""
    settings = engine.decode_settings
    if not (settings.static and settings.compiled):
        return
    yield Status("Compiling the decode step (once per loaded model; later runs replay it)…")
    start = time.perf_counter()
    engine.decode_thread.submit(_generate_a_few_tokens, engine).result()
    yield Status(f"Compiled the decode step in {time.perf_counter() - start:.1f} s")


def _generate_a_few_tokens(engine: Any) -> None:
    import torch

    enc = engine.tokenizer(["warm up"], return_tensors="pt")
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
              "mm_token_type_ids": torch.zeros_like(enc["input_ids"])}
    inputs = {k: v.to(engine.model.device) for k, v in inputs.items()}
    prompt = int(inputs["input_ids"].shape[1])
    kwargs = engine.decode_settings.generate_kwargs(prompt, max(WARM_STEPS, engine.decode_settings.warm_cache_len
                                                                - prompt))
    with engine.lock, torch.inference_mode():
        engine.model.generate(**inputs, do_sample=False, max_new_tokens=WARM_STEPS, min_new_tokens=WARM_STEPS,
                              use_cache=True, **kwargs)
