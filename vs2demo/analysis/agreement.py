"""How often the judge agrees with people, as the VideoScore2 paper reports it (pure: items in, figures out).

Per dimension, over items with both a human and a model score:

- exact accuracy: the model's written score equals the human score;
- relaxed accuracy: they differ by at most 1;
- SRCC and PLCC: Spearman's and Pearson's correlation of the official soft score with the human score;
- pairwise accuracy: for two clips, does the model prefer the one people prefer? "With ties" counts a pair right
  when the model's outcome (A, B, or a tie: soft scores within TIE_THRESHOLD, three times that on the sum) equals
  the human one; "without ties" leaves out pairs people tied and decides the model's side by the sign of the soft
  difference (an exact tie counts as wrong).

and, over items with all three, all-three-exact accuracy. Each figure has a bootstrap 95% interval (percentile
method, RESAMPLES resamples of the items or pairs, a seeded numpy Generator, scipy.stats.bootstrap) and its n.
Correlations come from scipy.stats; nothing statistical is written by hand.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from vs2demo.analysis.verdict import SOFT_TIE_MARGIN
from vs2demo.core.dimensions import DIMENSIONS, OVERALL, SCORE_VALUES

TIE_THRESHOLD = SOFT_TIE_MARGIN  # per dimension; 3 × this on the sum of the three
RESAMPLES = 1000
CONFIDENCE = 0.95
MAX_GROUP_FOR_ALL_PAIRS = 16  # prompts with more clips pair each clip with its neighbour in a seeded order
PREFERENCES = ("A", "B", "tie")


@dataclass(frozen=True)
class Judged:
    """One clip with a human score and the model's, per dimension (None where one is missing)."""

    key: str  # what it is: a clip name, a result link
    prompt: str
    human: tuple[int | None, ...]
    hard: tuple[int | None, ...]
    soft: tuple[float | None, ...]


@dataclass(frozen=True)
class JudgedPair:
    """Two clips for one prompt: which one people prefer on a dimension (or overall), and the model's soft scores."""

    key: str
    dimension: str  # a dimension key, or OVERALL
    human: str  # A, B or tie
    soft_a: float | None
    soft_b: float | None


@dataclass(frozen=True)
class Metric:
    value: float | None
    low: float | None  # the bootstrap interval; None with fewer than 3 items or no spread
    high: float | None
    n: int

    def to_dict(self) -> dict:
        return {"value": self.value, "ci95": None if self.low is None else [self.low, self.high], "n": self.n}

    def describe(self, percent: bool = True) -> str:
        if self.value is None:
            return f"n/a (n={self.n})"
        fmt = (lambda v: f"{100 * v:.1f}%") if percent else (lambda v: f"{v:.3f}")
        ci = "" if self.low is None else f" [{fmt(self.low)}, {fmt(self.high)}]"
        return f"{fmt(self.value)}{ci} (n={self.n})"


@dataclass(frozen=True)
class DimensionAgreement:
    key: str
    title: str
    exact: Metric
    relaxed: Metric
    srcc: Metric
    plcc: Metric
    pairwise_ties: Metric
    pairwise_no_ties: Metric
    confusion: tuple[tuple[int, ...], ...]  # [human score − 1][model score − 1]: how many items


@dataclass(frozen=True)
class Agreement:
    dimensions: tuple[DimensionAgreement, ...]
    all_three: Metric
    overall_ties: Metric  # pairwise, on the sum of the three soft scores
    overall_no_ties: Metric
    items: int
    pairs: int
    pairs_from: str  # "labels" or "clips sharing a prompt"
    tie_threshold: float
    resamples: int
    seed: int

    def to_dict(self) -> dict:
        """JSON for machines: dimensions by key (as results name them), each figure with its interval and n."""
        def dimension(d: DimensionAgreement) -> dict:
            return {"title": d.title, "exact_accuracy": d.exact.to_dict(), "relaxed_accuracy": d.relaxed.to_dict(),
                    "srcc": d.srcc.to_dict(), "plcc": d.plcc.to_dict(),
                    "pairwise_accuracy_with_ties": d.pairwise_ties.to_dict(),
                    "pairwise_accuracy_without_ties": d.pairwise_no_ties.to_dict(),
                    "confusion": {"rows": "human score 1-5", "columns": "model score 1-5",
                                  "counts": [list(r) for r in d.confusion]}}

        return {"dimensions": {d.key: dimension(d) for d in self.dimensions},
                "overall": {"all_three_exact_accuracy": self.all_three.to_dict(),
                            "pairwise_accuracy_with_ties": self.overall_ties.to_dict(),
                            "pairwise_accuracy_without_ties": self.overall_no_ties.to_dict()},
                "items": self.items, "pairs": self.pairs, "pairs_from": self.pairs_from,
                "tie_threshold": self.tie_threshold, "tie_threshold_overall": self.tie_threshold * len(DIMENSIONS),
                "confidence": CONFIDENCE, "resamples": self.resamples, "seed": self.seed,
                "interval": "percentile bootstrap (scipy.stats.bootstrap), items or pairs resampled"}


