"""Total effects (pure): what a clip scores without some evidence, by re-generating with K paired seeds.

The direct effect holds the reasoning fixed; the total effect lets the model write again. One re-generated sample's
change is mostly sampling noise, so each condition is drawn with the same K seeds as the unaltered re-generation
(seed s…s+K−1 with and without the evidence) and compared pair by pair: the hard-score distribution with and
without, how many paired hard scores changed, and the mean paired change of the soft score with a t interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from vs2demo.core.dimensions import DIMENSIONS, SCORE_VALUES

CONFIDENCE = 0.95
# A total effect is claimed only when its interval excludes 0 *and* the mean change is at least this many soft-score
# points: a consistent −0.003 is measurable, but says nothing a reader should act on.
MIN_TOTAL_POINTS = 0.05
# Two-sided 95% Student-t quantiles by degrees of freedom (1…30); beyond, the normal 1.96 is within 2%.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


class Condition(str, Enum):
    """What a re-generation changes; the value is the JSON key."""

    CLIP_HIDDEN = "clip_hidden"  # every frame by the neutral fill: "is the judge watching?"
    SEGMENTS_HIDDEN = "segments_hidden"  # some seconds by the neutral fill
    REVERSED = "frames_reversed"
    SHUFFLED = "frames_shuffled"
    OTHER_PROMPT = "other_prompt"  # the clip as it is, an unrelated prompt: "is it reading the prompt?"

    @property
    def title(self) -> str:
        return {"clip_hidden": "Whole clip hidden (blank)", "segments_hidden": "Seconds hidden",
                "frames_reversed": "Frames reversed", "frames_shuffled": "Frames shuffled",
                "other_prompt": "An unrelated prompt"}[self.value]


@dataclass(frozen=True)
class Draw:
    """One re-generated sample's scores, per dimension (None where the output did not parse)."""

    hard: tuple[int | None, ...]
    soft: tuple[float | None, ...]


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.n >= 2 and (self.low > 0 or self.high < 0)

    @property
    def claimed(self) -> bool:
        """Worth a "yes": the interval excludes 0 and the mean moves by at least MIN_TOTAL_POINTS."""
        return self.excludes_zero and abs(self.mean) >= MIN_TOTAL_POINTS


@dataclass(frozen=True)
class DimensionChange:
    """One dimension under one condition, from K paired draws."""

    with_counts: tuple[int, ...]  # how many draws wrote 1 … 5 with the evidence
    without_counts: tuple[int, ...]  # … and without it
    changed: int  # paired draws whose hard score differs
    pairs: int  # paired draws where both hard scores parsed
    soft_delta: Interval | None  # mean paired change of the soft score (without − with), 95% t interval


@dataclass(frozen=True)
class TotalEffect:
    condition: Condition
    segments: tuple[int, ...]  # the hidden segments (SEGMENTS_HIDDEN), else ()
    why: str  # "top by grounding" (with "; asked for" when also picked), "picked", "sanity probe", "whole clip"
    prompt: str
    seeds: tuple[int, ...]
    dimensions: tuple[DimensionChange, ...]

    @property
    def title(self) -> str:
        return self.condition.title


def t_quantile(df: int) -> float:
    """The two-sided 95% Student-t quantile for ``df`` degrees of freedom (df ≥ 1)."""
    if df < 1:
        raise ValueError("an interval needs at least two values")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def mean_interval(values: Sequence[float]) -> Interval | None:
    """The mean with its 95% t interval; one value gives an interval of itself (n = 1, never 'excludes zero')."""
    if not values:
        return None
    mean = statistics.fmean(values)
    if len(values) == 1:
        return Interval(round(mean, 4), round(mean, 4), round(mean, 4), 1)
    half = t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Interval(round(mean, 4), round(mean - half, 4), round(mean + half, 4), len(values))


def counts(hards: Sequence[int | None]) -> tuple[int, ...]:
    return tuple(sum(1 for h in hards if h == s) for s in SCORE_VALUES)


def compare(with_draws: Sequence[Draw], without_draws: Sequence[Draw]) -> tuple[DimensionChange, ...]:
    """Per dimension, K paired draws with and without the evidence (draw k of each used the same seed)."""
    if len(with_draws) != len(without_draws):
        raise ValueError("paired draws come in equal numbers")
    out = []
    for d in range(len(DIMENSIONS)):
        a = [w.hard[d] for w in with_draws]
        b = [w.hard[d] for w in without_draws]
        pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
        soft = [y.soft[d] - x.soft[d] for x, y in zip(with_draws, without_draws)
                if x.soft[d] is not None and y.soft[d] is not None]
        out.append(DimensionChange(counts(a), counts(b), sum(1 for x, y in pairs if x != y), len(pairs),
                                   mean_interval(soft)))
    return tuple(out)


def from_dict(d: dict) -> TotalEffect:
    def interval(x: dict | None) -> Interval | None:
        return None if x is None else Interval(**x)

    return TotalEffect(Condition(d["condition"]), tuple(d["segments"]), d["why"], d["prompt"], tuple(d["seeds"]),
                       tuple(DimensionChange(tuple(c["with_counts"]), tuple(c["without_counts"]), c["changed"],
                                             c["pairs"], interval(c["soft_delta"])) for c in d["dimensions"]))
