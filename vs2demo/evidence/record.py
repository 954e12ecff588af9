"""Evidence for a result (an extra, never the official scores): the clip's seconds and the reasoning's sentences,
and what the re-scoring passes and re-generations measured about them. Pure: segmenting, sentence splitting, score
shifts, the explanation record and its JSON form.

Three quantities, named apart everywhere (page, CLI, JSON, report):
- *direct effect*: how the score moves when evidence is hidden **with the same reasoning** (the reasoning fed back,
  teacher-forced; the score digits read again): ``direct``, ``removals``, the probes' ``shifts``;
- *grounding*: how much less likely the reasoning (a sentence, or the whole) becomes without those seconds, in
  nats per token (a drop of d per token: e^d times less likely per token): ``grounding``, ``reasoning_grounding``;
- *total effect*: what the clip scores without those seconds, re-generated with K paired seeds: ``total``.
Direct effects and grounding are read from raw log-probabilities (temperature 1, nothing warped, no floor); the
processed ones (as generate() sampled) are kept for the consistency check only. All are sensitivities of this
model's output, not facts about the video.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum

from vs2demo.core.dimensions import SCORE_VALUES
from vs2demo.evidence import floor as floors
from vs2demo.evidence.faithfulness import Faithfulness
from vs2demo.evidence.faithfulness import from_dict as faithfulness_from_dict
from vs2demo.evidence.total_effect import TotalEffect
from vs2demo.evidence.total_effect import from_dict as total_from_dict
from vs2demo.input.framing import FRAME_FACTOR, FramePlan

DEFAULT_MAX_SEGMENTS = 16
DEFAULT_MAX_SENTENCES = 12
MIN_SENTENCE_CHARS = 25  # shorter pieces ("Yes.") join their neighbour: too little text to measure alone
DEFAULT_COUNTERFACTUAL = "a bowl of fruit on a wooden kitchen table, still life, no motion"
LABEL = ("Evidence (an extra, not the official scores): sensitivities of this model's output, not facts about "
         "the video")
MEASURE = ("direct effects and grounding from raw log-probabilities (temperature 1, no top-k, top-p or repetition "
           "penalty, no floor); processed probabilities (as generated) only for the consistency check")
CONSISTENT_WITHIN = 1e-3  # the unaltered pass gives back the recorded p(digit) within this, or the check fails
DIRECT_NAME = "direct effect (same reasoning)"
GROUNDING_NAME = "grounding (nats per token the reasoning loses)"
TOTAL_NAME = "total effect (re-generated, paired seeds)"


class ProbeKind(str, Enum):
    """The whole-input changes re-scored teacher-forced; the value is the JSON key, the title what a page says."""

    CLIP_HIDDEN = "clip_hidden"
    EMPTY_PROMPT = "empty_prompt"
    OTHER_PROMPT = "other_prompt"

    @property
    def title(self) -> str:
        return {"clip_hidden": "Whole clip hidden", "empty_prompt": "Empty prompt",
                "other_prompt": "Another prompt"}[self.value]


@dataclass(frozen=True)
class Segment:
    index: int
    groups: tuple[int, int]  # temporal groups [first, last) the segment touches (2 sampled frames each)
    start_s: float
    end_s: float
    frame_span: tuple[int, int] | None = None  # per-frame resolution: the one sampled frame [f, f+1) it hides

    @property
    def frames(self) -> tuple[int, int]:
        """The sampled frames [first, last) the segment covers."""
        return self.frame_span or (self.groups[0] * FRAME_FACTOR, self.groups[1] * FRAME_FACTOR)


@dataclass(frozen=True)
class Sentence:
    index: int
    text: str
    start: int  # character span in the raw output
    end: int
    tokens: tuple[int, int]  # generated-token span [first, last)


@dataclass(frozen=True)
class Shift:
    """One dimension's score under changed evidence against the unaltered pass (a direct effect: same reasoning)."""

    expected: float | None  # Σ s·p(s) / Σ p(s) under the change
    expected_delta: float | None  # … minus the unaltered pass's
    p_hard: float | None  # p(written score) / Σ p under the change
    p_hard_delta: float | None
    log_odds: float | None = None  # log p(written) − log p(any other digit): moves where p_hard saturates
    log_odds_delta: float | None = None


@dataclass(frozen=True)
class Probe:
    """A whole-input change, teacher-forced: the clip hidden, an empty prompt, another prompt."""

    key: ProbeKind
    title: str
    prompt: str
    shifts: tuple[Shift, ...]  # direct effects, one per dimension
    reasoning_drop: float  # grounding: nats the whole reasoning loses
    reasoning_drop_per_token: float


