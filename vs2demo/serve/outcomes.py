"""A finished run as the page's final values: status line, cards, radar, verdict, leaderboard and the JSON the page
shows and the tools return (built from the pure presenters)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from vs2demo.analysis.parse import NONE
from vs2demo.analysis.rank import rank
from vs2demo.analysis.result import Result
from vs2demo.analysis.stability import samples_dict
from vs2demo.analysis.verdict import compare as compare_results
from vs2demo.analysis.verdict import compare_samples
from vs2demo.engine.events import Finished, FramesReady
from vs2demo.present import figures, panels_html, result_html
from vs2demo.serve import files


def took(result: Result) -> str:
    where = f"{result.timings.generate_s:.1f} s on {result.model.device} ({result.model.dtype})"
    return f"Stopped early after {where}" if result.stopped else f"Done in {where}"


def tokens_text(n: int) -> str:
    return f"{n} token" if n == 1 else f"{n} tokens"


def final_score(done: Finished, replay: bool) -> dict[str, Any]:
    (samples,) = done.samples
    result = samples[0]
    t = result.timings
    status = took(result) + f" · {tokens_text(t.new_tokens)} · {t.tokens_per_s:.1f} tokens/s"
    run = replace(result.options, samples=len(samples))  # what was asked for: sample 0's seed, K samples
    deviations = result.deviations(run)
    if deviations:
        status += " · not the official settings: " + ", ".join(deviations)
    if result.parse_method == NONE:
        status += " · no score could be parsed: the raw output is below"
    if replay:  # the example's own run, computed once in this process and replayed: say so first
        status = "Replay of an example run (computed once, then replayed; the timings are from that run) · " + status
    data = score_data(samples)
    cards = panels_html.result_panels_html(samples, replay)
    return {"status": result_html.status_html(status), "text": result.raw_output,
            "radar": figures.radar([("clip", result)]), "cards": cards,
            "raw": result.raw_output, "json": data, "file": files.write_json("result", data), "result": samples}


def final_compare(done: Finished) -> dict[str, Any]:
    a, b = done.results
    rows = compare_samples(*done.samples)
    first = compare_results(a, b)  # the first pair's scores, sums and margins
    table = result_html.comparison_html(first, [s.describe() for s in rows])
    data = compare_data(done, rows)
    banner = panels_html.verdict_banner_html(first[-1], rows[-1])
    return {"status": result_html.status_html(took(a)), "text_a": a.raw_output, "text_b": b.raw_output,
            "radar": figures.radar([("A", a), ("B", b)]), "verdict": banner + panels_html.sampled_verdict_html(rows),
            "table": table, "json": data, "file": files.write_json("comparison", data)}


def score_data(samples: tuple[Result, ...]) -> dict[str, Any]:
    """One clip's result as the JSON the page shows and the tools return."""
    return samples_dict(samples, paths=False)


def compare_data(done: Finished, rows: Sequence[Any] | None = None) -> dict[str, Any]:
    """Two clips' results, with the paired-sample verdict when there are several samples (``rows``: that verdict,
    when the caller has computed it)."""
    data = {"clip_a": samples_dict(done.samples[0], paths=False), "clip_b": samples_dict(done.samples[1], paths=False)}
    if len(done.samples[0]) > 1:
        data["verdict"] = {r.key: {"wins_a": r.wins_a, "wins_b": r.wins_b, "ties": r.ties, "winner": r.winner.value,
                                   "says": r.describe()} for r in (rows or compare_samples(*done.samples))}
    return data


def leaderboard(done: Finished, by: str) -> Any:
    return rank([Path(r.video).name for r in done.results], done.samples, by)


def rank_data(done: Finished, prompt: str, by: str, board: Any = None) -> dict[str, Any]:
    """The leaderboard (``board``, when the caller has built it) and every clip's results."""
    names = [Path(r.video).name for r in done.results]
    return {"prompt": prompt, "leaderboard": (board or leaderboard(done, by)).to_dict(),
            "clips": {names[i]: samples_dict(s, paths=False) for i, s in enumerate(done.samples)}}


def final_rank(done: Finished, frames: dict[int, FramesReady], prompt: str, by: str,
               skipped: Sequence[str] = ()) -> dict[str, Any]:
    board = leaderboard(done, by)
    gallery = []
    for c in board.clips:
        shot = frames[c.index]
        (path, _), = files.thumbnail_files(shot.plan, shot.thumbnails[:1])
        value = "no score" if c.value is None else f"{c.value:.2f}"
        gallery.append((path, f"#{c.rank} {c.name} · {value}"))
    data = rank_data(done, prompt, by, board)
    left_out = f" · left out (not readable): {' '.join(skipped)}" if skipped else ""
    return {"status": result_html.status_html(took(done.results[0]) + f" · best: {board.best.name}{left_out}"),
            "board": panels_html.leaderboard_html(board, prompt), "gallery": gallery, "json": data,
            "file": files.write_json("ranking", data), "ranked": [done.samples[c.index] for c in board.clips]}
