"""How stable a score is across K samples of the same clip (pure: results in, summary out).

VideoScore2 samples at temperature 0.7, so one clip can read 4/4/4 and then 3/4/1. Per dimension: how the K hard
scores spread over 1–5, the mean and spread of the official soft score, the agreement (share of samples on the
most common score) and a plain label:

- "stable": at least STABLE_AGREEMENT of the samples give the same score;
- "±1": not that, but every sample gives a score within 1 of the most common one;
- "unstable": some sample is 2 or more away, or gave no score at all;
- "one sample": a single sample says nothing about stability.

Samples stopped before they finished are left out and counted apart: a cut-off text has no scores yet, which says
nothing about how stable the judge is.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from vs2demo.analysis.result import Result
from vs2demo.core.dimensions import DIMENSIONS, SCORE_VALUES

STABLE_AGREEMENT = 0.8
STABLE, WITHIN_ONE, UNSTABLE, ONE_SAMPLE, NO_SCORES = "stable", "±1", "unstable", "one sample", "no scores"


@dataclass(frozen=True)
class DimensionStability:
    key: str
    title: str
    counts: tuple[int, ...]  # how many samples gave 1, 2, 3, 4, 5
    missing: int  # samples that gave no score for this dimension
    mode: int | None  # the most common score (the lower one on a tie)
    agreement: float | None  # share of all samples on the mode
    soft_mean: float | None  # mean of the official soft score over the samples that have one
    soft_std: float | None  # its standard deviation (population)
    label: str


@dataclass(frozen=True)
class Stability:
    seeds: tuple[int | None, ...]  # the finished samples' seeds: `score --seed` reproduces each alone
    dimensions: tuple[DimensionStability, ...]
    unfinished: int = 0  # samples stopped before they finished: not counted in any dimension

    @property
    def samples(self) -> int:
        return len(self.seeds)

    def dimension(self, key: str) -> DimensionStability:
        return next(d for d in self.dimensions if d.key == key)

    def to_dict(self) -> dict:
        return {"samples": self.samples, "unfinished": self.unfinished, "seeds": list(self.seeds),
                "stable_agreement": STABLE_AGREEMENT,
                "dimensions": {d.key: {k: v for k, v in asdict(d).items() if k != "key"} for d in self.dimensions}}


def label(hard: Sequence[int | None]) -> str:
    """The stability label of one dimension's K hard scores (None: no score in that sample)."""
    scores = [h for h in hard if h is not None]
    if len(hard) == 1:
        return ONE_SAMPLE
    if not scores:
        return NO_SCORES
    mode = _mode(scores)
    if scores.count(mode) / len(hard) >= STABLE_AGREEMENT:
        return STABLE
    if len(scores) == len(hard) and all(abs(s - mode) <= 1 for s in scores):
        return WITHIN_ONE
    return UNSTABLE


def _mode(scores: list[int]) -> int:
    return min(set(scores), key=lambda s: (-scores.count(s), s))


def summarize(samples: Sequence[Result]) -> Stability:
    """Per dimension over the finished samples; stopped ones are only counted as unfinished."""
    finished = [r for r in samples if not r.stopped]
    unfinished = len(samples) - len(finished)
    samples = finished
    dims = []
    for i, d in enumerate(DIMENSIONS):
        hard = [r.scores[i].hard for r in samples]
        soft = [r.scores[i].soft for r in samples if r.scores[i].soft is not None]
        parsed = [h for h in hard if h is not None]
        mode = _mode(parsed) if parsed else None
        dims.append(DimensionStability(
            key=d.key, title=d.title, counts=tuple(parsed.count(v) for v in SCORE_VALUES),
            missing=len(hard) - len(parsed), mode=mode,
            agreement=parsed.count(mode) / len(hard) if mode is not None else None,
            soft_mean=round(statistics.fmean(soft), 4) if soft else None,
            soft_std=round(statistics.pstdev(soft), 4) if soft else None,
            label=label(hard) if hard else NO_SCORES))
    return Stability(tuple(r.options.seed for r in samples), tuple(dims), unfinished)


def unfinished_note(summary: Stability) -> str:
    """Says how many samples were stopped and left out ('' when none were)."""
    n = summary.unfinished
    return "" if not n else f"{n} sample{'s' if n > 1 else ''} stopped before finishing, not counted"


def samples_dict(samples: Sequence[Result], paths: bool = True) -> dict:
    """One clip's JSON: its first sample as a single result reads; with several samples, every sample and the
    stability summary too."""
    data = samples[0].to_dict(paths)
    if len(samples) > 1:
        data["samples"] = [s.to_dict(paths) for s in samples]
        data["stability"] = summarize(samples).to_dict()
    return data


def samples_from_dict(data: dict) -> tuple[Result, ...]:
    """One clip's samples back from ``samples_dict``: every sample when there are several, else the one result."""
    return tuple(Result.from_dict(d) for d in data.get("samples") or [data])


def stability_lines(summary: Stability) -> list[str]:
    """The summary as plain text lines for a terminal."""
    seeds = f", seeds {summary.seeds[0]}…{summary.seeds[-1]}" if summary.seeds else ""
    note = f"; {unfinished_note(summary)}" if summary.unfinished else ""
    out = [f"[{summary.samples} finished samples{seeds}{note}: how stable each score is]"]
    for d in summary.dimensions:
        spread = " ".join(f"{s}×{n}" for s, n in zip(SCORE_VALUES, d.counts) if n) + (
            f" none×{d.missing}" if d.missing else "")
        soft = "" if d.soft_mean is None else f"  soft {d.soft_mean:.3f} ± {d.soft_std:.3f}"
        agreement = "" if d.agreement is None else f"  agreement {100 * d.agreement:.0f}%"
        out.append(f"  {d.title:<36} {d.label:<10} {spread}{agreement}{soft}")
    return out
