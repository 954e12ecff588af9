"""The authors' procedure (vs2_inference.py), reproduced as the reference for parity tests and the benchmark.

Not used by the app. It keeps what makes the official script costly on purpose: every step's
full-vocabulary scores, and re-decoding growing prefixes to find each score's token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from vs2demo.analysis.parse import parse_official
from vs2demo.core.dimensions import DIMENSIONS, SCORE_VALUES
from vs2demo.core.options import OFFICIAL_DECODE
from vs2demo.input.prompt import messages


def official_inputs(processor: Any, video: str, prompt: str, fps: float = 2.0) -> Any:
    """qwen_vl_utils.process_vision_info + the processor, called as the official script calls them."""
    from qwen_vl_utils import process_vision_info

    chat = messages(prompt, video, fps)
    text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    images, videos = process_vision_info(chat)
    return processor(text=[text], images=images, videos=videos, fps=fps, padding=True, return_tensors="pt")


def official_frame_geometry(total: int, native_fps: float, height: int, width: int, fps: float = 2.0
                            ) -> tuple[int, int, int]:
    """(frames, resized height, resized width) as qwen-vl-utils 0.0.14 computes them, independently of our maths."""
    from qwen_vl_utils import vision_process as qv

    n = qv.smart_nframes({"fps": fps}, total_frames=total, video_fps=native_fps)
    min_px = qv.VIDEO_MIN_TOKEN_NUM * 28 * 28
    total_px = qv.MODEL_SEQ_LEN * 28 * 28 * 0.9
    max_px = max(min(qv.VIDEO_MAX_TOKEN_NUM * 28 * 28, total_px / n * qv.FRAME_FACTOR), int(min_px * 1.05))
    h, w = qv.smart_resize(height, width, factor=28, min_pixels=min_px, max_pixels=max_px)
    return n, h, w


@dataclass(frozen=True)
class OfficialOutput:
    text: str
    token_ids: tuple[int, ...]
    hard: tuple[int, ...] | None
    soft: tuple[float | None, ...]
    probs: tuple[tuple[float, ...] | None, ...]  # p("1") … p("5") at each soft score's step


def official_generate(model: Any, processor: Any, inputs: Any, *, seed: int | None, max_new_tokens: int = 1024,
                      temperature: float = 0.7, greedy: bool = False, min_new_tokens: int | None = None,
                      use_cache: bool = True) -> tuple[OfficialOutput, Any]:
    """generate(output_scores=True, return_dict_in_generate=True), then the official parse and soft score."""
    import torch

    if seed is not None:
        torch.manual_seed(seed)
    sampling = {"do_sample": False} if greedy else {"do_sample": True, "temperature": temperature}
    with torch.inference_mode():
        out = model.generate(**inputs, **sampling, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                             use_cache=use_cache,
                             output_scores=True, return_dict_in_generate=True)
    ids = out.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    text = processor.tokenizer.decode(ids, **OFFICIAL_DECODE)
    hard = parse_official(text)
    soft = official_soft_scores(out.scores, ids, processor.tokenizer, parsed=hard is not None)
    return OfficialOutput(text, tuple(ids), hard, tuple(s for s, _ in soft), tuple(p for _, p in soft)), out.scores


def official_soft_scores(scores: Any, ids: list[int], tokenizer: Any, parsed: bool = True
                         ) -> tuple[tuple[float | None, tuple[float, ...] | None], ...]:
    """Per dimension (soft score, p(1..5)) as vs2_inference.py computes them from generate()'s scores.

    Decode the ids with special tokens kept; find the label case-insensitively (optionally after "(n)" or a
    newline), then the first digit after it; the step is the first whose decoded prefix equals the text up to
    that digit. ``parsed`` is whether the official hard parse matched: without it the soft score is None.
    """
    digit_ids = [tokenizer.encode(str(s), add_special_tokens=False)[0] for s in SCORE_VALUES]
    text = tokenizer.decode(ids, skip_special_tokens=False)
    out: list[tuple[float | None, tuple[float, ...] | None]] = []
    for d in DIMENSIONS:
        step = _official_step(tokenizer, ids, text, d.label + ":")
        out.append(official_soft_at(scores[step][0], digit_ids) if parsed and step is not None else (None, None))
    return tuple(out)


def official_soft_at(step_scores: Any, digit_ids: list[int]) -> tuple[float, tuple[float, ...]]:
    """One step's official soft score from its processed scores (one row): log_softmax over the vocabulary,
    each digit's log-probability taken out with ``.item()`` and exponentiated by numpy in float64, Python sums,
    the first maximum, round(best × p(best) / Σ p, 4) (0 when Σ p is 0)."""
    import numpy as np
    import torch

    logp = torch.log_softmax(step_scores, dim=-1)
    probs = [float(np.exp(logp[i].item())) for i in digit_ids]
    total = sum(probs)
    best_p = max(probs)
    return round(SCORE_VALUES[probs.index(best_p)] * (best_p / total if total > 0 else 0), 4), tuple(probs)


def _official_step(tokenizer: Any, ids: list[int], text: str, label: str) -> int | None:
    found = re.search(r"(?:\(\d+\)\s*|\n\s*)?" + re.escape(label), text, flags=re.IGNORECASE)
    digit = re.search(r"\d", text[found.end():]) if found else None
    if digit is None:
        return None
    target = text[:found.end() + digit.start() + 1]
    for i in range(len(ids)):  # growing prefixes, as the official script does (quadratic on purpose)
        if tokenizer.decode(ids[: i + 1], skip_special_tokens=False) == target:
            return i
    return None
