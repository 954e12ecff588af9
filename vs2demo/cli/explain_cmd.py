"""The ``explain`` command, and ``score --explain``: score a clip as the official run does, then explain the result
(an extra: re-scoring with seconds, sentences and the prompt hidden; the scores themselves never change)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from vs2demo.analysis.result import Result
from vs2demo.evidence.explain import ExplainOptions, explain
from vs2demo.evidence.record import DEFAULT_COUNTERFACTUAL, DEFAULT_MAX_SEGMENTS, DEFAULT_MAX_SENTENCES, Explanation
from vs2demo.present.evidence_prose import all_lines


def add_options(p: argparse.ArgumentParser) -> None:
    """The explanation's settings, for ``explain`` and ``score --explain``."""
    p.add_argument("--segments", type=int, default=DEFAULT_MAX_SEGMENTS,
                   help=f"at most this many segments of seconds to hide in turn (default {DEFAULT_MAX_SEGMENTS})")
    p.add_argument("--sentences", type=int, default=DEFAULT_MAX_SENTENCES,
                   help=f"at most this many reasoning sentences to remove in turn (default {DEFAULT_MAX_SENTENCES})")
    p.add_argument("--counterfactual", default=DEFAULT_COUNTERFACTUAL,
                   help="the other prompt the alignment probe tries (default: an unrelated still life)")


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    e = sub.add_parser("explain", parents=[common],
                       help="score a clip, then show which seconds and sentences each score rests on (an extra)")
    e.add_argument("video", help="video file")
    e.add_argument("--prompt", required=True, help="the text-to-video prompt the clip was generated from")
    e.add_argument("--json", action="store_true", help="print result and explanation as one JSON object")
    add_options(e)
    return e


def options_from(args: argparse.Namespace) -> ExplainOptions:
    return ExplainOptions(max_segments=args.segments, max_sentences=args.sentences,
                          counterfactual=args.counterfactual)


def run_explain(evaluator: Any, result: Result, options: ExplainOptions, out: TextIO) -> Explanation:
    """Explain ``result`` with progress on stderr, then print the explanation's lines to ``out``."""
    explanation = explain(evaluator, result, options,
                          lambda step: print(f"[{step.message}]", file=sys.stderr, flush=True))
    for line in all_lines(explanation):
        print(line, file=out)
    return explanation
