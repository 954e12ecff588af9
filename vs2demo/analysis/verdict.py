"""Which of two clips is better, per dimension and overall (pure).

Overall follows the paper's pairwise protocol: the sum of the three hard scores. When the hard scores tie,
the official soft scores break the tie only if they differ by at least SOFT_TIE_MARGIN (three times that on
the sum): a few hundredths is noise, shown as a tie. With K samples per clip, sample k of A meets sample k of
B; a clip is better only when it wins at least CLEAR_SHARE of the samples, otherwise the verdict is "too close
to call".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from vs2demo.analysis.result import Result
from vs2demo.core.dimensions import DIMENSION_COUNT_WORD, DIMENSIONS, OVERALL

SOFT_TIE_MARGIN = 0.1
CLEAR_SHARE = 0.75
OVERALL_RULE = f"overall = the sum of the {DIMENSION_COUNT_WORD} scores (the paper's pairwise protocol)"


class Winner(str, Enum):
    A = "A"
    B = "B"
    TIE = "tie"
    UNKNOWN = "n/a"  # a score is missing
    CLOSE = "too close to call"  # across samples, neither clip wins a clear majority

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class DimensionVerdict:
    key: str
    title: str
    a: int | None
    b: int | None
    soft_a: float | None
    soft_b: float | None
    winner: Winner
    by_soft: bool  # decided by the soft scores after a hard tie

    @property
    def difference(self) -> int | None:
        return None if self.a is None or self.b is None else self.a - self.b


def _winner(a: float | None, b: float | None, soft_a: float | None, soft_b: float | None,
            margin: float = SOFT_TIE_MARGIN) -> tuple[Winner, bool]:
    if a is None or b is None:
        return Winner.UNKNOWN, False
    if a != b:
        return (Winner.A if a > b else Winner.B), False
    if soft_a is not None and soft_b is not None and abs(soft_a - soft_b) >= margin:
        return (Winner.A if soft_a > soft_b else Winner.B), True
    return Winner.TIE, False


def _sum(values: list) -> float | None:
    return None if any(v is None for v in values) else sum(values)


def compare(a: Result, b: Result) -> tuple[DimensionVerdict, ...]:
    """One row per dimension, then an "overall" row."""
    rows = []
    for d in DIMENSIONS:
        sa, sb = a.score(d.key), b.score(d.key)
        winner = _winner(sa.hard, sb.hard, sa.soft, sb.soft)
        rows.append(DimensionVerdict(d.key, d.title, sa.hard, sb.hard, sa.soft, sb.soft, *winner))
    total_a, total_b = _sum([r.a for r in rows]), _sum([r.b for r in rows])
    soft_a, soft_b = _sum([r.soft_a for r in rows]), _sum([r.soft_b for r in rows])
    soft_a = round(soft_a, 4) if soft_a is not None else None
    soft_b = round(soft_b, 4) if soft_b is not None else None
    rows.append(DimensionVerdict(OVERALL, "Overall (sum)", total_a, total_b, soft_a, soft_b,
                    *_winner(total_a, total_b, soft_a, soft_b, SOFT_TIE_MARGIN * len(DIMENSIONS))))
    return tuple(rows)


@dataclass(frozen=True)
class SampledRow:
    """One dimension (or overall) across K paired samples."""

    key: str
    title: str
    wins_a: int
    wins_b: int
    ties: int  # ties and samples where a score is missing
    winner: Winner

    @property
    def samples(self) -> int:
        return self.wins_a + self.wins_b + self.ties

    def describe(self) -> str:
        k = self.samples
        if k == 1:
            one = {Winner.A: "clip A", Winner.B: "clip B", Winner.TIE: "tie", Winner.UNKNOWN: "cannot tell"}
            return one.get(self.winner, self.winner.value)  # the "one sample" caveat is said once, by the panel
        if self.winner in (Winner.A, Winner.B):
            wins = self.wins_a if self.winner == Winner.A else self.wins_b
            return f"{self.winner.value} better in {wins} of {k} samples"
        return f"too close to call (A {self.wins_a}, B {self.wins_b}, tie {self.ties} of {k} samples)"


def sampled_winner(wins_a: int, wins_b: int, ties: int) -> Winner:
    """The verdict over paired samples: a clear majority (CLEAR_SHARE) or too close to call."""
    k = wins_a + wins_b + ties
    if k == 1:
        return Winner.A if wins_a else Winner.B if wins_b else Winner.TIE
    if wins_a >= CLEAR_SHARE * k:
        return Winner.A
    if wins_b >= CLEAR_SHARE * k:
        return Winner.B
    return Winner.CLOSE


def compare_samples(a: Sequence[Result], b: Sequence[Result]) -> tuple[SampledRow, ...]:
    """Per dimension and overall: how often A beats B when sample k of one meets sample k of the other."""
    per_pair = [compare(x, y) for x, y in zip(a, b)]
    out = []
    for i, first in enumerate(per_pair[0]):
        winners = [rows[i].winner for rows in per_pair]
        wins_a, wins_b = winners.count(Winner.A), winners.count(Winner.B)
        ties = len(winners) - wins_a - wins_b
        winner = sampled_winner(wins_a, wins_b, ties)
        if len(winners) == 1 and winners[0] == Winner.UNKNOWN:
            winner = Winner.UNKNOWN
        out.append(SampledRow(first.key, first.title, wins_a, wins_b, ties, winner))
    return tuple(out)
