"""Explain a finished result (an extra, after the official run, never changing it): which seconds and which
sentences each score rests on, measured by re-scoring the same output with parts of the evidence hidden.

Variants, all teacher-forced over the result's own generated ids (rescore.py):
- the unaltered pass (its digits must give back the probabilities recorded while generating: the check);
- each segment of seconds hidden, and the whole clip hidden, by the processor's own neutral colour, so the number
  of visual tokens and every position stay as they were;
- the prompt emptied, and replaced by a counterfactual one;
- each reasoning sentence removed (its tokens cut, the rest unchanged; digits only).
Everything model-side goes through the engine's interface (engine/interface.py); its passes run one at a
time under the engine's lock, so a visitor's run waits at most one pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from vs2demo.analysis.parse import parse_scores
from vs2demo.analysis.result import Result
from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.core.errors import InputError
from vs2demo.engine.batching import chunks
from vs2demo.engine.evaluator import Evaluator
from vs2demo.engine.generation import RowDecoder, Sampling, official_digit_steps
from vs2demo.engine.inputs import PreparedClip
from vs2demo.engine.interface import Engine
from vs2demo.engine.rescore import Rescored, Variant
from vs2demo.evidence.record import (
    DEFAULT_COUNTERFACTUAL,
    DEFAULT_MAX_SEGMENTS,
    DEFAULT_MAX_SENTENCES,
    Explanation,
    Probe,
    ProbeKind,
    Sentence,
    shift,
    span_drop,
    split_segments,
    split_sentences,
)
from vs2demo.input.prompt import validate_prompt

MAX_SEGMENTS_LIMIT = 64
MAX_SENTENCES_LIMIT = 32


@dataclass(frozen=True)
class ExplainOptions:
    max_segments: int = DEFAULT_MAX_SEGMENTS
    max_sentences: int = DEFAULT_MAX_SENTENCES
    counterfactual: str = DEFAULT_COUNTERFACTUAL

    def __post_init__(self) -> None:
        if not 1 <= self.max_segments <= MAX_SEGMENTS_LIMIT:
            raise ValueError(f"segments must be between 1 and {MAX_SEGMENTS_LIMIT}, got {self.max_segments}")
        if not 1 <= self.max_sentences <= MAX_SENTENCES_LIMIT:
            raise ValueError(f"sentences must be between 1 and {MAX_SENTENCES_LIMIT}, got {self.max_sentences}")
        if not self.counterfactual.strip():
            raise ValueError("the counterfactual prompt is empty (the empty prompt is probed anyway)")
        validate_prompt(self.counterfactual)  # the same rules as any prompt: InputError if broken


class Role(Enum):
    """What a re-scoring variant stands for; the explanation reads each pass back by its role, never by position."""

    UNALTERED = "unaltered"
    PROBE = "probe"
    SEGMENT_HIDDEN = "segment hidden"
    SENTENCE_REMOVED = "sentence removed"


@dataclass(frozen=True)
class Tagged:
    role: Role
    variant: Variant
    probe: ProbeKind | None = None


@dataclass(frozen=True)
class ExplainProgress:
    done: int
    total: int

    @property
    def message(self) -> str:
        return f"Explaining: re-scoring {self.done} of {self.total} variants…"


def explain(evaluator: Evaluator, result: Result, options: ExplainOptions | None = None,
            progress: Callable[[ExplainProgress], None] | None = None) -> Explanation:
    """The whole explanation at once (the CLI's and tests' entry), telling ``progress`` as passes finish."""
    stream = explain_stream(evaluator, result, options)
    while True:
        try:
            step = next(stream)
        except StopIteration as done:
            return done.value
        if progress is not None:
            progress(step)


def explain_stream(evaluator: Evaluator, result: Result, options: ExplainOptions | None = None
                   ) -> Generator[ExplainProgress, None, Explanation]:
    """Re-score the variants in memory-sized chunks, yielding progress; return the explanation."""
    options = options or ExplainOptions()
    if result.stopped or not result.token_ids:
        raise InputError("Nothing to explain: this run was stopped before it finished.")
    start = time.perf_counter()
    evaluator.load()
    engine: Engine = evaluator.engine
    clip, _ = evaluator.prepare(result.video, result.plan.fps)
    ids = result.token_ids
    decoder = engine.decode(ids)
    steps = _digit_steps(decoder, result.raw_output)
    grid_t = int(clip.video_inputs["video_grid_thw"][0, 0])
    segments = split_segments(result.plan, grid_t, options.max_segments)
    sentences = split_sentences(result.raw_output, decoder.char_end, options.max_sentences)
    pixels = clip.video_inputs["pixel_values_videos"]
    fill = engine.neutral_pixels(clip)
    per_group = pixels.shape[0] // grid_t

    def hidden(groups: tuple[int, int]) -> Any:
        out = pixels.clone()
        out[groups[0] * per_group:groups[1] * per_group] = fill[groups[0] * per_group:groups[1] * per_group]
        return out

    prompt = result.prompt
    probes = {ProbeKind.CLIP_HIDDEN: Variant(fill, prompt, ids, steps),
              ProbeKind.EMPTY_PROMPT: Variant(pixels, "", ids, steps),
              ProbeKind.OTHER_PROMPT: Variant(pixels, options.counterfactual, ids, steps)}
    tagged = [Tagged(Role.UNALTERED, Variant(pixels, prompt, ids, steps))]
    tagged += [Tagged(Role.PROBE, v, kind) for kind, v in probes.items()]
    tagged += [Tagged(Role.SEGMENT_HIDDEN, Variant(hidden(s.groups), prompt, ids, steps)) for s in segments]
    tagged += [Tagged(Role.SENTENCE_REMOVED, _without(s, ids, steps, pixels, prompt)) for s in sentences]
    variants = [t.variant for t in tagged]
    o = result.options
    sampling = Sampling(o.greedy, o.temperature, o.max_new_tokens, o.min_new_tokens)
    size = engine.rows_per_pass(len(variants), clip.frames.plan.visual_tokens, len(ids), rescoring=True)
    parts = chunks(variants, size)
    out: list[Rescored] = []
    yield ExplainProgress(0, len(variants))
    for part in parts:
        out += engine.rescore(clip, part, sampling)  # one pass at a time: a visitor's run waits for one at most
        yield ExplainProgress(len(out), len(variants))
    return _assemble(result, list(zip(tagged, out)), segments, sentences, options, passes=len(parts),
                     seconds=time.perf_counter() - start)


def neutral_pixels(engine: Engine, clip: PreparedClip) -> Any:
    """The clip's pixel rows with every frame replaced by the processor's mean colour (what it normalises to
    zero), from the engine."""
    return engine.neutral_pixels(clip)


def _digit_steps(decoder: RowDecoder, raw: str) -> tuple[int | None, ...]:
    """The official steps of the score digits; where the official search finds none, the parsed digit's token."""
    official = official_digit_steps(decoder.tokenizer, decoder.ids)
    parsed = parse_scores(raw).digit_pos
    return tuple(s if s is not None else (None if p is None else decoder.token_completing(p))
                 for s, p in zip(official, parsed))


