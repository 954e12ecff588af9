"""The command line: score (one clip, or a CSV batch that resumes), rank (best of N), frames, parse, prompt,
make-smoke-model, agreement (with human labels) and library (export, import, purge the results library).

Bad input exits with status 2 and one line ``error: …`` on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vs2demo.analysis.result import Result
from vs2demo.analysis.stability import samples_dict, stability_lines, summarize
from vs2demo.batch import distributed, jobs
from vs2demo.batch.jobs import printable
from vs2demo.cli import agreement_cmd, explain_cmd, library_cmd, rank_cmd
from vs2demo.core.errors import VS2Error
from vs2demo.core.options import (
    DTYPES,
    OFFICIAL_FPS,
    OFFICIAL_MAX_NEW_TOKENS,
    OFFICIAL_TEMPERATURE,
    GenerationOptions,
    Limits,
    compiled_decode_from_env,
)

log = logging.getLogger("vs2demo.cli")


class CLIError(VS2Error):
    pass


def _model_options() -> argparse.ArgumentParser:
    """The options every command that runs the model shares."""
    m = argparse.ArgumentParser(add_help=False)
    m.add_argument("--model", help="hub id, local folder, or 'smoke' (default: $VS2_MODEL or TIGER-Lab/VideoScore2)")
    m.add_argument("--seed", type=int, help="fix the sampling seed (reproducible; not official)")
    m.add_argument("--greedy", action="store_true", help="greedy decoding (not official)")
    m.add_argument("--temperature", type=float, default=OFFICIAL_TEMPERATURE,
                   help=f"sampling temperature (official {OFFICIAL_TEMPERATURE:g})")
    m.add_argument("--max-new-tokens", type=int, default=OFFICIAL_MAX_NEW_TOKENS)
    m.add_argument("--fps", type=float, default=OFFICIAL_FPS,
                   help=f"frames sampled per second (official {OFFICIAL_FPS:g})")
    m.add_argument("--samples", type=int, default=1,
                   help="K samples per clip with seeds s…s+K-1: how stable each score is (an extra; official 1)")
    m.add_argument("--dtype", help=f"weights' dtype: {', '.join(DTYPES)} (default: $VS2_DTYPE, else bfloat16 on "
                                   "GPUs, float32 on CPU; the official run uses float32)")
    m.add_argument("--compiled-decode", choices=("on", "off"),
                   help="static cache and compiled decode step (default: $VS2_COMPILED_DECODE, else on for GPUs, "
                        "off on CPU); off decodes as the official run does: with --dtype float32, strict parity")
    return m


def compiled_switch(args: argparse.Namespace) -> bool | None:
    """The --compiled-decode flag as the evaluator takes it (None: $VS2_COMPILED_DECODE or the device decides)."""
    flag = getattr(args, "compiled_decode", None)
    return compiled_decode_from_env(None if flag is None else flag == "on")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m vs2demo", description="VideoScore2 evaluations from the shell.")
    sub = ap.add_subparsers(dest="command", required=True)
    common = _model_options()

    s = sub.add_parser("score", parents=[common], help="score a clip (streams the reasoning), or a CSV batch")
    s.add_argument("video", nargs="?", help="video file")
    s.add_argument("--prompt", help="the text-to-video prompt the clip was generated from")
    s.add_argument("--batch", help="CSV with columns video,prompt")
    s.add_argument("--out", help="JSONL output for --batch (resumes: rows already there are skipped)")
    s.add_argument("--json", action="store_true", help="print the result as one JSON object; stream to stderr")
    s.add_argument("--explain", action="store_true",
                   help="then explain the result (an extra, not the official scores): direct effects, grounding and "
                        "total effects of hiding seconds; with --samples K every sample's cells (median and spread)")
    explain_cmd.add_options(s)
    add_report_option(s)
    distributed.add_options(s)
    rank_cmd.add_parser(sub, common)
    add_report_option(explain_cmd.add_parser(sub, common))
    agreement_cmd.add_parser(sub)
    library_cmd.add_parser(sub)

    f = sub.add_parser("frames", help="print the frame plan (no model needed)")
    f.add_argument("video")
    f.add_argument("--fps", type=float, default=OFFICIAL_FPS)
    f.add_argument("--json", action="store_true")

    sub.add_parser("parse", help="parse a raw model output read from stdin")

    p = sub.add_parser("prompt", help="print the exact user message for a text-to-video prompt")
    p.add_argument("text")

    m = sub.add_parser("make-smoke-model", help="build the tiny offline test model into DIR")
    m.add_argument("dir")
    return ap


def add_report_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report", metavar="FILE.html",
                   help="also write one self-contained HTML report (frames embedded, opens offline)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # One line per error for the user; with VS2_LOG=debug the whole story (causes, tracebacks) goes to stderr.
    logging.basicConfig(level=os.environ.get("VS2_LOG", "WARNING").upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return {"score": _score, "explain": _explain, "rank": _rank, "frames": _frames, "parse": _parse,
                "prompt": _prompt, "make-smoke-model": _make_smoke, "agreement": agreement_cmd.run,
                "library": library_cmd.run}[args.command](args)
    except (VS2Error, ValueError) as exc:  # bad input, or option values refused by the dataclasses
        log.debug("the command failed", exc_info=exc)
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def options_from(args: argparse.Namespace) -> GenerationOptions:
    return GenerationOptions(seed=args.seed, greedy=args.greedy, temperature=args.temperature,
                             max_new_tokens=args.max_new_tokens, fps=args.fps, samples=args.samples)


def _score(args: argparse.Namespace) -> int:
    options = options_from(args)
    if args.batch:
        if not args.out:
            raise CLIError("--batch needs --out FILE.jsonl")
        return _score_batch(args, Path(args.batch), Path(args.out), options)
    if args.ray is not None:
        raise CLIError("--ray spreads a batch: give --batch FILE.csv --out FILE.jsonl")
    if not args.video:
        raise CLIError("give a VIDEO file, or --batch FILE.csv --out FILE.jsonl")
    if args.prompt is None:
        raise CLIError("--prompt is required: the text-to-video prompt the clip was generated from")
    return _score_one(args, options, explain=args.explain)


def _explain(args: argparse.Namespace) -> int:
    return _score_one(args, options_from(args), explain=True)


def _score_one(args: argparse.Namespace, options: GenerationOptions, explain: bool) -> int:
    """Stream one clip's evaluation; with ``explain``, explain its first sample after it (options checked first)."""
    from vs2demo.engine.evaluator import Evaluator

    explain_options = explain_cmd.options_from(args) if explain else None
    if args.report and not Path(args.report).parent.is_dir():  # before minutes of model time, not after
        raise CLIError(f"cannot write the report to {printable(args.report)}: no such folder")
    evaluator = Evaluator(args.model, dtype=args.dtype, limits=Limits.from_env(), compiled=compiled_switch(args))
    out = sys.stderr if args.json else sys.stdout
    samples = _stream_one(evaluator, args.video, args.prompt, options, out)
    record = samples_dict(samples)
    explanation = None
    if explain_options is not None:
        explanation = explain_cmd.run_explain(evaluator, samples, explain_options, out)
        record["explanation"] = explanation.to_dict()
    if args.report:
        _write_report(evaluator, samples, explanation, Path(args.report), out)
    if args.json:
        print(json.dumps(record, ensure_ascii=False, indent=2))
    return 0


