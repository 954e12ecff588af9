"""Explain a finished result (an extra, after the official run, never changing it): three quantities, named apart.

- *Direct effect* and *grounding*, teacher-forced over the result's own generated ids (one forward pass each, the
  scorer seam in scorer.py): the unaltered pass (its processed digits must give back the probabilities recorded
  while generating: the check); each segment of seconds hidden, by two fills of different kinds (the mean colour
  and frozen neighbours: no fill is neutral, so where they disagree nothing is established); the whole clip
  hidden; the prompt emptied and replaced; each reasoning sentence removed; a constant clip of the same length,
  unaltered and with each segment hidden (the noise floor); the cumulative hidden sets of the deletion and insertion
  curves (faithfulness.py). Sensitivities use raw log-probabilities.
- *Total effect*, re-generated with K paired seeds (the result's seeds s…s+K−1, with and without): the whole clip
  hidden, the top seconds by grounding, the seconds asked for, and the sanity probes (frames reversed, shuffled,
  an unrelated prompt). See total_effect.py.

Passes and re-generations run in memory-sized chunks, each under the model's lock, with progress between chunks
and a stop flag checked there. Every distinct pass runs once (variants that coincide are measured once).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from vs2demo.analysis.result import Result
from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.core.errors import InputError
from vs2demo.core.options import draw_seed, sample_seed
from vs2demo.engine.rescore import Rescored
from vs2demo.evidence import floor as floors
from vs2demo.evidence.faithfulness import assess, needed_sets, random_orders
from vs2demo.evidence.model_scorer import ModelScorer
from vs2demo.evidence.options import (
    MAX_FAITHFULNESS_SEGMENTS,
    MAX_SEGMENTS_LIMIT,
    ExplainOptions,
    ExplainProgress,
    Stopped,
    cost,
)
from vs2demo.evidence.record import (
    DEFAULT_MAX_SENTENCES,
    Explanation,
    Probe,
    ProbeKind,
    SampleSpread,
    Segment,
    Sentence,
    Unaltered,
    drop_per_token,
    shift,
    span_drop,
    split_frames,
    split_segments,
    split_sentences,
)
from vs2demo.evidence.scorer import Base, Fill, Pass, Scorer, Session, Visual
from vs2demo.evidence.total_effect import Condition, Draw, TotalEffect, compare


def explain(source: Any, result: Result, options: ExplainOptions | None = None,
            progress: Callable[[ExplainProgress], None] | None = None, stop: threading.Event | None = None,
            samples: Sequence[Result] = ()) -> Explanation:
    """The whole explanation at once (the CLI's and tests' entry), telling ``progress`` as chunks finish."""
    stream = explain_stream(source, result, options, stop, samples)
    while True:
        try:
            step = next(stream)
        except StopIteration as done:
            return done.value
        if progress is not None:
            progress(step)


@dataclass
class _Runner:
    """Runs passes in chunks (each distinct pass once), counting progress and honouring the stop flag."""

    session: Session
    stop: threading.Event
    total: int
    done: int = 0
    cache: dict[Any, Rescored] = field(default_factory=dict)

    def run(self, passes: Sequence[Pass]) -> Generator[ExplainProgress, None, list[Rescored]]:
        todo = list(dict.fromkeys(p for p in passes if _key(p) not in self.cache))
        self.total = max(self.total, self.done + len(todo))
        size = self.session.chunk_size(max(1, len(todo)), generating=False)
        for lo in range(0, len(todo), size):
            if self.stop.is_set():
                raise Stopped("Explanation stopped: nothing was kept (the scores above are unchanged).")
            part = todo[lo:lo + size]
            for p, r in zip(part, self.session.rescore(part)):
                self.cache[_key(p)] = r
            self.done += len(part)
            yield ExplainProgress(self.done, self.total)
        return [self.cache[_key(p)] for p in passes]


def _key(p: Pass) -> tuple:
    return p.visual, p.prompt, p.ids, p.digit_steps, p.want_tokens


def explain_stream(source: Any, result: Result, options: ExplainOptions | None = None,
                   stop: threading.Event | None = None, samples: Sequence[Result] = ()
                   ) -> Generator[ExplainProgress, None, Explanation]:
    """Measure, yielding progress; return the explanation. ``source``: an evaluator, or any ``Scorer``."""
    options = options or ExplainOptions()
    stop = stop or threading.Event()
    if result.stopped or not result.token_ids:
        raise InputError("Nothing to explain: this run was stopped before it finished.")
    start = time.perf_counter()
    scorer: Scorer = source if isinstance(source, Scorer) else ModelScorer(source)
    session = scorer.open(result)
    sub = session.subject
    segments = _segments(result, sub.groups, sub.frames, options)
    # the seconds asked for, as segments now: one past the clip's end is refused before any pass runs
    picked = [_segment_at(segments, t) for t in options.picked] if options.resamples else []
    sentences = split_sentences(result.raw_output, sub.char_end, options.max_sentences)
    others = [s for s in samples[1:] if not s.stopped and s.token_ids] if options.every_sample else []
    plan = cost(len(segments), len(sentences), options, 1 + len(others))
    runner = _Runner(session, stop, plan.passes)
    yield ExplainProgress(0, plan.passes)
    m = yield from _measure(runner, sub.frames, result, sub.ids, sub.digit_steps, segments, sentences, options)
    spread = None
    if others:
        rows = [_cells(m)]
        for other in others:
            osession = scorer.open(other)
            orunner = _Runner(osession, stop, runner.total, runner.done)
            rows.append((yield from _sample_cells(orunner, other, osession.subject, segments)))
            runner.done, runner.total = orunner.done, orunner.total
        spread = _spread(rows, len(segments))
    faith = yield from _faithfulness(runner, m, segments, options)
    total, generations = yield from _total_effects(session, stop, result, m, segments, picked, options)
    return _assemble(result, m, segments, sentences, total, spread, faith,
                     passes=runner.done, generations=generations, seconds=time.perf_counter() - start)


def _segments(result: Result, groups: int, frames: int, options: ExplainOptions) -> tuple[Segment, ...]:
    if not options.per_frame:
        return split_segments(result.plan, groups, options.max_segments)
    if frames > options.max_segments:
        raise InputError(f"Per-frame resolution measures each of this clip's {frames} sampled frames, more than "
                         f"the {options.max_segments} segments allowed: raise segments (up to {MAX_SEGMENTS_LIMIT}) "
                         "or explain a shorter clip.")
    return split_frames(result.plan)


# ---- the teacher-forced measurements ------------------------------------------------------------


@dataclass(frozen=True)
class _Measured:
    base: Rescored
    probes: dict[ProbeKind, Rescored]
    mean: list[Rescored]
    frozen: list[Rescored]
    constant: Rescored
    constant_hidden: list[Rescored]
    removed: list[Rescored]
    prompts: dict[ProbeKind, str]
    reasoning: tuple[int, int]
    ids: tuple[int, ...]
    steps: tuple[int | None, ...]
    frames: int


def hide(segments: Sequence[Segment], chosen: Sequence[int], base: Base = Base.CLIP,
         fill: Fill = Fill.MEAN_COLOUR) -> Visual:
    """The visual with the chosen segments hidden; adjacent spans merge, so equal hidden frames are equal visuals."""
    spans: list[tuple[int, int]] = []
    for a, b in sorted(segments[i].frames for i in set(chosen)):
        if spans and spans[-1][1] == a:
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return Visual(base, tuple(spans), fill)


def _measure(runner: _Runner, frames: int, result: Result, ids: tuple[int, ...], steps: tuple[int | None, ...],
             segments: Sequence[Segment], sentences: Sequence[Sentence], options: ExplainOptions
             ) -> Generator[ExplainProgress, None, _Measured]:
    prompt = result.prompt
    everything = hide(segments, range(len(segments)))
    probes = {ProbeKind.CLIP_HIDDEN: Pass(everything, prompt, ids, steps),
              ProbeKind.EMPTY_PROMPT: Pass(Visual(), "", ids, steps),
              ProbeKind.OTHER_PROMPT: Pass(Visual(), options.counterfactual, ids, steps)}
    n = len(segments)
    groups = {
        "base": [Pass(Visual(), prompt, ids, steps)],
        "probes": list(probes.values()),
        "mean": [Pass(hide(segments, [i]), prompt, ids, steps) for i in range(n)],
        "frozen": [Pass(hide(segments, [i], fill=Fill.FROZEN), prompt, ids, steps) for i in range(n)],
        "constant": [Pass(Visual(Base.CONSTANT), prompt, ids, steps)],
        "constant_hidden": [Pass(hide(segments, [i], Base.CONSTANT), prompt, ids, steps) for i in range(n)],
        "removed": [without_sentence(s, ids, steps, prompt) for s in sentences],
    }
    flat = [p for g in groups.values() for p in g]
    out = yield from runner.run(flat)
    got: dict[str, list[Rescored]] = {}
    at = 0
    for name, g in groups.items():
        got[name], at = out[at:at + len(g)], at + len(g)
    reasoning = (sentences[0].tokens[0], sentences[-1].tokens[1]) if sentences else (0, len(ids))
    return _Measured(got["base"][0], dict(zip(probes, got["probes"])), got["mean"], got["frozen"],
                     got["constant"][0], got["constant_hidden"], got["removed"],
                     {ProbeKind.CLIP_HIDDEN: prompt, ProbeKind.EMPTY_PROMPT: "",
                      ProbeKind.OTHER_PROMPT: options.counterfactual}, reasoning, ids, steps, frames)


def without_sentence(sentence: Sentence, ids: tuple[int, ...], steps: tuple[int | None, ...], prompt: str) -> Pass:
    """The output with one sentence's tokens cut; the score digits move back by as many tokens."""
    a, b = sentence.tokens
    moved = tuple(None if s is None else (s - (b - a) if s >= b else s) for s in steps)
    return Pass(Visual(), prompt, ids[:a] + ids[b:], moved, want_tokens=False)