@dataclass(frozen=True)
class Unaltered:
    """The unaltered pass, both ways: processed (as generated; the check) and raw (what sensitivities use)."""

    digits_processed: tuple[tuple[float, ...] | None, ...]  # per dimension, log p("1") … log p("5")
    digits_raw: tuple[tuple[float, ...] | None, ...]
    reasoning_processed: float  # log P(reasoning), floored per token as generate()'s scores allow
    reasoning_raw: float


@dataclass(frozen=True)
class SampleSpread:
    """With K samples, every sample explained: per cell, the median and range across samples."""

    samples: int
    direct: tuple[tuple[floors.Spread | None, ...], ...]  # [dimension][segment], expected-score change
    reasoning_grounding: tuple[floors.Spread | None, ...]  # [segment], nats per token


@dataclass(frozen=True)
class Explanation:
    segments: tuple[Segment, ...]
    sentences: tuple[Sentence, ...]
    direct: tuple[tuple[Shift, ...], ...]  # [dimension][segment]: hidden by the mean colour
    direct_frozen: tuple[tuple[Shift, ...], ...]  # [dimension][segment]: hidden by frozen neighbours
    direct_floor: tuple[float, ...]  # per dimension, expected-score points (constant clip, absolute minimum)
    reasoning_grounding: tuple[float, ...]  # [segment]: nats per token the whole reasoning loses (mean colour)
    reasoning_grounding_frozen: tuple[float, ...]
    reasoning_floor: float
    grounding: tuple[tuple[float, ...], ...]  # [sentence][segment]: nats per token the sentence loses
    grounding_floor: tuple[float, ...]  # per sentence
    removals: tuple[tuple[Shift, ...], ...]  # [sentence][dimension]: the sentence removed (direct effect)
    probes: tuple[Probe, ...]
    total: tuple[TotalEffect, ...]
    base_expected: tuple[float | None, ...]  # per dimension, the unaltered pass (raw)
    base_log_odds: tuple[float | None, ...]
    unaltered: Unaltered
    consistency_max_diff: float | None  # largest |p(digit) re-scored − p(digit) recorded while generating|
    passes: int
    generations: int
    seconds: float
    spread: SampleSpread | None = None
    faithfulness: Faithfulness | None = None
    fills: tuple[str, str] = ("mean colour", "frozen neighbours")
    measure: str = MEASURE
    label: str = LABEL

    # -- what clears its floor --

    @property
    def consistent(self) -> bool | None:
        """Whether the unaltered pass gives back what was recorded while generating (None: nothing to compare)."""
        return None if self.consistency_max_diff is None else self.consistency_max_diff <= CONSISTENT_WITHIN

    def direct_value(self, d: int, i: int) -> float | None:
        """The cell's expected-score change: the median across samples when several were explained."""
        cell = self.spread.direct[d][i] if self.spread else None
        return cell.median if cell else self.direct[d][i].expected_delta

    def direct_clears(self, d: int, i: int) -> bool:
        cell = self.spread.direct[d][i] if self.spread else None
        return floors.clears(self.direct_value(d, i), self.direct_floor[d],
                             None if cell is None else (cell.low, cell.high))

    def fills_disagree(self, d: int, i: int) -> bool:
        return not floors.fills_agree(self.direct[d][i].expected_delta, self.direct_frozen[d][i].expected_delta,
                                      self.direct_floor[d])

    def direct_established(self, d: int, i: int) -> bool:
        """Beyond the floor, and both fills agree: only such a cell is said to carry an effect."""
        return self.direct_clears(d, i) and not self.fills_disagree(d, i)

    def reasoning_value(self, i: int) -> float:
        cell = self.spread.reasoning_grounding[i] if self.spread else None
        return cell.median if cell else self.reasoning_grounding[i]

    def reasoning_clears(self, i: int) -> bool:
        cell = self.spread.reasoning_grounding[i] if self.spread else None
        return floors.clears(self.reasoning_value(i), self.reasoning_floor,
                             None if cell is None else (cell.low, cell.high))

    def reasoning_fills_disagree(self, i: int) -> bool:
        return not floors.fills_agree(self.reasoning_grounding[i], self.reasoning_grounding_frozen[i],
                                      self.reasoning_floor)

    def reasoning_established(self, i: int) -> bool:
        """The whole reasoning's grounding on segment i: beyond the floor, and both fills agree."""
        return self.reasoning_clears(i) and not self.reasoning_fills_disagree(i)

    def strongest_direct(self, d: int) -> int | None:
        """The segment whose hiding moves dimension d most, among the established cells (else None)."""
        known = [(abs(self.direct_value(d, i) or 0.0), i) for i in range(len(self.segments))
                 if self.direct_established(d, i)]
        return max(known)[1] if known else None

    def top_grounding(self, count: int) -> tuple[int, ...]:
        """The ``count`` segments whose hiding costs the whole reasoning most (the total effect's candidates)."""
        order = sorted(range(len(self.reasoning_grounding)), key=lambda i: -self.reasoning_grounding[i])
        return tuple(order[:count])

    def grounded_segments(self, sentence: int, share: float = floors.GROUNDED_SHARE) -> tuple[int, ...]:
        """The segments a sentence is about: drops clearing its floor (absolute and constant clip) and at least
        ``share`` of its largest drop."""
        return floors.grounded(self.grounding[sentence], self.grounding_floor[sentence], share)

    # -- JSON --

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Explanation:
        def shift(x: dict) -> Shift:
            return Shift(**x)

        def shifts(rows: list) -> tuple[tuple[Shift, ...], ...]:
            return tuple(tuple(shift(x) for x in row) for row in rows)

        def digits(rows: list) -> tuple[tuple[float, ...] | None, ...]:
            return tuple(None if r is None else tuple(r) for r in rows)

        def spread(x: dict | None) -> floors.Spread | None:
            return None if x is None else floors.Spread(**x)

        u = d["unaltered"]
        sp = d.get("spread")
        return cls(
            segments=tuple(Segment(s["index"], tuple(s["groups"]), s["start_s"], s["end_s"],
                                   None if s.get("frame_span") is None else tuple(s["frame_span"]))
                           for s in d["segments"]),
            sentences=tuple(Sentence(s["index"], s["text"], s["start"], s["end"], tuple(s["tokens"]))
                            for s in d["sentences"]),
            direct=shifts(d["direct"]), direct_frozen=shifts(d["direct_frozen"]),
            direct_floor=tuple(d["direct_floor"]),
            reasoning_grounding=tuple(d["reasoning_grounding"]),
            reasoning_grounding_frozen=tuple(d["reasoning_grounding_frozen"]),
            reasoning_floor=d["reasoning_floor"],
            grounding=tuple(tuple(row) for row in d["grounding"]), grounding_floor=tuple(d["grounding_floor"]),
            removals=shifts(d["removals"]),
            probes=tuple(Probe(ProbeKind(p["key"]), p["title"], p["prompt"], tuple(shift(x) for x in p["shifts"]),
                               p["reasoning_drop"], p["reasoning_drop_per_token"]) for p in d["probes"]),
            total=tuple(total_from_dict(t) for t in d["total"]),
            base_expected=tuple(d["base_expected"]), base_log_odds=tuple(d["base_log_odds"]),
            unaltered=Unaltered(digits(u["digits_processed"]), digits(u["digits_raw"]), u["reasoning_processed"],
                                u["reasoning_raw"]),
            consistency_max_diff=d["consistency_max_diff"], passes=d["passes"], generations=d["generations"],
            seconds=d["seconds"],
            spread=None if sp is None else SampleSpread(
                sp["samples"], tuple(tuple(spread(c) for c in row) for row in sp["direct"]),
                tuple(spread(c) for c in sp["reasoning_grounding"])),
            faithfulness=None if d.get("faithfulness") is None else faithfulness_from_dict(d["faithfulness"]),
            fills=tuple(d.get("fills", ("mean colour", "frozen neighbours"))), measure=d.get("measure", MEASURE),
            label=d.get("label", LABEL))