def _without(sentence: Sentence, ids: tuple[int, ...], steps: tuple[int | None, ...], pixels: Any,
             prompt: str) -> Variant:
    """The output with one sentence's tokens cut; the score digits move back by as many tokens."""
    a, b = sentence.tokens
    moved = tuple(None if s is None else (s - (b - a) if s >= b else s) for s in steps)
    return Variant(pixels, prompt, ids[:a] + ids[b:], moved, want_tokens=False)


def _assemble(result: Result, out: Sequence[tuple[Tagged, Rescored]], segments: Sequence[Any],
              sentences: Sequence[Sentence], options: ExplainOptions, passes: int, seconds: float) -> Explanation:
    def role(r: Role) -> list[Rescored]:
        return [done for tag, done in out if tag.role is r]

    (base,) = role(Role.UNALTERED)
    probed = {tag.probe: done for tag, done in out if tag.role is Role.PROBE}
    seg_out, rem_out = role(Role.SEGMENT_HIDDEN), role(Role.SENTENCE_REMOVED)
    prompts = {ProbeKind.CLIP_HIDDEN: result.prompt, ProbeKind.EMPTY_PROMPT: "",
               ProbeKind.OTHER_PROMPT: options.counterfactual}
    hards = [s.hard for s in result.scores]
    reasoning = (sentences[0].tokens[0], sentences[-1].tokens[1]) if sentences else (0, 0)

    def shifts(changed: Rescored) -> tuple[Any, ...]:
        return tuple(shift(c, b, h) for c, b, h in zip(changed.digit_logprobs, base.digit_logprobs, hards))

    def probe(kind: ProbeKind, changed: Rescored) -> Probe:
        drop = span_drop(base.token_logprobs, changed.token_logprobs, reasoning)
        n = max(1, reasoning[1] - reasoning[0])
        return Probe(kind, kind.title, prompts[kind], shifts(changed), drop, round(drop / n, 4))

    recorded = [(b, s.probs) for b, s in zip(base.digit_logprobs, result.scores) if b is not None and s.probs]
    consistency = max((abs(math.exp(x) - p) for b, probs in recorded for x, p in zip(b, probs)),
                      default=None)
    return Explanation(
        segments=tuple(segments),
        sentences=tuple(sentences),
        moments=tuple(tuple(shifts(r)[d] for r in seg_out) for d in range(len(DIMENSIONS))),
        grounding=tuple(tuple(span_drop(base.token_logprobs, r.token_logprobs, s.tokens) for r in seg_out)
                        for s in sentences),
        removals=tuple(shifts(r) for r in rem_out),
        probes=tuple(probe(kind, done) for kind, done in probed.items()),
        base_expected=tuple(shift(b, b, h).expected for b, h in zip(base.digit_logprobs, hards)),
        consistency_max_diff=None if consistency is None else float(f"{consistency:.3g}"),
        passes=passes, seconds=round(seconds, 3))