def _stats() -> Any:
    """scipy.stats, imported when agreement is first computed: importing it costs about half a second, which the
    app would otherwise pay at start for a tab few visitors open."""
    from scipy import stats

    return stats


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def average_ranks(codes: np.ndarray, axis: int = -1) -> np.ndarray:
    """Average ranks (ties share their mean rank, as scipy.stats.rankdata's default) of non-negative integer codes,
    along ``axis``, in linear time by counting: a bootstrap ranks a thousand resamples of ten thousand items, where
    sorting each would take most of the agreement's time. The codes are dense ranks of the data
    (scipy.stats.rankdata(x, method="dense") - 1), so any data can be ranked this way."""
    moved = np.moveaxis(np.asarray(codes), axis, -1).astype(np.int64)
    rows = moved.reshape(-1, moved.shape[-1])
    width = int(rows.max()) + 1 if rows.size else 1
    flat = rows + np.arange(len(rows))[:, None] * width
    counts = np.bincount(flat.ravel(), minlength=len(rows) * width).reshape(len(rows), width)
    mean_rank = np.cumsum(counts, axis=1) - (counts - 1) / 2  # the ranks a value's ties share, averaged
    ranks = np.take_along_axis(mean_rank, rows, axis=1)
    return np.moveaxis(ranks.reshape(moved.shape), -1, axis)


def _dense(x: np.ndarray) -> np.ndarray:
    return _stats().rankdata(x, method="dense") - 1 if len(x) else x


def _bootstrap(statistic: Callable[..., np.ndarray], data: Sequence[np.ndarray], values: Sequence[float],
               resamples: int, seed: int) -> list[Metric]:
    """Metrics for the point ``values`` with percentile intervals from one paired bootstrap of ``data`` (the same
    resampled items for every figure ``statistic`` returns)."""
    n = len(data[0])
    clean = [_clean(v) for v in values]
    lows: list[float | None] = [None] * len(values)
    highs: list[float | None] = [None] * len(values)
    if n >= 3 and resamples > 0 and any(v is not None for v in clean):
        with warnings.catch_warnings():  # a resample without spread has no correlation: nan, said as n/a
            warnings.simplefilter("ignore")
            ci = _stats().bootstrap(tuple(data), statistic, n_resamples=resamples, paired=True, vectorized=True,
                                 method="percentile", confidence_level=CONFIDENCE, batch=max(1, 2_000_000 // n),
                                 rng=np.random.default_rng(seed)).confidence_interval
        lows = [_clean(x) for x in np.atleast_1d(ci.low)]
        highs = [_clean(x) for x in np.atleast_1d(ci.high)]
    complete = [(lo, hi) if v is not None and lo is not None and hi is not None else (None, None)
                for v, lo, hi in zip(clean, lows, highs)]
    return [Metric(v, lo, hi, n) for v, (lo, hi) in zip(clean, complete)]


def _accuracies(human: np.ndarray, hard: np.ndarray, axis: int = -1) -> list[np.ndarray]:
    return [np.mean(human == hard, axis=axis), np.mean(np.abs(human - hard) <= 1, axis=axis)]


def _correlations(human: np.ndarray, soft_codes: np.ndarray, soft: np.ndarray, axis: int = -1) -> list[np.ndarray]:
    # Spearman's rho is Pearson's r of the average ranks, vectorised over the resamples; human scores 1-5 are their
    # own codes (minus one)
    rho = _stats().pearsonr(average_ranks(soft_codes, axis), average_ranks(human - 1, axis), axis=axis).statistic
    return [rho, _stats().pearsonr(soft, human, axis=axis).statistic]


def _correlation_values(human: np.ndarray, soft: np.ndarray) -> list[float]:
    if len(human) < 2:
        return [math.nan, math.nan]
    with warnings.catch_warnings():  # constant input: no correlation (nan, shown as n/a)
        warnings.simplefilter("ignore")
        return [_stats().spearmanr(soft, human).statistic, _stats().pearsonr(soft, human).statistic]


def pointwise(human: np.ndarray, hard: np.ndarray, soft: np.ndarray | None, resamples: int, seed: int
              ) -> list[Metric]:
    """Exact and relaxed accuracy of the written scores, SRCC and PLCC of the soft scores, against ``human``. When
    every item has a soft score (as usual) one bootstrap serves all four; else the correlations use their own."""
    accuracy = [float(v) for v in _accuracies(human, hard)] if len(human) else [math.nan, math.nan]
    if soft is not None and len(soft) == len(human):
        # small integer types: the bootstrap copies every array once per resample
        data = [human.astype(np.int8), hard.astype(np.int8), _dense(soft).astype(np.int32), soft]
        values = accuracy + _correlation_values(human, soft)

        def four(h: np.ndarray, m: np.ndarray, sc: np.ndarray, s: np.ndarray, axis: int = -1) -> np.ndarray:
            return np.stack(_accuracies(h, m, axis) + _correlations(h, sc, s, axis))

        return _bootstrap(four, data, values, resamples, seed)
    first = _bootstrap(lambda h, m, axis=-1: np.stack(_accuracies(h, m, axis)), [human, hard], accuracy,
                       resamples, seed)
    return first + [Metric(None, None, None, 0)] * 2


def _pair_outcome(a: float, b: float, threshold: float) -> str:
    return "tie" if abs(a - b) < threshold else ("A" if a > b else "B")


def pairwise(pairs: Sequence[JudgedPair], threshold: float, resamples: int, seed: int) -> tuple[Metric, Metric]:
    """Pairwise accuracy with ties and without them (pairs where the model has both soft scores). One bootstrap
    resamples the pairs for both: without ties is the share right among the resampled pairs people did not tie."""
    usable = [p for p in pairs if p.soft_a is not None and p.soft_b is not None]
    right = np.array([_pair_outcome(p.soft_a, p.soft_b, threshold) == p.human for p in usable], dtype=bool)
    decided = np.array([p.human != "tie" for p in usable], dtype=bool)
    sided = np.array([(p.soft_a - p.soft_b) * (1 if p.human == "A" else -1) > 0 for p in usable], dtype=bool)
    n_decided = int(decided.sum())

    def both(r: np.ndarray, d: np.ndarray, s: np.ndarray, axis: int = -1) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):  # a resample without decided pairs: nan, n/a
            return np.stack([np.mean(r, axis=axis), np.sum(s & d, axis=axis) / np.sum(d, axis=axis)])

    values = [float(right.mean()) if usable else math.nan,
              float((sided & decided).sum() / n_decided) if n_decided else math.nan]
    ties, no_ties = _bootstrap(both, [right, decided, sided], values, resamples, seed)
    return ties, Metric(no_ties.value, no_ties.low, no_ties.high, n_decided)


