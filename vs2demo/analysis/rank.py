"""Best-of-N: rank N clips generated for one prompt by the sum of their official soft scores (pure).

As the paper's Best-of-N reranking does, each clip's value is the sum of its three official soft scores (or one
dimension's, on request). With K samples per clip, sample k of every clip is ranked on its own; the leaderboard
orders clips by their mean value, counts how often each ranked first, and flags a clip whose rank overlaps a
neighbour's: some sample ordered the two the other way round.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from vs2demo.analysis.result import Result
from vs2demo.core.dimensions import DIMENSIONS, OVERALL

RANK_BY = (OVERALL, *(d.key for d in DIMENSIONS))


@dataclass(frozen=True)
class RankedClip:
    index: int  # the clip's place in the input
    name: str
    value: float | None  # mean over samples (None: no sample had the scores)
    values: tuple[float | None, ...]  # per sample
    rank: int  # 1 = best
    ranks: tuple[int, ...]  # its rank in each sample
    firsts: int  # samples in which it ranked first
    overlaps: bool  # some sample ordered it the other way round against another clip


@dataclass(frozen=True)
class Leaderboard:
    by: str
    samples: int
    clips: tuple[RankedClip, ...]  # best first

    @property
    def best(self) -> RankedClip:
        return self.clips[0]

    def to_dict(self) -> dict:
        return {"by": self.by, "samples": self.samples, "clips": [asdict(c) for c in self.clips]}


def soft_sum(softs: Mapping[str, float | None], by: str = OVERALL) -> float | None:
    """The official soft scores (by dimension key) summed over the three dimensions, or one dimension's; None if
    one is missing."""
    if by not in RANK_BY:
        raise ValueError(f"rank by one of {', '.join(RANK_BY)}, not {by!r}")
    chosen = [v for key, v in softs.items() if by in (OVERALL, key)]
    return None if any(v is None for v in chosen) else round(sum(chosen), 4)


def value(result: Result, by: str = OVERALL) -> float | None:
    return soft_sum({s.key: s.soft for s in result.scores}, by)


def _order(values: Sequence[float | None]) -> list[int]:
    """Clip indices best first: higher values first, missing values last, input order on ties."""
    return sorted(range(len(values)), key=lambda i: (values[i] is None, -(values[i] or 0.0), i))


def rank_values(names: Sequence[str], values: Sequence[Sequence[float | None]], by: str = OVERALL) -> Leaderboard:
    """``values[clip][sample]`` → the leaderboard."""
    k = len(values[0]) if values else 0
    per_sample_ranks = [[0] * len(values) for _ in range(k)]
    for s in range(k):
        for r, i in enumerate(_order([v[s] for v in values]), 1):
            per_sample_ranks[s][i] = r
    means = [statistics.fmean(known) if (known := [x for x in v if x is not None]) else None for v in values]
    order = _order(means)
    ranks = {i: tuple(per_sample_ranks[s][i] for s in range(k)) for i in range(len(values))}
    clips = []
    for r, i in enumerate(order, 1):
        swapped = any((ranks[i][s] > ranks[j][s]) != (order.index(i) > order.index(j))
                      for j in range(len(values)) if j != i for s in range(k))
        tied = any(means[j] == means[i] for j in range(len(values)) if j != i)
        clips.append(RankedClip(i, names[i], None if means[i] is None else round(means[i], 4), tuple(values[i]), r,
                                ranks[i], sum(1 for x in ranks[i] if x == 1), swapped or tied))
    return Leaderboard(by, k, tuple(clips))


def rank(names: Sequence[str], samples: Sequence[Sequence[Result]], by: str = OVERALL) -> Leaderboard:
    """``samples[clip]`` are that clip's K sample results."""
    return rank_values(names, [[value(r, by) for r in clip] for clip in samples], by)
