"""HTML panels for samples, stability, sampled verdicts and the Best-of-N leaderboard (pure). Every text is
escaped; numbers and labels come from the pure summaries in stability.py, verdict.py and rank.py."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from html import escape
from pathlib import Path

from vs2demo.analysis.rank import Leaderboard
from vs2demo.analysis.result import Result
from vs2demo.analysis.stability import STABLE_AGREEMENT, Stability, summarize, unfinished_note
from vs2demo.analysis.verdict import CLEAR_SHARE, OVERALL_RULE, SOFT_TIE_MARGIN, DimensionVerdict, SampledRow
from vs2demo.core.dimensions import DIMENSION_COUNT_WORD, OVERALL, SCORE_VALUES
from vs2demo.core.options import DEFAULT_MODEL, OFFICIAL_FPS, OFFICIAL_MAX_NEW_TOKENS, OFFICIAL_TEMPERATURE
from vs2demo.present import result_html, tables

CSS = """
.vs2-stability{list-style:none;padding:0;margin:.4em 0;font-size:.85em}
.vs2-stability li{padding:.3em 0;border-bottom:1px solid var(--border-color-primary);overflow-wrap:anywhere}
.vs2-stability .vs2-facts{display:flex;flex-wrap:wrap;gap:.2em .9em}
.vs2-label{font-weight:700}.vs2-label.stable::before{content:"● "}.vs2-label.unstable::before{content:"▲ "}
.vs2-hist{font-family:monospace}
.vs2-sample summary{cursor:pointer}.vs2-sample pre{white-space:pre-wrap;font-size:.85em}
@media (max-width: 700px){.vs2-stack-narrow{flex-direction:column !important}
.vs2-stack-narrow > *{min-width:0 !important;width:100% !important}}
.vs2-headline{font-size:1.15em;padding:.5em .8em;border-radius:8px;border:2px solid var(--color-accent);margin:.2em 0}
"""


def stability_html(summary: Stability) -> str:
    """Per dimension: the spread of the K hard scores, agreement, the soft score's mean ± spread, a label."""
    if summary.samples + summary.unfinished <= 1:
        return ""
    rows = []  # one wrapping row per dimension: every fact stays readable at any width (nothing cut, no column)
    for d in summary.dimensions:
        given = ", ".join(f"{n}× {s}" for s, n in zip(SCORE_VALUES, d.counts) if n) + (
            f", {d.missing}× no score" if d.missing else "")
        agreement = "–" if d.agreement is None else f"{100 * d.agreement:.0f}%"
        soft = "–" if d.soft_mean is None else f"{d.soft_mean:.2f}, spread (sd) {d.soft_std:.2f}"
        cls = d.label if d.label in ("stable", "unstable") else "within"
        rows.append(f"<li><b>{escape(d.title)}</b>: <span class='vs2-label {cls}'>{escape(d.label)}</span>"
                    f"<div class='vs2-facts'><span>scores given: <span class='vs2-hist'>{escape(given)}</span></span>"
                    f"<span>agreement {agreement}</span><span>soft score mean {soft}</span></div></li>")
    rule = (f"stable: ≥ {100 * STABLE_AGREEMENT:.0f}% of samples agree; ±1: every sample within one of the most "
            "common score; unstable: otherwise")
    note = f" · {escape(unfinished_note(summary))}" if summary.unfinished else ""
    return (f"<div><b>How stable is it? {summary.samples} finished samples</b>{note} (an extra, not the official "
            "single sample)"
            f"<ul class='vs2-stability'>{''.join(rows)}</ul>"
            f"<div class='vs2-meta'>{escape(rule)}</div></div>")


def reproduce_command(result: Result, samples: int = 1) -> str:
    """The CLI line that reproduces this result (every setting that differs from its default is spelled out):
    one sample alone, or with ``samples`` the whole K-sample run."""
    o = result.options
    parts = ["python", "-m", "vs2demo", "score", Path(result.video).name, "--prompt", result.prompt]
    flags = [("--model", result.model.model_id, DEFAULT_MODEL), ("--seed", o.seed, None),
             ("--temperature", o.temperature, OFFICIAL_TEMPERATURE),
             ("--max-new-tokens", o.max_new_tokens, OFFICIAL_MAX_NEW_TOKENS), ("--fps", o.fps, OFFICIAL_FPS),
             ("--samples", samples, 1)]
    for flag, value, default in flags:  # only what differs from the default is spelled out
        if value != default:
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if o.greedy:
        parts.append("--greedy")
    parts += ["--dtype", result.model.dtype]
    return shlex.join(parts)


