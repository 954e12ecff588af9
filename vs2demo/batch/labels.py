"""Human labels for agreement: a CSV of scores per clip (video,prompt,visual_quality,text_to_video_alignment,
physical_consistency) or of preferences per pair (video_a,video_b,prompt,preference[,dimension], preference A, B
or tie), joined with a results JSONL (what ``score --batch`` and ``rank --out`` write).

Nothing in a labels file stops the run but a file that cannot be read at all or lacks its columns: every other
problem (a score outside 1-5, a duplicate row, a clip with no result, a byte-order mark) is one line, counted by
kind, and the row is left out (a byte-order mark is only noted).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from vs2demo.analysis.agreement import PREFERENCES, Judged, JudgedPair
from vs2demo.batch.jobs import FIELD_LIMIT, BatchError, printable
from vs2demo.core.dimensions import DIMENSIONS, JUDGED, OVERALL, SCORE_VALUES

POINT_COLUMNS = ("video", "prompt", *(d.key for d in DIMENSIONS))
PAIR_COLUMNS = ("video_a", "video_b", "prompt", "preference")
BOM = "byte-order mark"
MISSING = "missing value"
OUT_OF_RANGE = "score outside 1-5"
DUPLICATE = "duplicate row"
UNKNOWN = "unknown clip"
UNSCORED = "clip without scores"
BAD_PREFERENCE = "bad preference"


@dataclass
class Problems:
    """One line per problem, and how many of each kind."""

    lines: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def add(self, kind: str, line: str) -> None:
        self.lines.append(line)
        self.counts[kind] += 1


@dataclass(frozen=True)
class PointLabel:
    line: int
    video: str
    prompt: str
    scores: tuple[int | None, ...]  # per dimension; None where the cell is empty


@dataclass(frozen=True)
class PairLabel:
    line: int
    video_a: str
    video_b: str
    prompt: str
    preference: str  # A, B or tie
    dimension: str  # a dimension key, or overall


@dataclass(frozen=True)
class Labels:
    points: tuple[PointLabel, ...]
    pairs: tuple[PairLabel, ...]
    rows: int


def read_labels(path: Path, problems: Problems) -> Labels:
    """Every usable row of the labels CSV; each unusable one is a line in ``problems``."""
    if not path.is_file():
        raise BatchError(f"no such labels file: {printable(str(path))}")
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.add(BOM, f"{printable(path.name)} starts with a UTF-8 byte-order mark (as Excel writes): read "
                          "as UTF-8 without it")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BatchError(f"{printable(path.name)} is not UTF-8 text (save it as 'CSV UTF-8')") from exc
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    reader = csv.DictReader(text.splitlines(keepends=True))
    try:
        header = {(c or "").strip(): c for c in reader.fieldnames or []}
        pairwise = "preference" in header
        required = PAIR_COLUMNS if pairwise else POINT_COLUMNS
        missing = [c for c in required if c not in header]
        if missing:
            kind = "pairwise labels" if pairwise else "labels"
            raise BatchError(f"{printable(path.name)} lacks the column(s) {', '.join(missing)}: {kind} need "
                             f"{','.join(required)}{',dimension' if pairwise else ''} in the first line")
        points: list[PointLabel] = []
        pairs: list[PairLabel] = []
        seen: dict[tuple, int] = {}
        rows = 0
        line = reader.line_num + 1
        for record in reader:
            rows += 1
            values = {c: (record.get(header[c]) if c in header else None) for c in (*required, "dimension")}
            label = (_pair if pairwise else _point)(line, values, problems)
            if label is not None:
                # clips are matched by file name (a path or a bare name alike), so duplicates are too
                key = (Path(label.video_a).name, Path(label.video_b).name, label.prompt, label.dimension) if pairwise \
                    else (Path(label.video).name, label.prompt)
                if key in seen:
                    problems.add(DUPLICATE, f"line {line} repeats line {seen[key]} "
                                            f"({printable(' / '.join(key))}): the first is kept")
                else:
                    seen[key] = line
                    (pairs if pairwise else points).append(label)
            line = reader.line_num + 1
    except csv.Error as exc:
        raise BatchError(f"{printable(path.name)}, line {reader.line_num}: {exc}") from exc
    return Labels(tuple(points), tuple(pairs), rows)


def _point(line: int, values: dict, problems: Problems) -> PointLabel | None:
    video, prompt = (values["video"] or "").strip(), values["prompt"]
    if not video or prompt is None:
        problems.add(MISSING, f"line {line} has no {'video' if not video else 'prompt'}: left out")
        return None
    scores: list[int | None] = []
    for d in DIMENSIONS:
        cell = (values[d.key] or "").strip()
        if not cell:
            scores.append(None)
            continue
        try:
            number = float(cell)
        except ValueError:
            number = float("nan")
        if not number.is_integer() or int(number) not in SCORE_VALUES:
            problems.add(OUT_OF_RANGE, f"line {line}: {d.key} is {printable(cell[:20])!r}, not a score from 1 to 5: "
                                       "row left out")
            return None
        scores.append(int(number))
    if all(s is None for s in scores):
        problems.add(MISSING, f"line {line} has no score at all: left out")
        return None
    return PointLabel(line, video, prompt.strip(), tuple(scores))


def _pair(line: int, values: dict, problems: Problems) -> PairLabel | None:
    a, b, prompt = (values["video_a"] or "").strip(), (values["video_b"] or "").strip(), values["prompt"]
    if not a or not b or prompt is None:
        problems.add(MISSING, f"line {line} lacks video_a, video_b or prompt: left out")
        return None
    preference = {"a": "A", "b": "B", "tie": "tie"}.get((values["preference"] or "").strip().lower())
    if preference not in PREFERENCES:
        problems.add(BAD_PREFERENCE, f"line {line}: preference {printable((values['preference'] or '')[:20])!r} is "
                                     "not A, B or tie: left out")
        return None
    dimension = (values.get("dimension") or "").strip() or OVERALL
    if dimension not in JUDGED:
        problems.add(MISSING, f"line {line}: dimension {printable(dimension[:40])!r} is not one of "
                              f"{', '.join(JUDGED)}: left out")
        return None
    return PairLabel(line, a, b, prompt.strip(), preference, dimension)


def _index(records: dict[tuple, dict]) -> dict[tuple[str, str], dict]:
    """Results by (file name, prompt): labels name clips by path or by file name alike."""
    out: dict[tuple[str, str], dict] = {}
    for (video, prompt), record in records.items():
        if video is not None and prompt is not None:
            out.setdefault((Path(str(video)).name, str(prompt).strip()), record)
    return out


def _model(record: dict) -> tuple[tuple[int | None, ...], tuple[float | None, ...]] | None:
    scores = record.get("scores")
    if "error" in record or not isinstance(scores, dict):
        return None
    hard = tuple((scores.get(d.key) or {}).get("hard") for d in DIMENSIONS)
    soft = tuple((scores.get(d.key) or {}).get("soft") for d in DIMENSIONS)
    return hard, soft


def join(labels: Labels, records: dict[tuple, dict], problems: Problems) -> tuple[list[Judged], list[JudgedPair]]:
    """Human labels beside the model's scores for the same clip and prompt."""
    index = _index(records)

    def find(line: int, video: str, prompt: str) -> tuple | None:
        record = index.get((Path(video).name, prompt))
        if record is None:
            problems.add(UNKNOWN, f"line {line}: no result for {printable(video)} with this prompt in the results "
                                  "file: left out")
            return None
        model = _model(record)
        if model is None:
            problems.add(UNSCORED, f"line {line}: the result for {printable(video)} has no scores "
                                   f"({printable(str(record.get('error', 'no scores'))[:80])}): left out")
        return model

    items: list[Judged] = []
    for p in labels.points:
        model = find(p.line, p.video, p.prompt)
        if model is not None:
            items.append(Judged(p.video, p.prompt, p.scores, *model))
    pairs: list[JudgedPair] = []
    for p in labels.pairs:
        a, b = find(p.line, p.video_a, p.prompt), find(p.line, p.video_b, p.prompt)
        if a is not None and b is not None:
            pairs.append(JudgedPair(f"{p.video_a} vs {p.video_b}", p.dimension, p.preference,
                                    _soft(a[1], p.dimension), _soft(b[1], p.dimension)))
    return items, pairs


def _soft(soft: tuple[float | None, ...], dimension: str) -> float | None:
    if dimension == OVERALL:
        return None if None in soft else round(sum(soft), 4)
    return soft[[d.key for d in DIMENSIONS].index(dimension)]
