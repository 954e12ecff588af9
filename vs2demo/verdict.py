"""Which of two clips is better, per dimension and overall (pure).

Overall follows the paper's pairwise protocol: the sum of the three hard scores; soft scores break ties.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .dimensions import DIMENSIONS
from .result import Result


class Winner(str, Enum):
    A = "A"
    B = "B"
    TIE = "tie"
    UNKNOWN = "n/a"  # a score is missing

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Row:
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


def _winner(a: float | None, b: float | None, soft_a: float | None, soft_b: float | None) -> tuple[Winner, bool]:
    if a is None or b is None:
        return Winner.UNKNOWN, False
    if a != b:
        return (Winner.A if a > b else Winner.B), False
    if soft_a is not None and soft_b is not None and soft_a != soft_b:
        return (Winner.A if soft_a > soft_b else Winner.B), True
    return Winner.TIE, False


def _sum(values: list) -> float | None:
    return None if any(v is None for v in values) else sum(values)


def compare(a: Result, b: Result) -> tuple[Row, ...]:
    """One row per dimension, then an "overall" row."""
    rows = []
    for d in DIMENSIONS:
        sa, sb = a.score(d.key), b.score(d.key)
        winner = _winner(sa.hard, sb.hard, sa.soft, sb.soft)
        rows.append(Row(d.key, d.title, sa.hard, sb.hard, sa.soft, sb.soft, *winner))
    total_a, total_b = _sum([r.a for r in rows]), _sum([r.b for r in rows])
    soft_a, soft_b = _sum([r.soft_a for r in rows]), _sum([r.soft_b for r in rows])
    soft_a = round(soft_a, 4) if soft_a is not None else None
    soft_b = round(soft_b, 4) if soft_b is not None else None
    rows.append(Row("overall", "Overall (sum)", total_a, total_b, soft_a, soft_b,
                    *_winner(total_a, total_b, soft_a, soft_b)))
    return tuple(rows)
