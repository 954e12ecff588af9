"""Teacher-forced re-scoring: how likely the model finds a finished output, token by token, under changed evidence.

One forward pass per batch of variants, no sampling. Each variant is the same clip (or its pixels with some
temporal groups hidden), a prompt, and a sequence of generated ids fed back as they are. From each pass come
only the numbers the evidence work needs: the log-probability of every generated token and p("1") … p("5") at
the score digits, each twice:
- *processed*: from the scores exactly as generate() processed them (the processors generate() builds from the same
  generation config: repetition penalty, temperature, top-k, top-p, …), floored at LOGPROB_FLOOR. These give back
  the official soft scores (the consistency check);
- *raw*: the model's own log-softmax at temperature 1, no top-k, top-p or penalty, no floor. Sensitivities use
  these: processed probabilities saturate (a top digit past ~0.88 raw becomes 1.0, a token outside top-k sits at
  the floor in every variant), which hides every change beyond that point.

Full-vocabulary logits are never kept for every position: the language-model head runs on a few positions at a
time and only the gathered values survive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vs2demo.engine.generation import Sampling
from vs2demo.engine.hf_internals import generation_processors
from vs2demo.engine.inputs import PreparedClip, model_inputs

# A token the sampler could not have drawn (outside top-k or top-p) has log p = -inf under the processed scores;
# sums and differences of sentences need finite numbers, so such a token counts as this (p ≈ 1e-13).
LOGPROB_FLOOR = -30.0
POSITIONS_PER_HEAD_CALL = 64  # positions sent through the vocabulary-sized head at once (bounds its memory)


@dataclass(frozen=True, eq=False)
class Variant:
    """One re-scoring input: the clip's video tensors (possibly altered), a prompt and the ids to feed back.
    ``video_features``, when given, are the vision tower's merged tokens for these pixels, computed beforehand (the
    evidence work splices them per temporal group): the tower does not run again for this variant."""

    pixel_values_videos: Any
    prompt: str
    gen_ids: tuple[int, ...]
    digit_steps: tuple[int | None, ...]  # per dimension, the index in gen_ids whose p(1..5) is read
    want_tokens: bool = True  # token log-probabilities wanted (not only the digits)
    video_features: Any = None


@dataclass(frozen=True)
class Rescored:
    token_logprobs: tuple[float, ...]  # processed, one per generated id (floored at LOGPROB_FLOOR); empty if not wanted
    digit_logprobs: tuple[tuple[float, ...] | None, ...]  # processed, per dimension, log p("1") … log p("5")
    token_raw: tuple[float, ...] = ()  # raw (temperature 1, nothing warped, no floor), like token_logprobs
    digit_raw: tuple[tuple[float, ...] | None, ...] = ()  # raw, like digit_logprobs


def rescore(model: Any, processor: Any, clip: PreparedClip, variants: Sequence[Variant], sampling: Sampling,
            digit_ids: list[int]) -> list[Rescored]:
    """Re-score every variant in one forward pass (the caller chunks variants to fit memory)."""
    import torch

    prompts = {p: _prompt_ids(processor, clip, p) for p in {v.prompt for v in variants}}  # once per prompt
    rows = [(prompts[v.prompt] + list(v.gen_ids), len(prompts[v.prompt])) for v in variants]
    batch = _batch(processor, clip, rows, variants, model)
    with torch.inference_mode():
        hidden = model.model(**batch, use_cache=False).last_hidden_state
        return [_gather(model, hidden[i], ids, start, v, sampling, digit_ids)
                for i, ((ids, start), v) in enumerate(zip(rows, variants))]


def _prompt_ids(processor: Any, clip: PreparedClip, prompt: str) -> list[int]:
    """The prompt's ids with the clip's video placeholders: each row is these, then its generated ids."""
    return model_inputs(processor, [clip], [prompt], allow_empty=True)["input_ids"][0].tolist()


def _batch(processor: Any, clip: PreparedClip, rows: list[tuple[list[int], int]], variants: Sequence[Variant],
           model: Any) -> dict[str, Any]:
    """Rows padded on the right: with causal attention the padding after a row changes nothing before it."""
    import torch

    pad = processor.tokenizer.pad_token_id or 0
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, _) in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    n = len(rows)
    device = model.device
    batch = {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "mm_token_type_ids": torch.tensor(processor.create_mm_token_type_ids(ids.tolist())).to(device),
        "video_grid_thw": clip.video_inputs["video_grid_thw"].repeat(n, 1).to(device),
        "second_per_grid_ts": clip.video_inputs["second_per_grid_ts"].repeat(n).to(device),
    }
    if all(v.video_features is not None for v in variants):
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        # transformers' own entry for precomputed encoder outputs: spliced at the video placeholders as computed
        features = [v.video_features.to(device, model.dtype) for v in variants]
        batch["mm_encoder_outputs"] = {"video": BaseModelOutputWithPooling(pooler_output=features)}
    else:
        batch["pixel_values_videos"] = torch.cat([v.pixel_values_videos for v in variants]).to(device, model.dtype)
    return batch


def processors_for(model: Any, sampling: Sampling, prompt_ids: Any) -> Any:
    """The logits processors generate() builds for this request and prompt, in its order (ours excluded)."""
    return generation_processors(model, sampling.generate_kwargs(), prompt_ids)


def _gather(model: Any, hidden: Any, ids: list[int], start: int, variant: Variant, sampling: Sampling,
            digit_ids: list[int]) -> Rescored:
    """Per generated position: the processed and the raw log-softmax at the fed-back id, and at the digits' steps."""
    import torch

    full = torch.tensor([ids], device=hidden.device)
    processors = processors_for(model, sampling, full[:, :start])
    steps = {s: d for d, s in enumerate(variant.digit_steps) if s is not None}
    wanted = range(len(variant.gen_ids)) if variant.want_tokens else sorted(steps)
    tokens: list[float] = []
    raw_tokens: list[float] = []
    digits: list[tuple[float, ...] | None] = [None] * len(variant.digit_steps)
    raw_digits: list[tuple[float, ...] | None] = [None] * len(variant.digit_steps)
    wanted = list(wanted)
    for lo in range(0, len(wanted), POSITIONS_PER_HEAD_CALL):
        part = wanted[lo:lo + POSITIONS_PER_HEAD_CALL]
        # hidden state at position start+i-1 predicts generated token i (the official step i)
        logits = model.lm_head(hidden[[start + i - 1 for i in part]]).float()  # generate() samples from float32
        raw = torch.log_softmax(logits, dim=-1)
        for row, i in enumerate(part):
            scores = processors(full[:, :start + i], logits[row:row + 1].clone())  # processors may edit in place
            logp = torch.log_softmax(scores, dim=-1)[0]
            if variant.want_tokens:
                tokens.append(max(LOGPROB_FLOOR, float(logp[variant.gen_ids[i]])))
                raw_tokens.append(float(raw[row, variant.gen_ids[i]]))
            if i in steps:
                for d in (d for d, s in enumerate(variant.digit_steps) if s == i):
                    digits[d] = tuple(float(logp[t]) for t in digit_ids)
                    raw_digits[d] = tuple(float(raw[row, t]) for t in digit_ids)
    return Rescored(tuple(tokens), tuple(digits), tuple(raw_tokens), tuple(raw_digits))
