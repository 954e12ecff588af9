"""One self-contained HTML report of a result (pure): it opens offline, with no CDN and every image embedded.

What the page shows, on one page: the clip's facts, the frames the model saw, the reasoning, the scores and their
probabilities, a radar (inline SVG), stability when there are several samples, the evidence when the result was
explained, the settings and how they differ from the official ones, the model, and the command that reproduces it.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from vs2demo.analysis.result import Result
from vs2demo.analysis.stability import summarize
from vs2demo.core.dimensions import DIMENSION_COUNT_WORD, DIMENSIONS, SCORE_VALUES
from vs2demo.evidence.record import Explanation
from vs2demo.present import panels_html, result_html, tables
from vs2demo.present.evidence_html import CSS as EVIDENCE_CSS
from vs2demo.present.evidence_html import evidence_html
from vs2demo.present.page_prose import SOFT_NAME, WRITTEN_NAME

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#1f2937;
--border-color-primary:#d1d5db;--body-text-color:#1f2937;--color-accent:#f97316}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #d1d5db}
pre{white-space:pre-wrap;background:#f3f4f6;padding:.8em;border-radius:6px}
.vs2-frames{display:flex;flex-wrap:wrap;gap:.4em}.vs2-frames figure{margin:0;font-size:.75em;text-align:center}
.vs2-frames img{display:block;height:96px}
@media (prefers-color-scheme: dark){body{background:#111827;color:#e5e7eb;--border-color-primary:#4b5563;
--body-text-color:#e5e7eb}pre{background:#1f2937}}
"""


def radar_svg(result: Result, size: int = 260) -> str:
    """The written scores (filled) and the official soft scores (dotted) on three axes from 0 to 5, named as on the
    page's chart."""
    c, r = size / 2, size / 2 - 40
    pad_legend = 70
    angles = [-math.pi / 2 + 2 * math.pi * i / len(DIMENSIONS) for i in range(len(DIMENSIONS))]

    def point(value: float, angle: float) -> str:
        k = r * value / SCORE_VALUES[-1]
        return f"{c + k * math.cos(angle):.1f},{c + k * math.sin(angle):.1f}"

    rings = "".join(f'<polygon points="{" ".join(point(v, a) for a in angles)}" fill="none" stroke="#9ca3af" '
                    f'stroke-width="0.5"/>' for v in SCORE_VALUES)
    def label(d: Any, a: float) -> str:  # the chart's short label, on its lines, inside the padded view box
        x, y = c + (r + 24) * math.cos(a), c + (r + 24) * math.sin(a)
        lines = d.chart_label.split("<br>")
        spans = "".join(f'<tspan x="{x:.1f}" dy="{0 if i == 0 else 13}">{escape(line)}</tspan>'
                        for i, line in enumerate(lines))
        return (f'<text x="{x:.1f}" y="{y - 6.5 * (len(lines) - 1):.1f}" font-size="12" text-anchor="middle" '
                f'fill="currentColor">{spans}</text>')

    labels = "".join(label(d, a) for d, a in zip(DIMENSIONS, angles))
    shapes = ""
    for attr, style in (("hard", 'fill="#3b82f6" fill-opacity="0.3" stroke="#2563eb"'),
                        ("soft", 'fill="none" stroke="#f59e0b" stroke-width="2" stroke-dasharray="1 4" '
                                 'stroke-linecap="round"')):
        values = [getattr(s, attr) for s in result.scores]
        if all(v is not None for v in values):
            shapes += f'<polygon points="{" ".join(point(v, a) for v, a in zip(values, angles))}" {style}/>'
    legend = (f'<text x="{-pad_legend}" y="16" font-size="11" fill="#2563eb">■ {escape(WRITTEN_NAME)}</text>'
              f'<text x="{-pad_legend}" y="30" font-size="11" fill="#d97706">··· {escape(SOFT_NAME)}</text>')
    pad = 80  # room at both sides for the axis labels: nothing is cut, and the picture scales down on a phone
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{-pad} 0 {size + 2 * pad} {size + 20}" '
            f'width="{size + 2 * pad}" style="max-width:100%;height:auto" role="img" '
            f'aria-label="Scores on {DIMENSION_COUNT_WORD} axes">{rings}{shapes}{labels}{legend}</svg>')


def _frames(result: Result, thumbnails: np.ndarray | None) -> str:
    if thumbnails is None or not len(thumbnails):
        return "<p>(frames not available)</p>"
    out = []
    for image, caption in result_html.thumbnails(result.plan, thumbnails):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        out.append(f'<figure><img src="data:image/jpeg;base64,{data}" alt="frame at {escape(caption)}">'
                   f"<figcaption>{escape(caption)}</figcaption></figure>")
    return f'<div class="vs2-frames">{"".join(out)}</div>'


def _link(link: str | None) -> str:
    if not link:
        return ""
    # as text, not a hyperlink: the report fetches nothing and points nowhere by itself (it opens offline)
    return (f'<p><b>Stored result:</b> <code id="vs2-report-link">{escape(link)}</code> '
            "(open it to see this result on the page, with its reviews)</p>")


def report_html(samples: Sequence[Result], thumbnails: np.ndarray | None = None,
                explanation: Explanation | None = None, link: str | None = None) -> str:
    """The whole report for one clip's run (its first sample in front, every sample's stability after); with
    ``link``, the address that reopens the stored result on the page."""
    result = samples[0]
    p, m = result.plan, result.model
    run = replace(result.options, samples=len(samples))  # what was asked for: sample 0's seed, K samples
    deviations = result.deviations(run)
    settings = "the official settings" if not deviations else "not the official settings: " + ", ".join(deviations)
    banner = f'<p class="vs2-banner"><b>{escape(m.banner)}</b></p>' if m.banner else ""
    evidence = ("" if explanation is None else
                f"<h2>Evidence (an extra)</h2>{evidence_html(result, explanation, interactive=False)}")
    stability = "" if len(samples) == 1 else (f"<h2>How stable ({len(samples)} samples)</h2>"
                                              f"{panels_html.stability_html(summarize(samples))}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VideoScore2 report: {escape(Path(result.video).name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}{result_html.CSS}{panels_html.CSS}{EVIDENCE_CSS}{tables.CSS}</style></head><body>
<h1>VideoScore2 report: {escape(Path(result.video).name)}</h1>{banner}
<p><b>Prompt:</b> {escape(result.prompt)}</p>{_link(link)}
<p><b>Clip:</b> {p.info.duration_s:.2f} s · {p.info.native_fps:.3g} fps · {p.info.width}×{p.info.height} ·
{p.info.total_frames} frames. <b>The model saw</b> {len(p.indices)} frames ({p.fps:g} per second) at
{p.resized_width}×{p.resized_height}, about {p.visual_tokens:,} visual tokens.</p>
<h2>Scores</h2>{radar_svg(result)}{result_html.cards_html(result)}
<h2>Reasoning</h2><pre>{escape(result.raw_output)}</pre>
<h2>The frames the model saw</h2>{_frames(result, thumbnails)}
{stability}{evidence}
<h2>Settings and model</h2>
<p>{escape(settings)}. Model: {escape(m.model_id)} on {escape(m.device)} ({escape(m.dtype)}).
{result.timings.new_tokens} tokens in {result.timings.generate_s:.1f} s.</p>
<p>Reproduce: <code>{escape(panels_html.reproduce_command(result, len(samples)))}</code></p>
</body></html>
"""
