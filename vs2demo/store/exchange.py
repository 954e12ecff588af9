"""Export and import of the library: results and feedback as JSONL (a whole backup, frames included), feedback as
CSV (one row per review of a dimension, beside the model's scores), and a Hugging Face ``datasets`` folder where
the model's output sits as *suggestions* beside the reviewers' *responses* (the layout annotation tools such as
Argilla read: ``<question>.suggestion``, ``<question>.suggestion.score``, ``<question>.responses``,
``<question>.responses.users``), loadable with ``datasets.load_dataset(folder)``. Each imports back.
"""

from __future__ import annotations

import base64
import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from vs2demo.core.dimensions import DIMENSIONS, JUDGED, OVERALL
from vs2demo.core.errors import InputError, StoreError
from vs2demo.store.feedback import Entry, Feedback, FeedbackStore
from vs2demo.store.results import Frame, Results, StoredResult

CSV_COLUMNS = ("result_id", "kind", "item", "clip", "prompt", "dimension", "model_score", "model_soft", "reviewer",
               "verdict", "score", "comment", "seconds", "unsupported", "version", "updated_at")
DATA_FILE = "data/train-00000-of-00001.parquet"


@dataclass(frozen=True)
class Imported:
    results: int = 0
    skipped_results: int = 0  # already in the library (same id)
    feedback: int = 0
    problems: tuple[str, ...] = ()


# -- JSONL: the whole library ---------------------------------------------------------------------------------


def _result_record(stored: StoredResult, clip: tuple[str, bytes] | None) -> dict:
    d = asdict(stored)
    d["frames"] = [{**asdict(f), "image": base64.b64encode(f.image).decode("ascii")} for f in stored.frames]
    d["seeds"] = list(stored.seeds)
    d["clip"] = None if clip is None else base64.b64encode(clip[1]).decode("ascii")
    return {"type": "result", **d}


def export_jsonl(results: Results, feedback: FeedbackStore, path: Path, clips: bool = False) -> tuple[int, int]:
    """Every result (with its frames; with its kept clip only if ``clips``) and every feedback row, one per line."""
    n_results = n_feedback = 0
    with path.open("w", encoding="utf-8") as out:
        for rid in results.ids():
            stored = results.get(rid)
            out.write(json.dumps(_result_record(stored, results.clip(rid) if clips else None),
                                 ensure_ascii=False) + "\n")
            n_results += 1
        for row in feedback.every():
            out.write(json.dumps({"type": "feedback", **row.to_dict()}, ensure_ascii=False) + "\n")
            n_feedback += 1
    return n_results, n_feedback


def import_jsonl(results: Results, feedback: FeedbackStore, path: Path) -> Imported:
    n = skipped = fb = 0
    problems: list[str] = []
    for number, record in _json_lines(path, problems):
        try:
            if record.get("type") == "result":
                clip = base64.b64decode(record["clip"]) if record.get("clip") else None
                shots = tuple(Frame(f["item"], f["position"], f["seconds"], f["caption"],
                                    base64.b64decode(f["image"])) for f in record.get("frames", []))
                fields = {k: record[k] for k in StoredResult.__dataclass_fields__ if k != "frames"}
                stored = StoredResult(**{**fields, "seeds": tuple(fields["seeds"]), "frames": shots})
                if results.restore(stored, clip):
                    n += 1
                else:
                    skipped += 1
            elif record.get("type") == "feedback":
                _import_feedback(feedback, record)
                fb += 1
            else:
                problems.append(f"line {number}: neither a result nor a feedback record: left out")
        except (KeyError, TypeError, ValueError, StoreError) as exc:
            problems.append(f"line {number}: {exc}: left out")
    return Imported(n, skipped, fb, tuple(problems))


def _json_lines(path: Path, problems: list[str]) -> Iterator[tuple[int, dict]]:
    with _open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                problems.append(f"line {number} is not JSON: left out")
                continue
            if isinstance(record, dict):
                yield number, record


def _open(path: Path):  # type: ignore[no-untyped-def]
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    return path.open(encoding="utf-8-sig")


def _import_feedback(feedback: FeedbackStore, record: dict) -> Feedback:
    seconds = record.get("seconds") or ()
    if isinstance(seconds, str):
        seconds = json.loads(seconds) if seconds.strip() else ()
    entry = Entry(result_id=record["result_id"], dimension=record["dimension"], item=int(record.get("item") or 0),
                  verdict=record.get("verdict") or None,
                  score=int(record["score"]) if record.get("score") not in (None, "") else None,
                  comment=record.get("comment") or "", seconds=tuple(float(s) for s in seconds),
                  unsupported=str(record.get("unsupported")).lower() in ("true", "1"))
    return feedback.save(entry, record["reviewer"])