def _direct(changed: Rescored, base: Rescored, hards: Sequence[int | None]) -> tuple[Any, ...]:
    return tuple(shift(c, b, h) for c, b, h in zip(changed.digit_raw, base.digit_raw, hards))


def _hards(result: Result) -> list[int | None]:
    return [s.hard for s in result.scores]


def _cells(m: _Measured, hards: Sequence[int | None] | None = None) -> tuple[list[list[float | None]], list[float]]:
    """One sample's per-segment cells: [dimension][segment] direct effect (expected score), [segment] grounding."""
    hards = hards if hards is not None else [None] * len(DIMENSIONS)
    direct = [[_direct(r, m.base, hards)[d].expected_delta for r in m.mean] for d in range(len(DIMENSIONS))]
    return direct, [drop_per_token(m.base.token_raw, r.token_raw, m.reasoning) for r in m.mean]


def _sample_cells(runner: _Runner, result: Result, sub: Any, segments: Sequence[Segment]
                  ) -> Generator[ExplainProgress, None, tuple[list[list[float | None]], list[float]]]:
    """Another sample of the same clip: its own reasoning re-scored with each segment hidden (mean colour)."""
    ids, steps, prompt = sub.ids, sub.digit_steps, result.prompt
    passes = [Pass(Visual(), prompt, ids, steps)] + [Pass(hide(segments, [i]), prompt, ids, steps)
                                                      for i in range(len(segments))]
    out = yield from runner.run(passes)
    sentences = split_sentences(result.raw_output, sub.char_end, DEFAULT_MAX_SENTENCES)
    reasoning = (sentences[0].tokens[0], sentences[-1].tokens[1]) if sentences else (0, len(ids))
    base = out[0]
    direct = [[_direct(r, base, [None] * len(DIMENSIONS))[d].expected_delta for r in out[1:]]
              for d in range(len(DIMENSIONS))]
    return direct, [drop_per_token(base.token_raw, r.token_raw, reasoning) for r in out[1:]]


