"""Stored feedback read as labels: per clip and reviewer, the score a person would give beside the model's, and
per comparison the side a person prefers; plus the list of places where reviewer and model disagree."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from vs2demo.analysis.agreement import Judged, JudgedPair
from vs2demo.analysis.result import Result
from vs2demo.analysis.verdict import compare
from vs2demo.core.dimensions import DIMENSIONS, OVERALL
from vs2demo.core.errors import StoreError
from vs2demo.store.feedback import AGREE, DISAGREE, PREFERENCES, Feedback, FeedbackStore
from vs2demo.store.results import Results, StoredResult


@dataclass(frozen=True)
class Disagreement:
    """A place where a reviewer does not agree with the model (shown with a link to its result)."""

    result_id: str
    kind: str
    clip: str
    dimension: str
    model: str  # what the model said: a score, or the side it prefers
    human: str  # what the reviewer said
    comment: str
    unsupported: bool


def human_score(row: Feedback, model_hard: int | None) -> int | None:
    """The score a reviewer gives: theirs when written; the model's when they only agreed; else none."""
    if row.score is not None:
        return row.score
    return model_hard if row.verdict == AGREE else None


def _model_side(a: Result, b: Result, dimension: str) -> str:
    rows = compare(a, b)
    row = rows[-1] if dimension == OVERALL else next(r for r in rows if r.key == dimension)
    return str(row.winner)


def from_store(results: Results, feedback: FeedbackStore) -> tuple[list[Judged], list[JudgedPair], list[Disagreement]]:
    """Every stored review as agreement input: one item per (result, clip, reviewer) with a score on some dimension,
    one pair per comparison preference (both bad is left out: it prefers neither), and the disagreements."""
    grouped: dict[tuple[str, int, str], dict[str, Feedback]] = defaultdict(dict)
    for row in feedback.every():
        grouped[(row.result_id, row.item, row.reviewer)][row.dimension] = row
    cache: dict[str, StoredResult | None] = {}
    items: list[Judged] = []
    pairs: list[JudgedPair] = []
    disagreements: list[Disagreement] = []
    for (rid, item, _), rows in grouped.items():
        if rid not in cache:
            try:
                cache[rid] = results.get(rid, with_frames=False)
            except StoreError:
                cache[rid] = None
        stored = cache[rid]
        if stored is None:
            continue
        clips = stored.clips()
        if stored.kind == "compare":
            a, b = clips[0][1][0], clips[1][1][0]
            for dim, row in rows.items():
                if row.verdict not in PREFERENCES:
                    continue
                side = _model_side(a, b, dim)
                if row.verdict != "both_bad":
                    softs = [_soft(r, dim) for r in (a, b)]
                    pairs.append(JudgedPair(rid, dim, row.verdict, *softs))
                if row.verdict != side or row.unsupported:
                    disagreements.append(Disagreement(rid, stored.kind, "A vs B", dim, side, row.verdict,
                                                      row.comment, row.unsupported))
            continue
        if item >= len(clips):
            continue
        name, samples = clips[item]
        result = samples[0]
        human = []
        for d in DIMENSIONS:
            row = rows.get(d.key)
            hard = result.score(d.key).hard
            score = None if row is None else human_score(row, hard)
            human.append(score)
            if row is not None and (row.verdict == DISAGREE or (score is not None and score != hard)
                                    or row.unsupported):
                said = row.verdict or ""
                if row.score is not None:
                    said = f"{said} · would give {row.score}".strip(" ·")
                disagreements.append(Disagreement(rid, stored.kind, name, d.key, "–" if hard is None else str(hard),
                                                  said or "flagged", row.comment, row.unsupported))
        if any(h is not None for h in human):
            items.append(Judged(f"{rid}#{item}", result.prompt, tuple(human),
                                tuple(s.hard for s in result.scores), tuple(s.soft for s in result.scores)))
    return items, pairs, disagreements


def _soft(result: Result, dimension: str) -> float | None:
    if dimension == OVERALL:
        softs = [s.soft for s in result.scores]
        return None if None in softs else round(sum(softs), 4)
    return result.score(dimension).soft
