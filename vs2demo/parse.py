"""Reading scores out of the model's text, and soft scores out of digit probabilities. All pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .dimensions import DIMENSIONS, SCORE_VALUES

# The official parse (vs2_inference.py): first match over the whole output, think block included.
OFFICIAL_PATTERN = re.compile(
    r"visual quality:\s*(\d+).*?text-to-video alignment:\s*(\d+).*?physical/common-sense consistency:\s*(\d+)",
    re.DOTALL | re.IGNORECASE,
)

OFFICIAL, FALLBACK, PARTIAL, NONE = "official", "fallback", "partial", "none"


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

    method: str  # "official" | "fallback" (labelled, not official) | "partial" | "none"
    scores: tuple[int | None, ...]
    digit_pos: tuple[int | None, ...]  # character offsets of each score's digit in the text
    notes: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return all(s is not None for s in self.scores)


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
            return Parsed(OFFICIAL, values, tuple(m.start(i) for i in (1, 2, 3)))
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


def official_score_positions(text: str) -> tuple[int | None, ...]:
    """Where the official soft score looks: the first digit after the first occurrence of each label."""
    out: list[int | None] = []
    for d in DIMENSIONS:
        at = text.find(d.label + ":")
        m = re.search(r"\d", text[at + len(d.label) + 1:]) if at >= 0 else None
        out.append(at + len(d.label) + 1 + m.start() if m else None)
    return tuple(out)


@dataclass(frozen=True)
class SoftScore:
    probs: tuple[float, ...]  # p("1") … p("5") as generate saw them (after temperature and warpers)
    soft: float  # official: round(best × p(best) / Σp, 4)
    expected: float  # extra: Σ s·p(s) / Σ p(s)
    confidence: float  # extra: max p / Σ p


def soft_from_probs(probs: tuple[float, ...] | list[float]) -> SoftScore | None:
    # float32 arithmetic, as the official script does it in torch, so the rounding agrees to the digit
    p = np.asarray(probs, dtype=np.float32)
    total = p.sum()
    if not total > 0:
        return None
    best = int(np.argmax(p))  # first maximum on ties, like torch.argmax
    return SoftScore(
        probs=tuple(float(x) for x in p),
        soft=round(float(np.float32(SCORE_VALUES[best]) * p[best] / total), 4),
        expected=float(np.dot(np.asarray(SCORE_VALUES, dtype=np.float64), p) / total),
        confidence=float(p[best] / total),
    )