def _spread(rows: Sequence[tuple[list[list[float | None]], list[float]]], n: int) -> SampleSpread:
    direct = tuple(tuple(floors.spread_of([r[0][d][i] for r in rows]) for i in range(n))
                   for d in range(len(DIMENSIONS)))
    grounding = tuple(floors.spread_of([r[1][i] for r in rows]) for i in range(n))
    return SampleSpread(len(rows), direct, grounding)


# ---- faithfulness and total effects -------------------------------------------------------------


def _faithfulness(runner: _Runner, m: _Measured, segments: Sequence[Segment], options: ExplainOptions
                  ) -> Generator[ExplainProgress, None, Any]:
    """The reasoning-grounding ranking's deletion and insertion curves against random orders (their hidden sets
    are measured once each; at most 2ⁿ, so only up to MAX_FAITHFULNESS_SEGMENTS segments)."""
    n = len(segments)
    if not options.random_orders or not 2 <= n <= MAX_FAITHFULNESS_SEGMENTS:
        return None
    singles = [drop_per_token(m.base.token_raw, r.token_raw, m.reasoning) for r in m.mean]
    order = tuple(sorted(range(n), key=lambda i: -singles[i]))
    orders = random_orders(n, options.random_orders)
    sets = needed_sets(order, orders)
    passes = {s: Pass(hide(segments, sorted(s)), m.prompts[ProbeKind.CLIP_HIDDEN], m.ids, m.steps) for s in sets
              if s}
    done = yield from runner.run(list(passes.values()))
    drops = {s: drop_per_token(m.base.token_raw, r.token_raw, m.reasoning) for s, r in zip(passes, done)}
    drops[frozenset()] = 0.0
    noise = floors.floor_of([drop_per_token(m.constant.token_raw, r.token_raw, m.reasoning) for r in m.constant_hidden],
                            floors.MIN_NATS_PER_TOKEN)
    return assess(order, drops.__getitem__, orders, singles, tolerance=noise)  # areas within the floor: ties