# -- CSV: feedback beside the model's scores ------------------------------------------------------------------


def _model_scores(stored: StoredResult, item: int, dimension: str) -> tuple[int | None, float | None]:
    clips = stored.clips()
    if stored.kind == "compare" or item >= len(clips) or dimension == OVERALL:
        return None, None
    score = clips[item][1][0].score(dimension)
    return score.hard, score.soft


def feedback_rows(results: Results, feedback: FeedbackStore) -> Iterator[dict]:
    cache: dict[str, StoredResult] = {}
    for row in feedback.every():
        stored = cache.get(row.result_id) or cache.setdefault(row.result_id,
                                                                  results.get(row.result_id, with_frames=False))
        clips = stored.clips()
        hard, soft = _model_scores(stored, row.item, row.dimension)
        clip = "A vs B" if stored.kind == "compare" else (clips[row.item][0] if row.item < len(clips) else "")
        yield {"result_id": row.result_id, "kind": stored.kind, "item": row.item, "clip": clip,
               "prompt": stored.prompt, "dimension": row.dimension, "model_score": hard, "model_soft": soft,
               "reviewer": row.reviewer, "verdict": row.verdict or "", "score": row.score,
               "comment": row.comment, "seconds": json.dumps(list(row.seconds)), "unsupported": row.unsupported,
               "version": row.version, "updated_at": row.updated_at}


def export_csv(results: Results, feedback: FeedbackStore, path: Path) -> int:
    n = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in feedback_rows(results, feedback):
            writer.writerow(row)
            n += 1
    return n


def import_csv(feedback: FeedbackStore, path: Path) -> Imported:
    n = 0
    problems: list[str] = []
    with _open(path) as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("result_id", "dimension", "reviewer") if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path.name} lacks the column(s) {', '.join(missing)}")
        for record in reader:
            try:
                _import_feedback(feedback, record)
                n += 1
            except (KeyError, TypeError, ValueError, StoreError) as exc:
                problems.append(f"line {reader.line_num}: {exc}: left out")
    return Imported(feedback=n, problems=tuple(problems))


RESULT_COLUMNS = ("result_id", "kind", "created_at", "item", "clip", "prompt", "model", "revision", "seeds",
                  *(f"{d.key}_{x}" for d in DIMENSIONS for x in ("score", "soft")), "parse", "command")


def export_results_csv(results: Results, path: Path) -> int:
    """One row per clip of every result (a comparison's A and B, a ranking's clips): the model's scores and soft
    scores beside the link's id, for a spreadsheet. (For reading only: the JSONL export restores results.)"""
    n = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        for rid in results.ids():
            stored = results.get(rid, with_frames=False)
            for item, (name, samples) in enumerate(stored.clips()):
                first = samples[0]
                row = {"result_id": rid, "kind": stored.kind, "created_at": stored.date, "item": item, "clip": name,
                       "prompt": first.prompt, "model": stored.model, "revision": stored.revision or "",
                       "seeds": " ".join(str(r.options.seed) for r in samples), "parse": str(first.parse_method),
                       "command": stored.command}
                for score in first.scores:
                    row |= {f"{score.key}_score": score.hard, f"{score.key}_soft": score.soft}
                writer.writerow(row)
                n += 1
    return n


# -- the datasets layout: suggestions beside responses ----------------------------------------------------------


def dataset_records(results: Results, feedback: FeedbackStore) -> list[dict]:
    """One record per clip of every result with feedback: the model's output as suggestions, each reviewer's
    answers as responses (lists, one entry per reviewer, in the same order as ``*.responses.users``)."""
    by_clip: dict[tuple[str, int], list[Feedback]] = defaultdict(list)
    for row in feedback.every():
        by_clip[(row.result_id, row.item)].append(row)
    out = []
    for (rid, item), rows in by_clip.items():
        stored = results.get(rid, with_frames=False)
        clips = stored.clips()
        name = "A vs B" if stored.kind == "compare" else clips[min(item, len(clips) - 1)][0]
        first = clips[min(item, len(clips) - 1)][1][0]
        record = {"id": f"{rid}#{item}", "result_id": rid, "item": item, "kind": stored.kind, "clip": name,
                  "prompt": stored.prompt, "reasoning": first.raw_output, "model": stored.model}
        for q in JUDGED:
            hard, soft = _model_scores(stored, item, q)
            answers = sorted((r for r in rows if r.dimension == q), key=lambda r: r.reviewer)
            record |= {f"{q}.suggestion": hard, f"{q}.suggestion.score": soft,
                       f"{q}.suggestion.agent": stored.model,
                       f"{q}.responses": [r.score for r in answers],
                       f"{q}.responses.users": [r.reviewer for r in answers],
                       f"{q}.responses.status": ["submitted"] * len(answers),
                       f"{q}_verdict.responses": [r.verdict or "" for r in answers],
                       f"{q}_comment.responses": [r.comment for r in answers],
                       f"{q}_seconds.responses": [list(r.seconds) for r in answers],
                       f"{q}_unsupported.responses": [r.unsupported for r in answers]}
        out.append(record)
    return out