def _write_report(evaluator, samples: tuple[Result, ...], explanation, path: Path, out) -> None:
    from vs2demo.present.report_html import report_html

    result = samples[0]
    html = report_html(samples, evaluator.thumbnails(result.video, result.plan.fps), explanation)
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot write the report to {printable(str(path))}: {exc.strerror}") from exc
    print(f"[report: {printable(str(path))}]", file=out)


def _rank(args: argparse.Namespace) -> int:
    from vs2demo.engine.evaluator import Evaluator

    options = options_from(args)
    evaluator = Evaluator(args.model, dtype=args.dtype, limits=Limits.from_env(), compiled=compiled_switch(args))
    return rank_cmd.run(evaluator, args, options)


def _stream_one(evaluator, video: str, prompt: str, options: GenerationOptions, out) -> tuple[Result, ...]:
    """Stream one clip's evaluation to ``out`` (the first sample's text live), then its summary."""
    from vs2demo.engine.events import Finished, Job, Piece, Planned, Progress, Status

    samples: tuple[Result, ...] = ()
    for event in evaluator.stream([Job(video, prompt)], options):
        if isinstance(event, Planned):
            p = event.plan
            print(f"[{len(p.indices)} frames at {p.resized_width}×{p.resized_height} from "
                  f"{p.info.duration_s:.1f} s @ {p.info.native_fps:g} fps"
                  f"{''.join('; ' + d for d in p.info.deviations)}]", file=out, flush=True)
        elif isinstance(event, Status):
            print(f"[{event.message}]", file=out, flush=True)
        elif isinstance(event, Piece) and event.sample == 0:
            print(printable(event.text), end="", file=out, flush=True)
        elif isinstance(event, Progress):
            print(f"[{event.finished} of {event.rows} samples finished]", file=sys.stderr, flush=True)
        elif isinstance(event, Finished):
            (samples,) = event.samples
    print(file=out)
    _print_summary(samples[0], out)
    if len(samples) > 1:
        for line in stability_lines(summarize(samples)):
            print(line, file=out)
        print(f"[each sample alone: python -m vs2demo score … --seed N, N = {samples[0].options.seed}…"
              f"{samples[-1].options.seed}]", file=out)
    return samples