def _seeds(result: Result, k: int) -> tuple[int, ...]:
    """The result's own seeds s…s+K−1 (an unseeded result: a drawn s, recorded), so the pairs are paired."""
    base = result.options.seed if result.options.seed is not None else draw_seed()
    return tuple(sample_seed(base, i) for i in range(k))


def _total_effects(session: Session, stop: threading.Event, result: Result, m: _Measured,
                   segments: Sequence[Segment], picked: Sequence[int], options: ExplainOptions
                   ) -> Generator[ExplainProgress, None, tuple[tuple[TotalEffect, ...], int]]:
    k = options.resamples
    if not k:
        return (), 0
    seeds = _seeds(result, k)
    prompt = result.prompt
    grounding = [drop_per_token(m.base.token_raw, r.token_raw, m.reasoning) for r in m.mean]
    top = sorted(range(len(segments)), key=lambda i: -grounding[i])[:options.top_seconds]
    wanted: list[tuple[Condition, tuple[int, ...], str, Visual, str]] = [
        (Condition.CLIP_HIDDEN, (), "whole clip", hide(segments, range(len(segments))), prompt)]
    # a second asked for that is also among the top is measured once, and says it was asked for
    wanted += [(Condition.SEGMENTS_HIDDEN, (i,), "top by grounding" + ("; asked for" if i in picked else ""),
                hide(segments, [i]), prompt) for i in top]
    wanted += [(Condition.SEGMENTS_HIDDEN, (i,), "picked", hide(segments, [i]), prompt)
               for i in dict.fromkeys(picked) if i not in top]
    if options.sanity:
        wanted += [(Condition.REVERSED, (), "sanity probe", Visual(Base.REVERSED), prompt),
                   (Condition.SHUFFLED, (), "sanity probe", Visual(Base.SHUFFLED), prompt),
                   (Condition.OTHER_PROMPT, (), "sanity probe", Visual(), options.counterfactual)]
    conditions = [(Visual(), prompt)] + [(w[3], w[4]) for w in wanted]
    draws: list[list[Draw]] = []
    total = len(conditions) * k
    size = session.chunk_size(len(conditions), generating=True, rows_each=k)
    yield ExplainProgress(0, total, "re-generating")
    for lo in range(0, len(conditions), size):
        if stop.is_set():
            raise Stopped("Explanation stopped: nothing was kept (the scores above are unchanged).")
        draws += session.regenerate(conditions[lo:lo + size], seeds, stop)
        if stop.is_set():
            raise Stopped("Explanation stopped: nothing was kept (the scores above are unchanged).")
        yield ExplainProgress(len(draws) * k, total, "re-generating")
    base = draws[0]
    return tuple(TotalEffect(c, segs, why, p, seeds, compare(base, d))
                 for (c, segs, why, _, p), d in zip(wanted, draws[1:])), total