def _features():  # type: ignore[no-untyped-def]
    from datasets import Features, Sequence, Value

    features = {"id": Value("string"), "result_id": Value("string"), "item": Value("int64"),
                "kind": Value("string"), "clip": Value("string"), "prompt": Value("string"),
                "reasoning": Value("string"), "model": Value("string")}
    for q in JUDGED:
        features |= {f"{q}.suggestion": Value("int64"), f"{q}.suggestion.score": Value("float64"),
                     f"{q}.suggestion.agent": Value("string"), f"{q}.responses": Sequence(Value("int64")),
                     f"{q}.responses.users": Sequence(Value("string")),
                     f"{q}.responses.status": Sequence(Value("string")),
                     f"{q}_verdict.responses": Sequence(Value("string")),
                     f"{q}_comment.responses": Sequence(Value("string")),
                     f"{q}_seconds.responses": Sequence(Sequence(Value("float64"))),
                     f"{q}_unsupported.responses": Sequence(Value("bool"))}
    return Features(features)


CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: {data_file}
task_categories:
- video-classification
tags:
- videoscore2
- human-feedback
- rlaif
---
# Reviews of VideoScore2 rationales

Exported by `python -m vs2demo library export --format datasets`. One row per reviewed clip: the model's output as
*suggestions* (`<dimension>.suggestion`: the written score, `.suggestion.score`: the official soft score) beside the
reviewers' *responses* (`<dimension>.responses`, one entry per reviewer in `<dimension>.responses.users` order;
verdicts, comments, the seconds concerned and the "not in the clip" flag in `<dimension>_*.responses`). Reviewers
are hashed browser tokens. Dimensions: {dimensions}; `overall` holds comparison preferences.
{count} rows. Load with `datasets.load_dataset("<this folder>")`.
"""


def export_datasets(results: Results, feedback: FeedbackStore, folder: Path) -> int:
    from datasets import Dataset

    records = dataset_records(results, feedback)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    Dataset.from_list(records, features=_features()).to_parquet(str(folder / DATA_FILE))
    (folder / "README.md").write_text(CARD.format(data_file=DATA_FILE, count=len(records),
                                                  dimensions=", ".join(d.key for d in DIMENSIONS)), encoding="utf-8")
    return len(records)


def import_datasets(feedback: FeedbackStore, folder: Path) -> Imported:
    """Responses back as feedback rows (the results must be in the library: the layout carries reviews only)."""
    import pyarrow.parquet as pq

    if not (folder / DATA_FILE).is_file():
        raise InputError(f"{folder} is not an export of this library ({DATA_FILE} is missing)")
    # read directly, not through load_dataset: its cache could hand back an earlier export at the same path
    rows = pq.read_table(folder / DATA_FILE).to_pylist()
    n = 0
    problems: list[str] = []
    for index, record in enumerate(rows):
        for q in JUDGED:
            answers = zip(record[f"{q}.responses.users"], record[f"{q}.responses"], record[f"{q}_verdict.responses"],
                          record[f"{q}_comment.responses"], record[f"{q}_seconds.responses"],
                          record[f"{q}_unsupported.responses"])
            for user, score, verdict, comment, seconds, unsupported in answers:
                try:
                    _import_feedback(feedback, {"result_id": record["result_id"], "dimension": q,
                                                "item": record["item"], "verdict": verdict, "score": score,
                                                "comment": comment, "seconds": seconds, "unsupported": unsupported,
                                                "reviewer": user})
                    n += 1
                except (KeyError, TypeError, ValueError, StoreError) as exc:
                    problems.append(f"row {index}, {q}: {exc}: left out")
    return Imported(feedback=n, problems=tuple(problems))
