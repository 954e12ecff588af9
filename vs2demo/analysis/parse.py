"""Reading scores out of the model's text, and soft scores out of digit probabilities. All pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from vs2demo.core.dimensions import DIMENSIONS, SCORE_VALUES

# The official parse (vs2_inference.py): first match over the whole output, think block included.
OFFICIAL_PATTERN = re.compile(
    r"visual quality:\s*(\d+).*?text-to-video alignment:\s*(\d+).*?physical/common-sense consistency:\s*(\d+)",
    re.DOTALL | re.IGNORECASE,
)

class ParseMethod(str, Enum):
    """How the hard scores were found. Only OFFICIAL is what the official script would read."""

    OFFICIAL = "official"
    FALLBACK = "fallback"  # the tolerant parser found all three (labelled, not official)
    PARTIAL = "partial"  # the tolerant parser found some
    NONE = "none"  # nothing parsed: no number is made up

    def __str__(self) -> str:  # the plain word in messages and f-strings, on every Python version
        return self.value


OFFICIAL, FALLBACK, PARTIAL, NONE = ParseMethod


def _tolerant(label: str) -> re.Pattern[str]:
    # Forms users report: descriptor echoes ("visual quality – clarity, …: 3"), "3/5", "**3**", "=".
    return re.compile(
        re.escape(label) + r"(?:\s*[\u2013\u2014-][^:\n]{0,80})?\s*[:=]\s*\**\s*(\d+)(?:\s*/\s*5)?",
        re.IGNORECASE,
    )


_TOLERANT = tuple(_tolerant(d.label) for d in DIMENSIONS)


@dataclass(frozen=True)
class Parsed:
    """Hard scores in DIMENSIONS order (None where absent), how they were found, where their digits are."""

    method: ParseMethod
    scores: tuple[int | None, ...]
    digit_pos: tuple[int | None, ...]  # character offsets of each score's digit in the text
    notes: tuple[str, ...] = ()


def parse_official(text: str) -> tuple[int, ...] | None:
    """Exactly the official parse: three integers or None."""
    m = OFFICIAL_PATTERN.search(text)
    return tuple(int(g) for g in m.groups()) if m else None


def _fallback(text: str) -> tuple[list[int | None], list[int | None]]:
    # Prefer what follows the last </think> (the answer); fall back to the think block, where the
    # model sometimes writes its only scores.
    cut = text.rfind("</think>")
    regions = [cut + len("</think>"), 0] if cut >= 0 else [0]
    scores: list[int | None] = []
    pos: list[int | None] = []
    for pattern in _TOLERANT:
        found = None
        for start in regions:
            for m in pattern.finditer(text, start):
                if int(m.group(1)) in SCORE_VALUES:
                    found = m
                    break
            if found:
                break
        scores.append(int(found.group(1)) if found else None)
        pos.append(found.start(1) if found else None)
    return scores, pos


def parse_scores(text: str) -> Parsed:
    notes: list[str] = []
    m = OFFICIAL_PATTERN.search(text)
    if m:
        values = tuple(int(g) for g in m.groups())
        if all(v in SCORE_VALUES for v in values):
            return Parsed(OFFICIAL, values, tuple(m.start(i + 1) for i in range(len(DIMENSIONS))))
        notes.append(f"the official parse found {values}, outside 1-5; not used")
    scores, pos = _fallback(text)
    found = sum(s is not None for s in scores)
    if found == len(DIMENSIONS):
        method = FALLBACK
        notes.append("scores recovered by the tolerant fallback parser, not the official one")
    elif found:
        method = PARTIAL
        missing = [d.title for d, s in zip(DIMENSIONS, scores) if s is None]
        notes.append("tolerant fallback found only some scores; missing: " + ", ".join(missing))
    else:
        method = NONE
        notes.append("no score could be parsed from the output")
    return Parsed(method, tuple(scores), tuple(pos), tuple(notes))


# ---- soft scores ------------------------------------------------------------------------------

# Where the official soft score looks (find_score_token_index_by_prompt in vs2_inference.py): the first
# case-insensitive match of the label with its colon, optionally preceded by "(n)" or a newline, anywhere in
# the output; then the first digit after it.
_SOFT_ANCHORS = tuple(re.compile(r"(?:\(\d+\)\s*|\n\s*)?" + re.escape(d.label + ":"), re.IGNORECASE)
                      for d in DIMENSIONS)
_DIGIT = re.compile(r"\d")


def official_score_positions(text: str) -> tuple[int | None, ...]:
    """Per dimension, the character offset of the digit the official soft score reads, or None."""
    out: list[int | None] = []
    for anchor in _SOFT_ANCHORS:
        label = anchor.search(text)
        digit = _DIGIT.search(text, label.end()) if label else None
        out.append(digit.start() if digit else None)
    return tuple(out)


class SoftSource(str, Enum):
    """Which token a soft score was read at."""

    OFFICIAL = "official"  # the first digit after the label, as the official script finds it
    FALLBACK = "fallback"  # the parser's digit, or any soft score without the official parse: labelled

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SoftScore:
    probs: tuple[float, ...]  # p("1") … p("5") as generate saw them (after penalties, temperature, warpers)
    soft: float  # official: round(best × p(best) / Σp, 4); 0.0 when every digit has probability 0
    expected: float | None  # extra: Σ s·p(s) / Σ p(s) (None without probability mass)
    confidence: float | None  # extra: max p / Σ p (None without probability mass)


def soft_from_logprobs(logprobs: Sequence[float]) -> SoftScore:
    """The official soft score from the five digits' log-probabilities (log_softmax over the vocabulary).

    Float64 Python arithmetic in the official order: p = exp(log p) per digit, Σ by plain addition, the
    first maximum wins, round to 4 decimals. With no mass at all the official script prints 0.0: so do we.
    """
    probs = tuple(float(np.exp(float(lp))) for lp in logprobs)
    total = sum(probs)
    best_p = max(probs)
    best = probs.index(best_p)
    normalised = best_p / total if total > 0 else 0
    return SoftScore(
        probs=probs,
        soft=round(SCORE_VALUES[best] * normalised, 4),
        expected=sum(s * p for s, p in zip(SCORE_VALUES, probs)) / total if total > 0 else None,
        confidence=normalised if total > 0 else None,
    )