def _segment_at(segments: Sequence[Segment], t: float) -> int:
    """The segment showing second ``t`` (InputError past the clip's end)."""
    for s in segments:
        if t < s.end_s:
            return s.index
    raise InputError(f"{t:g} s is past the clip's end ({segments[-1].end_s:.1f} s): pick a second inside it.")


# ---- assembly ------------------------------------------------------------------------------------


def _assemble(result: Result, m: _Measured, segments: Sequence[Segment], sentences: Sequence[Sentence],
              total: tuple[TotalEffect, ...], spread: SampleSpread | None, faith: Any, passes: int, generations: int,
              seconds: float) -> Explanation:
    hards = _hards(result)
    base = m.base
    nd = len(DIMENSIONS)

    def direct_rows(rows: Sequence[Rescored]) -> tuple[tuple[Any, ...], ...]:
        per = [_direct(r, base, hards) for r in rows]
        return tuple(tuple(p[d] for p in per) for d in range(nd))

    constant = [_direct(r, m.constant, hards) for r in m.constant_hidden]
    direct_floor = tuple(floors.floor_of([c[d].expected_delta for c in constant], floors.MIN_SCORE_POINTS)
                         for d in range(nd))
    per_token = [drop_per_token(m.constant.token_raw, r.token_raw, m.reasoning) for r in m.constant_hidden]

    def probe(kind: ProbeKind, changed: Rescored) -> Probe:
        drop = span_drop(base.token_raw, changed.token_raw, m.reasoning)
        n = max(1, m.reasoning[1] - m.reasoning[0])
        return Probe(kind, kind.title, m.prompts[kind], _direct(changed, base, hards), drop, round(drop / n, 4))

    recorded = [(b, s.probs) for b, s in zip(base.digit_logprobs, result.scores) if b is not None and s.probs]
    consistency = max((abs(math.exp(x) - p) for b, probs in recorded for x, p in zip(b, probs)), default=None)
    unaltered_shift = [shift(b, b, h) for b, h in zip(base.digit_raw, hards)]
    return Explanation(
        segments=tuple(segments), sentences=tuple(sentences),
        direct=direct_rows(m.mean), direct_frozen=direct_rows(m.frozen), direct_floor=direct_floor,
        reasoning_grounding=tuple(drop_per_token(base.token_raw, r.token_raw, m.reasoning) for r in m.mean),
        reasoning_grounding_frozen=tuple(drop_per_token(base.token_raw, r.token_raw, m.reasoning) for r in m.frozen),
        reasoning_floor=floors.floor_of(per_token, floors.MIN_NATS_PER_TOKEN),
        grounding=tuple(tuple(drop_per_token(base.token_raw, r.token_raw, s.tokens) for r in m.mean)
                        for s in sentences),
        grounding_floor=tuple(floors.floor_of([drop_per_token(m.constant.token_raw, r.token_raw, s.tokens)
                                               for r in m.constant_hidden], floors.MIN_NATS_PER_TOKEN)
                              for s in sentences),
        removals=tuple(_direct(r, base, hards) for r in m.removed),
        probes=tuple(probe(kind, done) for kind, done in m.probes.items()),
        total=total,
        base_expected=tuple(s.expected for s in unaltered_shift),
        base_log_odds=tuple(s.log_odds for s in unaltered_shift),
        unaltered=Unaltered(base.digit_logprobs, base.digit_raw,
                            round(sum(base.token_logprobs[m.reasoning[0]:m.reasoning[1]]), 4),
                            round(sum(base.token_raw[m.reasoning[0]:m.reasoning[1]]), 4)),
        consistency_max_diff=None if consistency is None else float(f"{consistency:.3g}"),
        passes=passes, generations=generations, seconds=round(seconds, 3), spread=spread, faithfulness=faith)
