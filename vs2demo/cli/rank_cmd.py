"""The ``rank`` command: Best-of-N over any number of clips, for one prompt or per prompt of a CSV.

Clips are checked first (a bad clip becomes an error record, the rest go on), then scored in batches of up to
BATCH clips with K samples each; each clip's results are written to the JSONL as its batch finishes, so a
re-run resumes. The leaderboard (per prompt) is printed and, with --table, written as CSV or JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from vs2demo.analysis.rank import RANK_BY, Leaderboard, rank_values, soft_sum
from vs2demo.analysis.stability import samples_dict
from vs2demo.batch import distributed, jobs
from vs2demo.batch.jobs import printable
from vs2demo.core.dimensions import OVERALL
from vs2demo.core.errors import InputError, VS2Error
from vs2demo.engine.events import Job
from vs2demo.input.prompt import validate_prompt

BATCH = 8  # clips per generate() call (times K samples), chunked further when memory is short
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    r = sub.add_parser("rank", parents=[common], help="rank clips for a prompt by the sum of official soft scores")
    r.add_argument("videos", nargs="*", help="video files")
    r.add_argument("--folder", help="rank every video in this folder")
    r.add_argument("--csv", help="CSV with a video column (and a prompt column: each prompt is ranked on its own)")
    r.add_argument("--prompt", help="the prompt every clip was generated from (unless the CSV has a prompt column)")
    r.add_argument("--by", default=OVERALL, choices=RANK_BY, help="rank by the sum (overall) or one dimension")
    r.add_argument("--out", help="JSONL of every clip's results (resumes: clips already there are skipped)")
    r.add_argument("--table", help="write the leaderboard as .csv or .json")
    distributed.add_options(r)


def candidates(args: argparse.Namespace) -> list[jobs.JobRow]:
    """(video, prompt) rows from the arguments, a folder or a CSV."""
    rows = [jobs.JobRow(0, str(v), args.prompt) for v in args.videos]
    if args.folder:
        folder = Path(args.folder)
        if not folder.is_dir():
            raise InputError(f"no such folder: {printable(str(folder))}")
        rows += [jobs.JobRow(0, str(p), args.prompt) for p in sorted(folder.iterdir())
                 if p.suffix.lower() in VIDEO_SUFFIXES]
    if args.csv:
        rows += [r if r.prompt is not None else jobs.JobRow(r.line, r.video, args.prompt)
                 for r in jobs.read_rows(Path(args.csv), required=("video",))]
    if not rows:
        raise InputError("give the clips to rank: VIDEO files, --folder DIR or --csv FILE")
    if any(r.prompt is None for r in rows):
        raise InputError("--prompt is required (or a prompt column in the CSV)")
    return rows


def run(evaluator, args: argparse.Namespace, options) -> int:
    from tqdm import tqdm

    rows = candidates(args)
    out = Path(args.out) if args.out else None
    if out:
        jobs.check_output(out)
    done = jobs.records(out) if out else {}
    todo = [r for r in rows if r.key not in done]
    with tqdm(total=len(rows), initial=len(rows) - len(todo), desc="ranking", unit="clip", file=sys.stderr) as bar:
        if getattr(args, "ray", None) is not None:  # one clip per Ray row, spread over model replicas
            outcomes = distributed.score_rows(todo, args.ray, args.replicas, distributed.config_from(args, options))
        else:
            outcomes = _score_in_batches(evaluator, todo, options)
        for row, record, problem in outcomes:
            done[row.key] = _write(out, record)
            if problem:
                tqdm.write(f"error: {printable(str(row.video))}: {printable(problem)}", file=sys.stderr)
            bar.update()
    if out:
        jobs.check_complete(out, rows)
    boards = {prompt: _board([r for r in rows if r.prompt == prompt], done, args.by)
              for prompt in dict.fromkeys(r.prompt for r in rows)}
    for prompt, board in boards.items():
        _print_board(prompt, board)
    if args.table:
        write_table(Path(args.table), boards)
    return 0 if all("error" not in done[r.key] for r in rows) else 1


def _score_in_batches(evaluator, todo: Sequence[jobs.JobRow], options
                      ) -> Iterator[tuple[jobs.JobRow, dict, str | None]]:
    """(row, record, problem) per clip: bad clips and prompts are refused one by one first, so no batch fails for
    them; the rest run BATCH clips per generate() call."""
    good = []
    for row in todo:
        try:
            if row.problem():
                raise InputError(row.problem())
            validate_prompt(row.prompt)
            evaluator.plan(row.video, options.fps)
            good.append(row)
        except VS2Error as exc:
            yield row, jobs.error_record(row, str(exc)), str(exc)
    for part in [good[i:i + BATCH] for i in range(0, len(good), BATCH)]:
        outcomes = evaluator.evaluate_many([Job(r.video, r.prompt) for r in part], options)
        for row, samples in zip(part, outcomes):
            yield row, {**samples_dict(samples), "runtime": jobs.runtime(evaluator)}, None


def _write(out: Path | None, record: dict) -> dict:
    if out is not None:
        with out.open("a", encoding="utf-8") as sink:
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


def _board(rows: Sequence[jobs.JobRow], done: dict, by: str) -> Leaderboard:
    values = [record_values(done[row.key], by) for row in rows]
    k = max((len(v) for v in values), default=1) or 1
    return rank_values([str(r.video) for r in rows], [v or [None] * k for v in values], by)


def record_values(record: dict, by: str) -> list[float | None]:
    """The ranked value of each sample in a JSONL record; an error record has none, and a record whose scores are
    not shaped as ours (edited by hand, written by another tool) counts as unscored rather than stopping the run."""
    if "error" in record:
        return []
    samples = record.get("samples", [record])
    if not isinstance(samples, list):
        return [None]
    return [_sample_value(sample, by) for sample in samples] or [None]


def _sample_value(sample: object, by: str) -> float | None:
    scores = sample.get("scores") if isinstance(sample, dict) else None
    if not isinstance(scores, dict):
        return None
    softs = {key: s.get("soft") if isinstance(s, dict) else None for key, s in scores.items()}
    if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in softs.values()):
        return None
    return soft_sum(softs, by)


def _print_board(prompt: str, board: Leaderboard) -> None:
    print(f"Best of {len(board.clips)} for {printable(prompt)!r} (by {board.by}, {board.samples} sample(s) each):")
    for c in board.clips:
        value = "no score" if c.value is None else f"{c.value:.4f}"
        first = f"first in {c.firsts} of {board.samples}" if board.samples > 1 else ""
        flag = "  (overlaps a neighbour)" if c.overlaps else ""
        print(f"  #{c.rank:<3} {value:>9}  {first:<16} {printable(c.name)}{flag}")


def write_table(path: Path, boards: dict[str, Leaderboard]) -> None:
    rows = [{"prompt": prompt, "rank": c.rank, "video": c.name, "value": c.value, "firsts": c.firsts,
             "samples": board.samples, "overlaps": c.overlaps, "by": board.by}
            for prompt, board in boards.items() for c in board.clips]
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
        return
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["prompt"])
        writer.writeheader()
        writer.writerows(rows)
