"""The ``explain`` command, and ``score --explain``: score a clip as the official run does, then explain the result
(an extra: direct effects and grounding by re-scoring with seconds, sentences and the prompt hidden, total effects by
re-generating with paired seeds; the scores themselves never change)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from vs2demo.analysis.result import Result
from vs2demo.evidence.explain import explain
from vs2demo.evidence.faithfulness import MIN_RANDOM_ORDERS
from vs2demo.evidence.options import DEFAULT_RESAMPLES, DEFAULT_TOP_SECONDS, ExplainOptions
from vs2demo.evidence.record import DEFAULT_COUNTERFACTUAL, DEFAULT_MAX_SEGMENTS, DEFAULT_MAX_SENTENCES, Explanation
from vs2demo.present.evidence_html import cost_line
from vs2demo.present.evidence_prose import all_lines


def add_options(p: argparse.ArgumentParser) -> None:
    """The explanation's settings, for ``explain`` and ``score --explain``."""
    p.add_argument("--segments", type=int, default=DEFAULT_MAX_SEGMENTS,
                   help=f"at most this many segments of seconds to hide in turn (default {DEFAULT_MAX_SEGMENTS})")
    p.add_argument("--sentences", type=int, default=DEFAULT_MAX_SENTENCES,
                   help=f"at most this many reasoning sentences to remove in turn (default {DEFAULT_MAX_SENTENCES})")
    p.add_argument("--counterfactual", default=DEFAULT_COUNTERFACTUAL,
                   help="the unrelated prompt the reading probes try (default: a still life)")
    p.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                   help=f"K paired seeds per total-effect condition; each costs a run (default {DEFAULT_RESAMPLES}; "
                        "0: no re-generation, direct effects and grounding only)")
    p.add_argument("--top-seconds", type=int, default=DEFAULT_TOP_SECONDS,
                   help=f"total effects for this many top segments by grounding (default {DEFAULT_TOP_SECONDS})")
    p.add_argument("--total-for", type=_seconds_list, default=(), metavar="SECONDS",
                   help="also the total effect of hiding the segment at each of these seconds, e.g. 1.5,3")
    p.add_argument("--no-sanity", action="store_true",
                   help="skip the re-generated sanity probes (frames reversed, shuffled, an unrelated prompt)")
    p.add_argument("--per-frame", action="store_true",
                   help="hide one sampled frame at a time (half a temporal group) instead of whole seconds")
    p.add_argument("--random-orders", type=int, default=MIN_RANDOM_ORDERS,
                   help=f"random orders the faithfulness curves are compared with (default {MIN_RANDOM_ORDERS}; "
                        "0: none)")


def _seconds_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"seconds are numbers separated by commas, got {text!r}") from exc


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
                          counterfactual=args.counterfactual, resamples=args.resamples, top_seconds=args.top_seconds,
                          picked=tuple(args.total_for), sanity=not args.no_sanity, random_orders=args.random_orders,
                          per_frame=args.per_frame)


def run_explain(evaluator: Any, samples: Sequence[Result], options: ExplainOptions, out: TextIO) -> Explanation:
    """Explain the first sample (every sample's cells when there are several), saying the cost first, with progress
    on stderr; then print the explanation's lines to ``out``."""
    result = samples[0]
    print(f"[{cost_line(result, options, len(samples))}]", file=sys.stderr, flush=True)
    explanation = explain(evaluator, result, options,
                          lambda step: print(f"[{step.message}]", file=sys.stderr, flush=True), samples=samples)
    for line in all_lines(explanation):
        print(line, file=out)
    return explanation