def samples_html(samples: Sequence[Result]) -> str:
    """Each sample's scores and reasoning, to open one by one, with the command that reproduces it."""
    if len(samples) == 1:
        return ""
    items = []
    for k, r in enumerate(samples):
        scores = " · ".join("–" if s.hard is None else str(s.hard) for s in r.scores)
        items.append(f"<details class='vs2-sample'><summary>Sample {k + 1} (seed {r.options.seed}): {scores}"
                     f"</summary><pre>{escape(r.raw_output)}</pre><div class='vs2-meta'>Reproduce alone: "
                     f"<code>{escape(reproduce_command(r))}</code></div></details>")
    return "<div>" + "".join(items) + "</div>"


def result_panels_html(samples: Sequence[Result], replay: bool = False) -> str:
    """One clip's panels under its radar: the first sample's cards, then (with K samples) how stable the scores
    were and each sample; the same for a live run, a leaderboard row opened and a stored result reopened."""
    return (result_html.cards_html(samples[0], replay) + stability_html(summarize(samples))
            + samples_html(samples))


def verdict_banner_html(first: DimensionVerdict, sampled: SampledRow) -> str:
    """The compare headline: who wins overall and by what margin (the first pair's sums), in words."""
    if first.a is None or first.b is None:
        margin = "a score is missing, so the sums cannot be compared"
    else:
        margin = f"sum {first.a} vs {first.b}"
        if first.a != first.b:
            margin += f", a margin of {abs(first.a - first.b)}"
        elif first.by_soft and first.soft_a is not None and first.soft_b is not None:
            margin += f", tied; the soft sums decide ({first.soft_a:.2f} vs {first.soft_b:.2f})"
    if sampled.samples > 1:
        margin = f"first pair: {margin}"
    return (f'<div class="vs2-headline" role="status"><b>Overall: {escape(sampled.describe())}</b> '
            f'<span class="vs2-meta">({escape(margin)})</span></div>')


def sampled_verdict_html(rows: Sequence[SampledRow]) -> str:
    parts = []
    for r in rows:
        title = f"<b>{escape(r.title)}</b>" if r.key == OVERALL else escape(r.title)
        parts.append(f"<li>{title}: {escape(r.describe())}</li>")
    k = rows[0].samples if rows else 1
    rule = OVERALL_RULE + (f"; a clip is better when it wins at least {100 * CLEAR_SHARE:.0f}% of the paired samples"
                           if k > 1 else f"; soft scores break a tie only when they differ by {SOFT_TIE_MARGIN:g} "
                           "or more per dimension. Every line rests on one sample each: set Samples per clip to 4 or "
                           "more to see whether the verdict holds")
    return f'<ul class="vs2-plan">{"".join(parts)}</ul><div class="vs2-meta">{escape(rule)}.</div>'


def leaderboard_html(board: Leaderboard, prompt: str) -> str:
    by = (f"the sum of the {DIMENSION_COUNT_WORD} official soft scores" if board.by == OVERALL
          else f"the {board.by} soft score")
    sampled = board.samples > 1  # with one sample per clip, how often a clip ranks first is not measured
    rows = []
    for c in board.clips:
        value = "no score" if c.value is None else f"{c.value:.3f}"
        cells = [f"#{c.rank} {escape(c.name)}", value]
        if sampled:
            cells += [f"{c.firsts} of {board.samples}",
                      "overlaps a neighbour" if c.overlaps else f"same place in all {board.samples} samples"]
        rows.append(cells)
    heads = ["Clip (rank)", "Score"] + (["Ranked first", "Rank certainty"] if sampled else [])
    note = (f", averaged over {board.samples} samples" if sampled else
            ". One sample per clip: how certain this order is was not measured (set Samples per clip to 4 or more)")
    return (f"<div><b>Best of {len(board.clips)} for:</b> {escape(prompt)}<br><span class='vs2-meta'>Ranked by {by}"
            f"{note}.</span>{tables.table_html(heads, rows, 'vs2-board')}</div>")