def _print_summary(result: Result, out) -> None:
    if result.model.banner:
        print(f"[{result.model.banner}]", file=out)
    print(f"[parse: {result.parse_method}{'; ' + '; '.join(result.parse_notes) if result.parse_notes else ''}]",
          file=out)
    for s in result.scores:
        hard = "-" if s.hard is None else s.hard
        soft = "" if s.soft is None else f"  soft {s.soft:.4f}" + (
            "  (no probability on any digit)" if s.expected is None else
            f"  expected {s.expected:.2f}  confidence {s.confidence:.2f}")
        print(f"  {s.title:<36} {hard}{soft}", file=out)
    if not result.official_settings:
        print(f"[not the official settings: {', '.join(result.deviations())}]", file=out)


def _score_batch(args: argparse.Namespace, csv_path: Path, out: Path, options: GenerationOptions) -> int:
    rows = jobs.read_rows(csv_path)
    jobs.check_output(out)
    done = jobs.finished_rows(out)  # also repairs a line cut short by an interrupted run
    todo = [r for r in rows if r.key not in done]
    if args.ray is not None:  # the same rows and records, spread over model replicas on Ray
        outcomes = distributed.score_rows(todo, args.ray, args.replicas, distributed.config_from(args, options))
    else:
        from vs2demo.engine.evaluator import Evaluator

        evaluator = Evaluator(args.model, dtype=args.dtype, limits=Limits.from_env(), compiled=compiled_switch(args))
        outcomes = ((row, *jobs.score_row(evaluator, row, options)) for row in todo)
    failed = jobs.write_outcomes(outcomes, out, total=len(rows), initial=len(rows) - len(todo))
    jobs.check_complete(out, rows)
    print(f"{len(rows) - failed} of {len(rows)} clips scored; results in {printable(str(out))}", file=sys.stderr)
    return 0 if not failed else 1


def _frames(args: argparse.Namespace) -> int:
    from vs2demo.input.framing import plan_frames
    from vs2demo.input.video import probe

    plan = plan_frames(probe(args.video, Limits.from_env()), GenerationOptions(fps=args.fps).fps)
    d = plan.to_dict()
    if args.json:
        print(json.dumps(d, indent=2))
    else:
        print(f"{d['video']}: {d['total_frames']} frames @ {d['native_fps']:g} fps ({d['duration_s']} s), "
              f"{d['source_size'][0]}×{d['source_size'][1]}")
        for deviation in plan.info.deviations:
            print(f"[{deviation}]")
        print(f"model sees {d['frame_count']} frames at {d['resized_size'][0]}×{d['resized_size'][1]} "
              f"(~{d['visual_tokens']} visual tokens)")
        for i, t, j in zip(d["indices"], d["timestamps_s"], d["source_frames"]):
            print(f"  frame {i:>6}  at {t:8.3f} s" + ("" if i == j else f"  (the file's frame {j}, on screen then)"))
    return 0


def _parse(args: argparse.Namespace) -> int:
    from vs2demo.analysis.parse import parse_scores
    from vs2demo.core.dimensions import DIMENSIONS

    parsed = parse_scores(sys.stdin.read())
    print(json.dumps({"method": parsed.method, "notes": list(parsed.notes),
                      "scores": {d.key: s for d, s in zip(DIMENSIONS, parsed.scores)}}, indent=2))
    return 0


def _prompt(args: argparse.Namespace) -> int:
    from vs2demo.input.prompt import user_text

    sys.stdout.write(user_text(args.text))
    sys.stdout.flush()
    return 0


def _make_smoke(args: argparse.Namespace) -> int:
    from vs2demo.engine.smoke import build_smoke_model

    path = build_smoke_model(args.dir)
    print(f"smoke model written to {path} (a tiny test model: its scores mean nothing)")
    return 0
