"""Noise floors (pure): when a measured effect is distinguishable from 0, and when two fills agree.

A hidden second's effect is compared with what the same hiding does on a *constant clip of the same length*
(identical frames: nothing to find there, so anything measured is the fill's own effect and positional drift), with
an absolute minimum below which no change is worth a word, and, when the result has several samples, with the
spread across them. A cell within its floor is "not distinguishable from 0": drawn uncoloured, never ranked.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# The absolute minimums, whatever the constant clip says.
MIN_SCORE_POINTS = 0.01  # expected-score points: a hundredth of a point is not a finding
MIN_NATS_PER_TOKEN = 0.02  # grounding, nats per token: 2% per token (a 0.0014-nat drop is not a grounding)
GROUNDED_SHARE = 0.5  # a sentence is about the seconds costing it at least half its largest drop …


def floor_of(constant: Sequence[float | None], minimum: float) -> float:
    """The floor of a row of cells: the largest |effect| the same hiding has on a constant clip, at least
    ``minimum`` (the drift from first to last second on identical frames is covered by taking the largest)."""
    return round(max([abs(x) for x in constant if x is not None] + [minimum]), 4)


def clears(value: float | None, floor: float, spread: tuple[float, float] | None = None) -> bool:
    """Whether ``value`` is distinguishable from 0: beyond its floor and, with several samples, with a spread
    (low, high across samples) that does not include 0."""
    if value is None or abs(value) <= floor:
        return False
    return spread is None or spread[0] > 0 or spread[1] < 0


def fills_agree(a: float | None, b: float | None, floor: float) -> bool:
    """Two fills agree on a cell when both are within the floor, or both clear it in the same direction."""
    if a is None or b is None:
        return a is None and b is None
    ca, cb = abs(a) > floor, abs(b) > floor
    return (not ca and not cb) or (ca and cb and (a > 0) == (b > 0))


def grounded(row: Sequence[float], floor: float, share: float = GROUNDED_SHARE) -> tuple[int, ...]:
    """The cells a sentence rests on: drops clearing its floor (absolute and constant clip, in ``floor``) and at
    least ``share`` of its largest drop (the relative rule)."""
    top = max(row, default=0.0)
    if top <= floor:
        return ()
    return tuple(i for i, v in enumerate(row) if v > floor and v >= share * top)


@dataclass(frozen=True)
class Spread:
    """A cell across the result's samples: the median and the range."""

    median: float
    low: float
    high: float


def spread_of(values: Sequence[float | None]) -> Spread | None:
    known = [v for v in values if v is not None]
    if not known:
        return None
    return Spread(round(statistics.median(known), 4), round(min(known), 4), round(max(known), 4))


def strongest(row: Sequence[float | None], floors: float | Sequence[float]) -> int | None:
    """The index of the largest |effect| that clears its floor, or None when none does ("rests most on" is said
    only of such an effect)."""
    limits = [floors] * len(row) if isinstance(floors, (int, float)) else list(floors)
    best = [(abs(v), i) for i, (v, f) in enumerate(zip(row, limits)) if clears(v, f)]
    return max(best)[1] if best else None