# ---- segments ----------------------------------------------------------------------------------


def split_segments(plan: FramePlan, grid_t: int, max_segments: int = DEFAULT_MAX_SEGMENTS) -> tuple[Segment, ...]:
    """The clip's temporal groups (FRAME_FACTOR sampled frames each: one second at fps 2), neighbours merged into
    at most ``max_segments`` contiguous segments of near-equal size, with the seconds each covers."""
    if grid_t < 1 or max_segments < 1:
        raise ValueError("a clip has at least one temporal group, and at least one segment is asked for")
    count = min(grid_t, max_segments)
    bounds = [round(i * grid_t / count) for i in range(count + 1)]
    times = plan.timestamps
    starts = [times[min(bounds[i] * FRAME_FACTOR, len(times) - 1)] for i in range(count)]
    ends = [*starts[1:], max(plan.info.duration_s, starts[-1])]  # each runs until the next begins
    return tuple(Segment(i, (bounds[i], bounds[i + 1]), round(starts[i], 4), round(ends[i], 4)) for i in range(count))


def split_frames(plan: FramePlan) -> tuple[Segment, ...]:
    """Per-frame resolution: one segment per sampled frame, half a temporal group (filling one frame of a pair keeps
    the token count and every position)."""
    times = plan.timestamps
    ends = [*times[1:], max(plan.info.duration_s, times[-1])]
    return tuple(Segment(f, (f // FRAME_FACTOR, f // FRAME_FACTOR + 1), round(times[f], 4), round(ends[f], 4),
                         (f, f + 1)) for f in range(len(times)))


# ---- sentences ---------------------------------------------------------------------------------

_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+(?=\s|$)|\n|$)\s*")


