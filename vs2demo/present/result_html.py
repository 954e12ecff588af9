"""HTML and images for the UI, built from plans and results (pure). Every text is escaped: model output,
prompts and file names are shown as text and can never become markup or script."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np
from PIL import Image

from vs2demo.analysis.parse import FALLBACK, NONE, OFFICIAL, PARTIAL
from vs2demo.analysis.result import Result
from vs2demo.analysis.verdict import DimensionVerdict
from vs2demo.core.dimensions import SCORE_VALUES
from vs2demo.core.options import SMOKE_BANNER, SMOKE_MODEL
from vs2demo.input.framing import FramePlan
from vs2demo.present import tables

CSS = """
@media (max-width: 700px){[id^="vs2-frames"] .grid-container,#vs2-rank-gallery .grid-container{
grid-template-columns:repeat(3,minmax(0,1fr)) !important}}
[id^="vs2-frames"] .caption-label,#vs2-rank-gallery .caption-label{white-space:normal !important;
overflow:visible !important;text-overflow:clip !important}
@media (max-width: 700px){[id^="vs2-frames"] .caption-label,#vs2-rank-gallery .caption-label{font-size:10px !important;
padding:1px 4px !important;line-height:1.3 !important}}
.vs2-banner{padding:.6em 1em;border-radius:8px;background:#fde68a;color:#78350f;font-weight:600}
.vs2-status{padding:.4em .8em;border-radius:6px;border:1px solid var(--border-color-primary)}
.vs2-plan{font-size:.95em;line-height:1.5}
#vs2-examples button, #vs2-examples button *{white-space:normal !important;text-overflow:clip !important;
overflow:visible !important;text-align:left}
.vs2-error{color:#b91c1c;font-weight:600}
.vs2-badge{display:inline-block;padding:.15em .6em;border-radius:999px;font-size:.85em;font-weight:600}
.vs2-badge.official{background:#bbf7d0;color:#14532d}.vs2-badge.fallback,.vs2-badge.partial{background:#fde68a;color:#78350f}
.vs2-badge.none{background:#fecaca;color:#7f1d1d}.vs2-badge.replay{background:#bfdbfe;color:#1e3a8a}
.vs2-cards{display:flex;flex-wrap:wrap;gap:.6em}
.vs2-card{flex:1 1 160px;border:1px solid var(--border-color-primary);border-radius:10px;padding:.6em .8em}
.vs2-card h4{margin:0 0 .3em 0;font-size:.9em}
.vs2-hard{font-size:2em;font-weight:700;line-height:1}
.vs2-meta{font-size:.8em;opacity:.85}
.vs2-bars{display:flex;align-items:flex-end;gap:3px;height:40px;margin-top:.4em}
.vs2-bar{flex:1;background:var(--color-accent);min-height:1px;border-radius:2px 2px 0 0}
.vs2-bar.best{background:#16a34a}.vs2-bar.written{outline:2px solid var(--body-text-color);outline-offset:-1px}
.vs2-barlabels{display:flex;gap:3px;font-size:.7em;text-align:center}.vs2-barlabels span{flex:1}
"""

_BADGES = {
    OFFICIAL: ("official", "Official parse"),
    FALLBACK: ("fallback", "Recovered by the tolerant fallback parser (not official)"),
    PARTIAL: ("partial", "Only some scores recovered by the fallback parser (not official)"),
    NONE: ("none", "No score parsed"),
}


def banner_html(smoke: bool, model_id: str) -> str:
    if not smoke:
        return ""
    where = "" if model_id == SMOKE_MODEL else f" ({escape(model_id)})"  # a smoke model at a local path
    return f'<div class="vs2-banner">⚠ {escape(SMOKE_BANNER)}{where}</div>'


def status_html(message: str) -> str:
    return f'<div class="vs2-status">{escape(message)}</div>'


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def plan_html(plan: FramePlan) -> str:
    i = plan.info
    return (
        f'<div class="vs2-plan"><b>Clip:</b> {i.duration_s:.2f} s · {i.native_fps:.3g} fps · {i.width}×{i.height}'
        f" · {i.total_frames} frames · {_size(i.file_bytes)}<br><b>The model will see:</b> "
        f"{len(plan.indices)} frames ({plan.fps:g} per second) at {plan.resized_width}×{plan.resized_height}, "
        f"about {plan.visual_tokens:,} visual tokens"
        + "".join(f"<br><b>Not official:</b> {escape(d)}" for d in i.deviations) + "</div>"
    )


ERROR_CLASS = "vs2-error"  # marks a problem told in place (the page's scripts and checks look for it)


def error_html(message: str) -> str:
    return f'<div class="vs2-plan {ERROR_CLASS}">{escape(message)}</div>'


def badge_html(method: str, replay: bool = False) -> str:
    cls, text = _BADGES[method]
    extra = '<span class="vs2-badge replay">Replay of a cached example run</span> ' if replay else ""
    return f'{extra}<span class="vs2-badge {cls}">{escape(text)}</span>'


def _bars(probs: tuple[float, ...], hard: int | None) -> str:
    """p(1)…p(5) as bars. The written (sampled) score and the most probable one are marked apart, in words
    under the bars as well as in colour: sampling at temperature 0.7 often writes a score that is not the
    most probable one."""
    total = sum(probs) or 1.0
    best = SCORE_VALUES[max(range(len(probs)), key=lambda k: probs[k])]

    def kind(s: int) -> str:
        return " ".join(k for k, on in (("written", s == hard), ("best", s == best)) if on)

    bars = "".join(
        f'<div class="vs2-bar {kind(s)}" style="height:{100 * p / total:.1f}%" title="p({s}) = {p / total:.3f}">'
        "</div>" for s, p in zip(SCORE_VALUES, probs)
    )
    labels = "".join(f'<span class="{kind(s)}">{s}{"✎" if s == hard else ""}{"★" if s == best else ""}</span>'
                     for s in SCORE_VALUES)
    # the numbers themselves, printed (a phone has no hover): p(s) as a share of p(1…5)
    shares = "".join(f"<span>{100 * p / total:.0f}%</span>" for p in probs)
    key = ("✎★ written, and the most probable" if hard == best else
           f"✎ written ({hard}) · ★ most probable ({best}): sampling can write a less probable score"
           if hard is not None else f"★ most probable ({best})")
    return (f'<div class="vs2-bars">{bars}</div><div class="vs2-barlabels">{labels}</div>'
            f'<div class="vs2-barlabels vs2-shares" aria-label="p(1) to p(5)">{shares}</div>'
            f'<div class="vs2-meta">{escape(key)}</div>')


CARD_KEY = ("soft (official) = the best digit × its share of p(1…5), lower when the model hesitates; expected = "
            "Σ s·p(s) / Σ p; confidence = the most probable digit's share (extras)")


def cards_html(result: Result, replay: bool = False) -> str:
    """Parse badge, notes, then one card per dimension: hard, soft, expected, confidence and p(1…5)."""
    notes = "".join(f'<div class="vs2-meta">{escape(n)}</div>' for n in result.parse_notes)
    cards = []
    for s in result.scores:
        hard = "–" if s.hard is None else str(s.hard)
        meta = "no score" if s.hard is None else "no digit probabilities"
        if s.soft is not None:
            source = ("(official)" if s.soft_source == "official" else
                      "(an extra: the official script gives no soft score without its own parse)")
            extras = ("no probability on any digit" if s.expected is None else
                      f"expected {s.expected:.2f} · confidence {100 * s.confidence:.0f}%")
            meta = f"soft {s.soft:.3f} {source}<br>{extras} (extras)"
        bars = _bars(s.probs, s.hard) if s.probs else ""
        cards.append(f'<div class="vs2-card"><h4>{escape(s.title)}</h4><div class="vs2-hard">{hard}'
                     f'<span class="vs2-meta"> / 5</span></div><div class="vs2-meta">{meta}</div>{bars}</div>')
    return (f'<div>{badge_html(result.parse_method, replay)}{notes}</div><div class="vs2-cards">{"".join(cards)}</div>'
            f'<div class="vs2-meta">{escape(CARD_KEY)}</div>')


def thumbnails(plan: FramePlan, small: np.ndarray) -> list[tuple[Image.Image, str]]:
    """The exact frames the model saw (as small copies), captioned with their time and source index."""
    return [(Image.fromarray(array), f"{t:.2f} s · frame {index}")
            for array, index, t in zip(small, plan.indices, plan.timestamps)]


def comparison_html(rows: tuple[DimensionVerdict, ...], better: Sequence[str]) -> str:
    """Per dimension: both written scores, their difference (with the side it favours: read without colour), both
    soft scores and which clip is better (``better``: the sampled verdicts' words, one per row)."""
    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:g}"

    def delta(d: int | None) -> str:
        return "–" if d is None else "0" if d == 0 else f"{d:+d} ({'A' if d > 0 else 'B'})"

    return tables.table_html(COMPARISON_HEADERS, [
        [escape(x) for x in (r.title, fmt(r.a), fmt(r.b), delta(r.difference), fmt(r.soft_a), fmt(r.soft_b), w)]
        for r, w in zip(rows, better, strict=True)], "vs2-comparison")


COMPARISON_HEADERS = ("Dimension", "Clip A", "Clip B", "A − B", "Soft A", "Soft B", "Better")
