"""Evidence for a result (an extra, never the official scores): the clip's seconds and the reasoning's sentences,
and what the re-scoring passes measured about them. Pure: segmenting, sentence splitting, score shifts, the
explanation record and its JSON form.

Two families of numbers, which mean different things:
- *score shifts*: how the expected score and the probability of the written score move at the score digits
  when evidence is hidden, **with the reasoning held fixed**;
- *likelihood drops*: how much less likely the reasoning (or one sentence) becomes, in nats (a drop of d means
  e^d times less likely): how much that text rests on the hidden evidence.
Both are sensitivities of this model's output, not facts about the video.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum

from vs2demo.core.dimensions import SCORE_VALUES
from vs2demo.input.framing import FRAME_FACTOR, FramePlan

DEFAULT_MAX_SEGMENTS = 16
DEFAULT_MAX_SENTENCES = 12
MIN_SENTENCE_CHARS = 25  # shorter pieces ("Yes.") join their neighbour: too little text to measure alone
DEFAULT_COUNTERFACTUAL = "a bowl of fruit on a wooden kitchen table, still life, no motion"
LABEL = "Evidence (an extra, not the official scores): sensitivities of this model's output, not facts about the video"


class ProbeKind(str, Enum):
    """The whole-input changes an explanation measures; the value is the JSON key, the title what a page says."""

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
    groups: tuple[int, int]  # temporal groups [first, last) the segment hides (2 sampled frames each)
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Sentence:
    index: int
    text: str
    start: int  # character span in the raw output
    end: int
    tokens: tuple[int, int]  # generated-token span [first, last)


@dataclass(frozen=True)
class Shift:
    """One dimension's score under changed evidence against the unaltered pass (reasoning held fixed)."""

    expected: float | None  # Σ s·p(s) / Σ p(s) under the change
    expected_delta: float | None  # … minus the unaltered pass's
    p_hard: float | None  # p(written score) / Σ p under the change
    p_hard_delta: float | None


@dataclass(frozen=True)
class Probe:
    """A whole-input change: the clip hidden, an empty prompt, another prompt."""

    key: ProbeKind
    title: str
    prompt: str
    shifts: tuple[Shift, ...]  # one per dimension
    reasoning_drop: float  # nats: how much less likely the whole reasoning becomes
    reasoning_drop_per_token: float


@dataclass(frozen=True)
class Explanation:
    segments: tuple[Segment, ...]
    sentences: tuple[Sentence, ...]
    moments: tuple[tuple[Shift, ...], ...]  # [dimension][segment]: the segment hidden
    grounding: tuple[tuple[float, ...], ...]  # [sentence][segment]: nats the sentence loses when it is hidden
    removals: tuple[tuple[Shift, ...], ...]  # [sentence][dimension]: the sentence removed
    probes: tuple[Probe, ...]
    base_expected: tuple[float | None, ...]  # per dimension, the unaltered pass
    consistency_max_diff: float | None  # largest |p(digit) re-scored − p(digit) recorded while generating|
    passes: int
    seconds: float
    label: str = LABEL

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Explanation:
        def shift(x: dict) -> Shift:
            return Shift(**x)

        return cls(
            segments=tuple(Segment(s["index"], tuple(s["groups"]), s["start_s"], s["end_s"]) for s in d["segments"]),
            sentences=tuple(Sentence(s["index"], s["text"], s["start"], s["end"], tuple(s["tokens"]))
                            for s in d["sentences"]),
            moments=tuple(tuple(shift(x) for x in row) for row in d["moments"]),
            grounding=tuple(tuple(row) for row in d["grounding"]),
            removals=tuple(tuple(shift(x) for x in row) for row in d["removals"]),
            probes=tuple(Probe(ProbeKind(p["key"]), p["title"], p["prompt"], tuple(shift(x) for x in p["shifts"]),
                               p["reasoning_drop"], p["reasoning_drop_per_token"]) for p in d["probes"]),
            base_expected=tuple(d["base_expected"]), consistency_max_diff=d["consistency_max_diff"],
            passes=d["passes"], seconds=d["seconds"], label=d.get("label", LABEL))

    def grounded_segments(self, sentence: int, share: float = 0.5) -> tuple[int, ...]:
        """The segments a sentence rests on: those costing it at least ``share`` of its largest drop (> 0)."""
        row = self.grounding[sentence]
        top = max(row, default=0.0)
        if top <= 0:
            return ()
        return tuple(i for i, v in enumerate(row) if v >= share * top)


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


def shift(changed: Sequence[float] | None, base: Sequence[float] | None, hard: int | None) -> Shift:
    e, p = expected_and_p(changed, hard)
    e0, p0 = expected_and_p(base, hard)
    return Shift(_r(e), _r(None if e is None or e0 is None else e - e0), _r(p),
                 _r(None if p is None or p0 is None else p - p0))


def span_drop(base: Sequence[float], changed: Sequence[float], span: tuple[int, int]) -> float:
    """Nats the tokens in ``span`` lose under the change: log P(span | evidence) − log P(span | changed)."""
    a, b = span
    return round(sum(base[a:b]) - sum(changed[a:b]), 4)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
