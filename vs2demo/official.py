"""The authors' procedure (vs2_inference.py), reproduced as the reference for parity tests and the benchmark.

Not used by the app. It keeps what makes the official script costly on purpose: every step's
full-vocabulary scores, and re-decoding growing prefixes to find each score's token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .dimensions import DIMENSIONS, SCORE_VALUES
from .options import OFFICIAL_DECODE
from .parse import parse_official
from .prompt import messages


def official_inputs(processor: Any, video: str, prompt: str, fps: float = 2.0) -> Any:
    """qwen_vl_utils.process_vision_info + the processor, called as the official script calls them."""
    from qwen_vl_utils import process_vision_info

    chat = messages(prompt, video, fps)
    text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    images, videos = process_vision_info(chat)
    return processor(text=[text], images=images, videos=videos, fps=fps, padding=True, return_tensors="pt")


@dataclass(frozen=True)
class OfficialOutput:
    text: str
    token_ids: tuple[int, ...]
    hard: tuple[int, ...] | None
    soft: tuple[float | None, ...]


def official_generate(model: Any, processor: Any, inputs: Any, *, seed: int | None, max_new_tokens: int = 1024,
                      temperature: float = 0.7, greedy: bool = False, min_new_tokens: int | None = None
                      ) -> tuple[OfficialOutput, Any]:
    """generate(output_scores=True, return_dict_in_generate=True), then the official parse and soft score."""
    import torch

    if seed is not None:
        torch.manual_seed(seed)
    sampling = {"do_sample": False} if greedy else {"do_sample": True, "temperature": temperature}
    with torch.inference_mode():
        out = model.generate(**inputs, **sampling, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                             use_cache=True,
                             output_scores=True, return_dict_in_generate=True)
    ids = out.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    text = processor.tokenizer.decode(ids, **OFFICIAL_DECODE)
    soft = official_soft_scores(out.scores, ids, processor.tokenizer)
    return OfficialOutput(text, tuple(ids), parse_official(text), soft), out.scores


def official_soft_scores(scores: Any, ids: list[int], tokenizer: Any) -> tuple[float | None, ...]:
    """Per dimension: the step whose token completes the first digit after the label, found by decoding
    growing prefixes; softmax over the vocabulary there; round(best × p(best) / Σ p(1..5), 4)."""
    import torch

    digit_ids = [tokenizer.convert_tokens_to_ids(str(s)) for s in SCORE_VALUES]
    out: list[float | None] = []
    for d in DIMENSIONS:
        label = d.label + ":"
        step = None
        for i in range(len(ids)):
            prefix = tokenizer.decode(ids[: i + 1], **OFFICIAL_DECODE)
            at = prefix.find(label)
            if at >= 0 and re.search(r"\d", prefix[at + len(label):]):
                step = i
                break
        if step is None:
            out.append(None)
            continue
        probs = torch.softmax(scores[step][0].float(), dim=-1)[digit_ids]
        best = int(torch.argmax(probs))
        out.append(round(float(SCORE_VALUES[best] * probs[best] / probs.sum()), 4))
    return tuple(out)