def pairs_from_items(items: Sequence[Judged], seed: int = 0) -> list[JudgedPair]:
    """Pairs of clips sharing a prompt, per dimension and overall, preferred by their human scores (equal: tie).
    Every pair within a prompt of up to MAX_GROUP_FOR_ALL_PAIRS clips; a larger group pairs each clip with its
    neighbour in a seeded order (n pairs, not n²)."""
    groups: dict[str, list[Judged]] = defaultdict(list)
    for item in items:
        groups[item.prompt].append(item)
    rng = np.random.default_rng(seed)
    out: list[JudgedPair] = []
    for group in groups.values():
        if len(group) <= MAX_GROUP_FOR_ALL_PAIRS:
            couples = list(itertools.combinations(group, 2))
        else:
            order = [group[i] for i in rng.permutation(len(group))]
            couples = list(zip(order, order[1:] + order[:1]))
        for a, b in couples:
            out.extend(_item_pairs(a, b))
    return out


def _item_pairs(a: Judged, b: Judged) -> list[JudgedPair]:
    def prefer(x: float, y: float) -> str:
        return "tie" if x == y else ("A" if x > y else "B")

    key = f"{a.key} vs {b.key}"
    out = [JudgedPair(key, d.key, prefer(ha, hb), sa, sb)
           for d, ha, hb, sa, sb in zip(DIMENSIONS, a.human, b.human, a.soft, b.soft)
           if ha is not None and hb is not None]
    if len(out) == len(DIMENSIONS):
        soft_a = None if None in a.soft else sum(a.soft)
        soft_b = None if None in b.soft else sum(b.soft)
        out.append(JudgedPair(key, OVERALL, prefer(sum(a.human), sum(b.human)), soft_a, soft_b))
    return out


