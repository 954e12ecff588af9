"""Faithfulness of a claimed ranking of seconds (pure): deletion and insertion curves against random orders.

The claim is "the reasoning rests most on these seconds, in this order". Deletion hides segments cumulatively in the
claimed order and follows how much the measure drops (a faithful order drops it fastest: a large area under the
curve); insertion starts from every segment hidden and shows them back in that order (a faithful order recovers
fastest: a small area). The claimed order's areas are placed among those of random orders (RISE, arXiv
1806.07421): the percentile says how many random orders it does at least as well as. Redundancy is the whole-clip
effect minus the sum of single-segment effects: positive when evidence is spread over seconds that each alone seem
to matter little.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MIN_RANDOM_ORDERS = 20
BEATS_AT = 90.0  # the page says "beats random order" from this percentile
DISTINGUISHABLE_AT = 50.0  # …and only when it beats at least this share of random orders by more than the floor


@dataclass(frozen=True)
class Faithfulness:
    order: tuple[int, ...]  # the claimed ranking (segment indices, strongest first)
    deletion: tuple[float, ...]  # the measure's drop with the first k segments hidden, k = 0 … n
    insertion: tuple[float, ...]  # the drop with all but the first k hidden, k = 0 … n
    deletion_auc: float
    insertion_auc: float
    deletion_percentile: float  # share of random orders whose deletion area is not larger, in %
    insertion_percentile: float  # share of random orders whose insertion area is not smaller, in %
    random_orders: int
    redundancy: float  # whole-clip drop − Σ single-segment drops
    # share of random orders whose deletion area it exceeds by more than the floor, %; None: not recorded (an
    # explanation stored before it was measured)
    deletion_beaten: float | None = None
    unit: str = "nats per token of the reasoning"

    @property
    def distinguishable(self) -> bool:
        """The ranking's curve differs from a typical random order's by more than the noise floor: with every area
        within the floor of every other, "at least as good as all of them" says nothing."""
        return self.deletion_beaten is not None and self.deletion_beaten >= DISTINGUISHABLE_AT

    @property
    def beats_random(self) -> bool:
        return self.deletion_percentile >= BEATS_AT and self.distinguishable


def auc(curve: Sequence[float]) -> float:
    """The trapezoid area under a curve sampled at k = 0 … n, normalised to x in [0, 1]."""
    if len(curve) < 2:
        return float(curve[0]) if curve else 0.0
    n = len(curve) - 1
    return sum((a + b) / 2 for a, b in itertools.pairwise(curve)) / n


def random_orders(n: int, count: int, seed: int = 0) -> list[tuple[int, ...]]:
    """``count`` random permutations of range(n), from a fixed seed (every run compares against the same band)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        order = list(range(n))
        rng.shuffle(order)
        out.append(tuple(order))
    return out


def deletion_sets(order: Sequence[int]) -> list[frozenset[int]]:
    """The hidden sets of a deletion curve: the first k of ``order``, k = 0 … n."""
    return [frozenset(order[:k]) for k in range(len(order) + 1)]


def insertion_sets(order: Sequence[int]) -> list[frozenset[int]]:
    """The hidden sets of an insertion curve: all but the first k of ``order``, k = 0 … n."""
    return [frozenset(order[k:]) for k in range(len(order) + 1)]


def percentile(value: float, band: Sequence[float], higher_is_better: bool, tolerance: float = 0.0) -> float:
    """How many of ``band`` ``value`` does at least as well as, in %. Ties count as matched, not lost (a perfect
    ranking of one decisive second ties with every random order that happens to put it first, and should still
    read as the 100th percentile), and so do differences within ``tolerance`` (the measure's noise floor)."""
    if not band:
        return 50.0
    matched = sum(1 for b in band if (value >= b - tolerance if higher_is_better else value <= b + tolerance))
    return round(100.0 * matched / len(band), 1)


def assess(order: Sequence[int], measure: Callable[[frozenset[int]], float], orders: Sequence[Sequence[int]],
           singles: Sequence[float], tolerance: float = 0.0) -> Faithfulness:
    """The claimed ``order`` against random ``orders``; ``measure(hidden)`` is the drop with a set hidden; areas
    within ``tolerance`` of each other are not told apart."""
    def curves(o: Sequence[int]) -> tuple[list[float], list[float]]:
        return [measure(s) for s in deletion_sets(o)], [measure(s) for s in insertion_sets(o)]

    deletion, insertion = curves(order)
    band = [curves(o) for o in orders]
    whole = measure(frozenset(order))
    return Faithfulness(
        tuple(order), tuple(round(x, 4) for x in deletion), tuple(round(x, 4) for x in insertion),
        round(auc(deletion), 4), round(auc(insertion), 4),
        percentile(auc(deletion), [auc(d) for d, _ in band], higher_is_better=True, tolerance=tolerance),
        percentile(auc(insertion), [auc(i) for _, i in band], higher_is_better=False, tolerance=tolerance),
        len(orders), round(whole - sum(singles), 4),
        strictly_beaten(auc(deletion), [auc(d) for d, _ in band], tolerance))


def strictly_beaten(value: float, band: Sequence[float], tolerance: float = 0.0) -> float:
    """How many of ``band`` ``value`` exceeds by more than ``tolerance``, in % (ties and near-ties not counted)."""
    if not band:
        return 0.0
    return round(100.0 * sum(1 for b in band if value > b + tolerance) / len(band), 1)


def needed_sets(order: Sequence[int], orders: Sequence[Sequence[int]]) -> list[frozenset[int]]:
    """Every distinct hidden set the curves need (at most 2ⁿ whatever the number of orders): one pass each."""
    sets: dict[frozenset[int], None] = {}
    for o in [order, *orders]:
        for s in deletion_sets(o) + insertion_sets(o):
            sets.setdefault(s, None)
    return list(sets)


def from_dict(d: dict) -> Faithfulness:
    return Faithfulness(tuple(d["order"]), tuple(d["deletion"]), tuple(d["insertion"]), d["deletion_auc"],
                        d["insertion_auc"], d["deletion_percentile"], d["insertion_percentile"], d["random_orders"],
                        d["redundancy"], deletion_beaten=d.get("deletion_beaten"),
                        unit=d.get("unit", "nats per token of the reasoning"))