def split_sentences(raw: str, char_end: Sequence[int], max_sentences: int = DEFAULT_MAX_SENTENCES
                    ) -> tuple[Sentence, ...]:
    """The think block's sentences as character spans of ``raw``, with their generated-token spans.

    ``char_end[i]`` is where generated token i ends in ``raw``. Short pieces join a neighbour, then the two
    neighbours with the least text merge until at most ``max_sentences`` remain."""
    open_at = raw.find("<think>")
    if open_at < 0:
        return ()
    start = open_at + len("<think>")
    close = raw.find("</think>", start)
    end = len(raw) if close < 0 else close
    spans = [(start + m.start(), start + m.end()) for m in _SENTENCE.finditer(raw[start:end]) if m.group().strip()]
    spans = _merge_short(raw, spans)
    while len(spans) > max(1, max_sentences):
        i = min(range(len(spans) - 1), key=lambda k: spans[k + 1][1] - spans[k][0])
        spans[i:i + 2] = [(spans[i][0], spans[i + 1][1])]
    out = []
    for i, (a, b) in enumerate(spans):
        tokens = token_span(char_end, a, b)
        out.append(Sentence(i, raw[a:b].strip(), a, b, tokens))
    return tuple(s for s in out if s.tokens[1] > s.tokens[0])


def _merge_short(raw: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A piece too short to measure alone ("Yes.") joins the sentence before it (the first one: the next)."""
    def short(span: tuple[int, int]) -> bool:
        return len(raw[span[0]:span[1]].strip()) < MIN_SENTENCE_CHARS

    out: list[tuple[int, int]] = []
    for span in spans:
        if out and (short(span) or (short(out[-1]) and len(out) == 1)):
            out[-1] = (out[-1][0], span[1])
        else:
            out.append(span)
    return out


def token_span(char_end: Sequence[int], start: int, end: int) -> tuple[int, int]:
    """Generated tokens [first, last) whose text ends inside (start, end]: the tokens that wrote the span."""
    first = bisect.bisect_right(char_end, start)
    return first, max(first, bisect.bisect_right(char_end, end))


# ---- numbers -----------------------------------------------------------------------------------


def expected_and_p(logprobs: Sequence[float] | None, hard: int | None) -> tuple[float | None, float | None]:
    """Σ s·p(s) / Σ p(s), and p(hard) / Σ p, from log p("1") … log p("5")."""
    if logprobs is None:
        return None, None
    probs = [math.exp(x) for x in logprobs]
    total = sum(probs)
    if total <= 0:
        return None, None
    expected = sum(s * p for s, p in zip(SCORE_VALUES, probs)) / total
    return expected, (probs[hard - 1] / total if hard is not None else None)


def log_odds(logprobs: Sequence[float] | None, hard: int | None) -> float | None:
    """log p(hard) − log Σ p(other digits): unbounded where p(hard) is pinned near 1, so a change stays visible."""
    if logprobs is None or hard is None:
        return None
    others = [x for s, x in zip(SCORE_VALUES, logprobs) if s != hard]
    top = max(others)
    rest = top + math.log(sum(math.exp(x - top) for x in others))
    return logprobs[hard - 1] - rest


def shift(changed: Sequence[float] | None, base: Sequence[float] | None, hard: int | None) -> Shift:
    e, p = expected_and_p(changed, hard)
    e0, p0 = expected_and_p(base, hard)
    o, o0 = log_odds(changed, hard), log_odds(base, hard)
    return Shift(_r(e), _r(None if e is None or e0 is None else e - e0), _r(p),
                 _r(None if p is None or p0 is None else p - p0),
                 _r(o), _r(None if o is None or o0 is None else o - o0))


def span_drop(base: Sequence[float], changed: Sequence[float], span: tuple[int, int]) -> float:
    """Nats the tokens in ``span`` lose under the change: log P(span | evidence) − log P(span | changed)."""
    a, b = span
    return round(sum(base[a:b]) - sum(changed[a:b]), 4)


def drop_per_token(base: Sequence[float], changed: Sequence[float], span: tuple[int, int]) -> float:
    """``span_drop`` per token of the span: grounding's unit, comparable between long and short sentences."""
    return round(span_drop(base, changed, span) / max(1, span[1] - span[0]), 4)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