def _dimension(items: Sequence[Judged], pairs: Sequence[JudgedPair], i: int, resamples: int,
               seed: int) -> DimensionAgreement:
    d = DIMENSIONS[i]
    both = [(it.human[i], it.hard[i], it.soft[i]) for it in items if it.human[i] is not None and it.hard[i] is not None]
    human = np.array([b[0] for b in both], dtype=float)
    hard = np.array([b[1] for b in both], dtype=float)
    graded = [b for b in both if b[2] is not None]  # a soft score comes only with a written one
    soft = np.array([b[2] for b in graded], dtype=float)
    exact, relaxed, srcc, plcc = pointwise(human, hard, soft, resamples, seed)
    if len(graded) != len(both):  # some items lack a soft score: the correlations use those that have one
        h_soft = np.array([b[0] for b in graded], dtype=float)
        _, _, srcc, plcc = pointwise(h_soft, np.array([b[1] for b in graded], dtype=float), soft, resamples, seed)
    confusion = np.zeros((len(SCORE_VALUES), len(SCORE_VALUES)), dtype=int)
    for h, m, _ in both:
        if h in SCORE_VALUES and m in SCORE_VALUES:
            confusion[h - 1, m - 1] += 1
    ties, no_ties = pairwise([p for p in pairs if p.dimension == d.key], TIE_THRESHOLD, resamples, seed)
    return DimensionAgreement(key=d.key, title=d.title, exact=exact, relaxed=relaxed, srcc=srcc, plcc=plcc,
                              pairwise_ties=ties, pairwise_no_ties=no_ties,
                              confusion=tuple(tuple(int(c) for c in row) for row in confusion))


def _overall(items: Sequence[Judged], pairs: Sequence[JudgedPair], resamples: int,
             seed: int) -> tuple[Metric, Metric, Metric]:
    complete = [it for it in items if None not in it.human and None not in it.hard]
    all_three = np.array([it.human == it.hard for it in complete], dtype=float)
    (exact_all,) = _bootstrap(lambda x, axis=-1: np.mean(x, axis=axis), [all_three],
                              [float(all_three.mean()) if complete else math.nan], resamples, seed)
    ties, no_ties = pairwise([p for p in pairs if p.dimension == OVERALL], TIE_THRESHOLD * len(DIMENSIONS),
                             resamples, seed)
    return exact_all, ties, no_ties


def agreement(items: Sequence[Judged], pairs: Sequence[JudgedPair] | None = None, resamples: int = RESAMPLES,
              seed: int = 0) -> Agreement:
    """Every figure, per dimension and overall. ``pairs`` from a pairwise labels file; without them, pairs are
    formed from the items that share a prompt. The dimensions run on threads (numpy leaves the interpreter lock
    while it gathers, ranks and sums); each bootstrap seeds its own Generator, so the figures do not depend on
    which thread ran first."""
    pairs_from = "labels" if pairs else "clips sharing a prompt"
    pairs = list(pairs) if pairs else pairs_from_items(items, seed)
    with ThreadPoolExecutor(max_workers=min(len(DIMENSIONS) + 1, os.cpu_count() or 1)) as pool:
        dims = [pool.submit(_dimension, items, pairs, i, resamples, seed) for i in range(len(DIMENSIONS))]
        overall = pool.submit(_overall, items, pairs, resamples, seed)
        exact_all, overall_ties, overall_no_ties = overall.result()
        return Agreement(tuple(f.result() for f in dims), exact_all, overall_ties, overall_no_ties,
                         items=len(items), pairs=len(pairs), pairs_from=pairs_from, tie_threshold=TIE_THRESHOLD,
                         resamples=resamples, seed=seed)


def agreement_lines(report: Agreement) -> list[str]:
    """The report as plain text for a terminal: one block per dimension, then overall."""
    out = [f"Agreement with humans over {report.items} item(s) and {report.pairs} pair(s) (pairs from "
           f"{report.pairs_from}; model tie when soft scores differ by < {report.tie_threshold:g}, "
           f"< {report.tie_threshold * len(DIMENSIONS):g} on the sum); 95% bootstrap intervals, "
           f"{report.resamples} resamples, seed {report.seed}"]
    for d in report.dimensions:
        out += [f"{d.title}:",
                f"  exact accuracy            {d.exact.describe()}",
                f"  relaxed accuracy (|Δ|≤1)  {d.relaxed.describe()}",
                f"  SRCC (soft vs human)      {d.srcc.describe(percent=False)}",
                f"  PLCC (soft vs human)      {d.plcc.describe(percent=False)}",
                f"  pairwise, with ties       {d.pairwise_ties.describe()}",
                f"  pairwise, without ties    {d.pairwise_no_ties.describe()}"]
    out += ["Overall:",
            f"  all three exact           {report.all_three.describe()}",
            f"  pairwise, with ties       {report.overall_ties.describe()}",
            f"  pairwise, without ties    {report.overall_no_ties.describe()}"]
    return out
