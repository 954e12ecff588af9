"""The ``agreement`` command: how often the judge agrees with people, as the paper reports it.

``python -m vs2demo agreement`` reads the reviews stored in the results library; ``agreement RESULTS.jsonl
--labels LABELS.csv`` reads a results JSONL (``score --batch``, ``rank --out``) and a labels CSV. Every problem in
the labels is one line on stderr, counted by kind; ``--json`` prints the figures (and the problems) as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vs2demo.batch.jobs import BatchError, printable
from vs2demo.core.errors import InputError

DEFAULT_RESAMPLES = 1000  # analysis.agreement.RESAMPLES; not imported here: scipy would load for every command


def add_parser(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("agreement", help="agreement with human scores: accuracy, SRCC/PLCC, pairwise, with 95% CIs")
    a.add_argument("results", nargs="?", help="results JSONL (score --batch / rank --out); omit for stored reviews")
    a.add_argument("--labels", help="labels CSV: video,prompt,visual_quality,text_to_video_alignment,"
                                    "physical_consistency (or video_a,video_b,prompt,preference[,dimension])")
    a.add_argument("--db", help="the results library for stored reviews (default: $VS2_DB or vs2demo.db)")
    a.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    a.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                   help=f"bootstrap resamples (default {DEFAULT_RESAMPLES})")
    a.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from vs2demo.analysis.agreement import agreement, agreement_lines
    from vs2demo.batch import jobs
    from vs2demo.batch.labels import Problems, join, read_labels

    if args.resamples < 0:
        raise InputError("--resamples must be 0 or more")
    problems = Problems()
    disagreements: list = []
    if args.results or args.labels:
        if not (args.results and args.labels):
            raise InputError("give both a results JSONL and --labels LABELS.csv (or neither, for stored reviews)")
        path = Path(args.results)
        if not path.is_file():
            raise BatchError(f"no such results file: {printable(str(path))}")
        labels = read_labels(Path(args.labels), problems)
        items, pairs = join(labels, jobs.records(path), problems)
        source = {"results": str(path), "labels": str(args.labels), "label_rows": labels.rows}
    else:
        items, pairs, disagreements = _stored(args.db)
        source = {"library": args.db or "default"}
    report = agreement(items, pairs or None, resamples=args.resamples, seed=args.seed)
    for line in problems.lines:
        print(f"warning: {printable(line)}", file=sys.stderr)
    if problems.counts:
        print("labels: " + ", ".join(f"{n} × {kind}" for kind, n in sorted(problems.counts.items())) +
              " (each listed above)", file=sys.stderr)
    if args.json:
        print(json.dumps({**report.to_dict(), "source": source,
                          "problems": {"counts": dict(problems.counts), "lines": problems.lines},
                          "disagreements": [d.__dict__ for d in disagreements]}, ensure_ascii=False, indent=2))
    else:
        for line in agreement_lines(report):
            print(printable(line))
        if disagreements:
            print(f"{len(disagreements)} disagreement(s) between reviewers and the model (open each: ?r=ID):")
            for d in disagreements[:50]:
                print(f"  ?r={d.result_id}  {printable(d.clip)}  {d.dimension}: model {d.model}, reviewer "
                      f"{printable(d.human)}{'  [not in the clip]' if d.unsupported else ''}")
    if not items and not pairs:
        print("warning: no labelled item matched a result: every figure is n/a", file=sys.stderr)
    return 0


def _stored(db_flag: str | None) -> tuple[list, list, list]:
    from vs2demo.store.db import Database, db_from_env
    from vs2demo.store.feedback import FeedbackStore
    from vs2demo.store.results import Results
    from vs2demo.store.reviews import from_store

    target = db_from_env(db_flag)
    if "://" not in target and not Path(target).is_file():
        raise InputError(f"no results library at {printable(target)} (give --db, or a results JSONL and --labels)")
    db = Database(target).ready()
    try:
        return from_store(Results(db), FeedbackStore(db))
    finally:
        db.close()
