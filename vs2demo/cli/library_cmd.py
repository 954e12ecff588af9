"""The ``library`` command: the results library from the shell (whoever can run it can read the database file,
so it sees every result).

    python -m vs2demo library export OUT.jsonl|OUT.csv|FOLDER [--format jsonl|csv|results-csv|datasets] [--clips]
    python -m vs2demo library import IN.jsonl|IN.csv|FOLDER [--format …]
    python -m vs2demo library purge [--days N] [--results]     # kept clips (and with --results, results) older
    python -m vs2demo library list                              # than N days ($VS2_RETENTION_DAYS, default 30)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vs2demo.batch.jobs import printable
from vs2demo.core.errors import InputError

FORMATS = ("jsonl", "csv", "results-csv", "datasets")  # csv: the feedback; results-csv: each clip's scores


def add_parser(sub: argparse._SubParsersAction) -> None:
    lib = sub.add_parser("library", help="export, import, list or purge the results library")
    lib.add_argument("action", choices=("export", "import", "purge", "list"))
    lib.add_argument("path", nargs="?", help="the file or folder to export to or import from")
    lib.add_argument("--db", help="the library (default: $VS2_DB or vs2demo.db)")
    lib.add_argument("--format", choices=FORMATS, help="default: from the path (.jsonl, .csv, else a datasets folder)")
    lib.add_argument("--clips", action="store_true", help="export: include kept clips in the JSONL")
    lib.add_argument("--days", type=float, help="purge: older than this many days (default $VS2_RETENTION_DAYS or 30)")
    lib.add_argument("--results", action="store_true", help="purge: whole results (and their feedback), not only clips")


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    suffix = Path(args.path).suffix.lower()
    return {".jsonl": "jsonl", ".csv": "csv"}.get(suffix, "datasets")


def run(args: argparse.Namespace) -> int:
    from vs2demo.store import exchange
    from vs2demo.store.db import Database, db_from_env
    from vs2demo.store.feedback import FeedbackStore
    from vs2demo.store.results import Results

    target = db_from_env(args.db)
    if args.action != "import" and "://" not in target and not Path(target).is_file():
        raise InputError(f"no results library at {printable(target)} (give --db or set VS2_DB)")
    if args.action in ("export", "import") and not args.path:
        raise InputError(f"library {args.action} needs a file or folder")
    db = Database(target).ready()
    results, feedback = Results(db), FeedbackStore(db)
    try:
        if args.action == "export":
            path, kind = Path(args.path), _format(args)
            if not path.parent.is_dir():
                raise InputError(f"no such folder: {printable(str(path.parent))}")
            if kind == "jsonl":
                n, m = exchange.export_jsonl(results, feedback, path, clips=args.clips)
                print(f"{n} results and {m} feedback rows written to {printable(str(path))}")
            elif kind == "csv":
                print(f"{exchange.export_csv(results, feedback, path)} feedback rows written to {printable(str(path))}")
            elif kind == "results-csv":
                print(f"{exchange.export_results_csv(results, path)} clips' results written to {printable(str(path))}")
            else:
                n = exchange.export_datasets(results, feedback, path)
                print(f"{n} reviewed clips written as a datasets folder to {printable(str(path))}")
        elif args.action == "import":
            path, kind = Path(args.path), _format(args)
            if kind == "results-csv":
                raise InputError("a results CSV is for reading only: import the JSONL export to restore results")
            done = (exchange.import_jsonl(results, feedback, path) if kind == "jsonl" else
                    exchange.import_csv(feedback, path) if kind == "csv" else exchange.import_datasets(feedback, path))
            for line in done.problems:
                print(f"warning: {printable(line)}", file=sys.stderr)
            print(f"imported {done.results} results ({done.skipped_results} already here) and {done.feedback} "
                  f"feedback rows; {len(done.problems)} left out")
        elif args.action == "purge":
            clips, gone = results.purge(args.days, everything=args.results)
            print(f"removed {clips} kept clip(s) and {gone} result(s)")
        else:
            for item in results.listing("", admin=True, limit=10_000):
                day = time.strftime("%Y-%m-%d %H:%M", time.gmtime(item.created_at))
                print(f"?r={item.id}  {day}  {item.kind:<11} {item.feedback:>3} feedback  {printable(item.title)}")
    finally:
        db.close()
    return 0
