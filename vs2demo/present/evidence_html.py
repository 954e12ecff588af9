"""The explanation on the page (pure HTML, every text escaped; the model's text is never HTML):

- a legend: what each colour measures, what "≈0" (not distinguishable from 0) and "–" (not measurable here) mean;
- watching and reading, answered from re-generation (total effects with intervals), and the faithfulness line;
- per dimension, a strip of the clip's segments aligned with time: the *direct effect* of hiding each (the same
  reasoning fed back); a cell within the noise floor is uncoloured "≈0", a cell where the two fills disagree is
  marked; a segment is a button: it seeks the player and marks the sentences grounded in it;
- a *grounding* strip (nats per token the whole reasoning loses) and a sentence × second table of grounding numbers;
- the *total effects* (re-generated with paired seeds) as a table: the hard-score distribution and the mean soft
  change with its interval, per condition;
- the reasoning as sentences; choosing a dimension tints each by the effect of *removing the sentence* on that
  score (the number is written beside it too); a sentence is a button: it marks its seconds and seeks the player;
- subtitles: each grounded sentence (above its floor) during its seconds, with its drop (WebVTT, attached to the
  player by ATTACH_SUBTITLES once the panel is shown).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from vs2demo.analysis.result import Result
from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.evidence.options import ExplainOptions, cost, planned_segments
from vs2demo.evidence.record import DIRECT_NAME, GROUNDING_NAME, TOTAL_NAME, Explanation, split_sentences
from vs2demo.present import tables
from vs2demo.present.evidence_prose import (
    change_words,
    check_line,
    faithfulness_line,
    fills_line,
    grounding_line,
    points,
    probe_lines,
    seconds,
    seeds_words,
    spread_line,
    total_title,
)

MAX_SENTENCES_SHOWN = 64  # the readable reasoning keeps sentences as written (no merging down to a dozen)
PLAYER = "#vs2-video video"  # the score tab's player, which segments and sentences seek
STORED_PLAYER = "#vs2-stored-video video"  # a reopened result's player (its evidence sits in #vs2-library)
# Colour strength is absolute, never relative to the largest effect: a move of FULL_SCALE expected-score points (or
# more) is full colour, so a clip where nothing matters looks blank instead of showing noise at full strength.
FULL_SCALE = 1.0
GROUNDING_FULL_SCALE = 1.0  # nats per token: full colour in the grounding strip and table
NOT_DISTINGUISHABLE = "≈0"
NOT_MEASURABLE = "–"

CSS = """
.vs2-evidence{font-size:.9em}.vs2-evidence .vs2-extra{font-size:.85em;opacity:.85}
.vs2-probes{margin:.3em 0 .6em 1.2em;padding:0}
.vs2-legend{display:flex;flex-wrap:wrap;gap:.3em 1em;font-size:.8em;margin:.3em 0 .5em}
.vs2-key{display:inline-block;width:1.1em;height:.9em;border:1px solid var(--border-color-primary);
vertical-align:middle;margin-right:.25em;border-radius:2px}
.vs2-key.down{background:#d9534f}.vs2-key.up{background:#2e86de}.vs2-key.gr{background:#8e44ad}
.vs2-key.tint{background:#f0ad4e}.vs2-key.sel{background:none;outline:3px solid #14a44d;outline-offset:-2px}
.vs2-key.dis{border:2px dashed var(--body-text-color)}
.vs2-strips{overflow-x:auto;max-width:100%}
.vs2-strip{display:flex;gap:2px;align-items:stretch;margin:.15em 0}
.vs2-strip-label{flex:0 0 9.5em;font-size:.85em;align-self:center}
.vs2-seg{flex:1 1 0;min-width:1.6em;border:1px solid var(--border-color-primary);border-radius:3px;
padding:.15em 0;font:inherit;font-size:.72em;cursor:pointer;color:var(--body-text-color);
background:color-mix(in srgb, var(--vs2-c) calc(var(--a) * 100%), transparent)}
.vs2-seg.down{--vs2-c:#d9534f}.vs2-seg.up{--vs2-c:#2e86de}.vs2-seg.gr{--vs2-c:#8e44ad}
.vs2-seg.nd{opacity:.75}.vs2-seg.dis{border:2px dashed var(--body-text-color)}
.vs2-seg.vs2-hl{outline:3px solid #14a44d;outline-offset:-1px}
.vs2-axis{display:flex;justify-content:space-between;font-size:.72em;opacity:.8;margin-left:9.5em}
.vs2-dims{margin:.5em 0 .2em}.vs2-dims button{font:inherit;margin-right:.3em;padding:.1em .5em;cursor:pointer;
border:1px solid var(--border-color-primary);border-radius:3px;background:none;color:var(--body-text-color)}
.vs2-dims button[aria-pressed="true"]{font-weight:700;border-width:2px}
.vs2-sentences{line-height:1.9}
.vs2-sent{font:inherit;text-align:left;cursor:pointer;border:1px solid transparent;border-radius:3px;
padding:0 .2em;color:var(--body-text-color);background:transparent;display:inline}
.vs2-ev[data-dim] .vs2-sent{background:color-mix(in srgb, #f0ad4e calc(var(--w) * 80%), transparent)}
.vs2-sent.vs2-hl{outline:2px solid #14a44d}
.vs2-eff{display:none;font-size:.75em;font-family:monospace;margin-left:.2em;opacity:.9}
.vs2-ev[data-dim="0"] .vs2-eff[data-d="0"],.vs2-ev[data-dim="1"] .vs2-eff[data-d="1"],
.vs2-ev[data-dim="2"] .vs2-eff[data-d="2"]{display:inline}
.vs2-table{border-collapse:collapse;font-size:.78em;margin:.3em 0}
.vs2-table th,.vs2-table td{border:1px solid var(--border-color-primary);padding:.1em .35em;text-align:right}
.vs2-table th:first-child,.vs2-table td:first-child{text-align:left;max-width:22em}
.vs2-table td.gr{background:color-mix(in srgb, #8e44ad calc(var(--a) * 100%), transparent)}
.vs2-evidence h4{margin:.7em 0 .2em;font-size:1em}
"""

# Delegated handlers, installed once in the page's <head>: the evidence panel is replaced on every explanation.
SCRIPT = """<script>
(() => {
  const player = (root) => document.querySelector(
    root && root.closest('#vs2-library') ? '__STORED_PLAYER__' : '__PLAYER__');
  const seek = (root, t) => { const v = player(root); if (v) { v.currentTime = t; v.pause(); } };
  const mark = (root, selector, keys, attr) => root.querySelectorAll(selector).forEach(
    (el) => el.classList.toggle('vs2-hl', keys.includes(el.getAttribute(attr))));
  window.vs2Subtitles = (root) => {
    const v = player(root); if (!v || !root) return;
    v.querySelectorAll('track[data-vs2]').forEach((t) => t.remove());
    const vtt = root.getAttribute('data-vtt'); if (!vtt) return;
    const track = document.createElement('track');
    Object.assign(track, {kind: 'subtitles', label: 'Reasoning', srclang: 'en', default: true,
      src: 'data:text/vtt;charset=utf-8,' + encodeURIComponent(vtt)});
    track.setAttribute('data-vs2', '1'); v.appendChild(track);
    if (v.textTracks.length) v.textTracks[v.textTracks.length - 1].mode = 'showing';
  };
  document.addEventListener('click', (ev) => {
    const root = ev.target.closest('.vs2-ev'); if (!root) return;
    const dim = ev.target.closest('[data-vs2-dim]');
    if (dim) {
      root.setAttribute('data-dim', dim.dataset.vs2Dim);
      root.querySelectorAll('[data-vs2-dim]').forEach((b) => b.setAttribute('aria-pressed', String(b === dim)));
      const key = 'w' + dim.dataset.vs2Dim;
      root.querySelectorAll('.vs2-sent').forEach((s) => s.style.setProperty('--w', s.dataset[key]));
      return;
    }
    const seg = ev.target.closest('.vs2-seg');
    if (seg) {
      seek(root, parseFloat(seg.dataset.t));
      mark(root, '.vs2-seg', [seg.dataset.seg], 'data-seg');
      mark(root, '.vs2-sent', JSON.parse(seg.dataset.sentences).map(String), 'data-sentence');
      return;
    }
    const sent = ev.target.closest('.vs2-sent');
    if (sent) {
      const segs = JSON.parse(sent.dataset.segments).map(String);
      mark(root, '.vs2-sent', [sent.dataset.sentence], 'data-sentence');
      mark(root, '.vs2-seg', segs, 'data-seg');
      if (sent.dataset.t) seek(root, parseFloat(sent.dataset.t));
    }
  });
})();
</script>""".replace("__STORED_PLAYER__", STORED_PLAYER).replace("__PLAYER__", PLAYER)


# Run after the panel is rendered (the explain event's follow-up): the player gets the panel's subtitles.
ATTACH_SUBTITLES = "() => { window.vs2Subtitles && window.vs2Subtitles(document.querySelector('.vs2-ev')); return []; }"


def _vtt_time(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def subtitles_vtt(e: Explanation) -> str:
    """WebVTT: each sentence grounded above its floor, during those seconds, with its drop (others are left out)."""
    cues = []
    for s in e.sentences:
        for i in e.grounded_segments(s.index):
            seg = e.segments[i]
            if seg.end_s > seg.start_s:
                cues.append((seg.start_s, seg.end_s, f"{s.text} [grounding {e.grounding[s.index][i]:.2f} nats/token]"))
    cues.sort(key=lambda c: (c[0], c[1]))
    body = "\n\n".join(f"{_vtt_time(a)} --> {_vtt_time(b)}\n{text.replace('-->', '->')}" for a, b, text in cues)
    return "WEBVTT\n\n" + body + ("\n" if body else "")


def _signed(x: float | None) -> str:
    if x is None:
        return NOT_MEASURABLE
    return f"{x:+.2f}" if abs(x) >= 0.005 else f"{x:+.3f}"


def _strength(x: float | None, full: float = FULL_SCALE) -> float:
    return 0.0 if x is None else round(min(1.0, abs(x) / full), 3)


def _sentences_of(e: Explanation) -> dict[int, list[int]]:
    return {i: [s.index for s in e.sentences if i in e.grounded_segments(s.index)] for i in range(len(e.segments))}


def _cell(e: Explanation, i: int, text: str, kind: str, strength: float, what: str, sentences: list[int]) -> str:
    seg = e.segments[i]
    return (f'<button type="button" class="vs2-seg {kind}" data-seg="{seg.index}" data-t="{seg.start_s}" '
            f'data-sentences="{escape(json.dumps(sentences))}" style="--a:{strength};'
            f'flex-grow:{max(seg.end_s - seg.start_s, 0.01):.3f}" title="{escape(what)}" '
            f'aria-label="{escape(what)}">{text}</button>')


def _strips(e: Explanation) -> str:
    sentences_of = _sentences_of(e)
    rows = []
    for d, dim in enumerate(DIMENSIONS):
        cells = []
        for i, seg in enumerate(e.segments):
            value = e.direct_value(d, i)
            other = e.direct_frozen[d][i].expected_delta
            spread = e.spread.direct[d][i] if e.spread else None
            extra = "" if spread is None else f"; median across samples, range {spread.low:+.3f} to {spread.high:+.3f}"
            if value is None:
                text, kind, a, verdict = NOT_MEASURABLE, "", 0.0, "not measurable here (no score digit)"
            elif not e.direct_clears(d, i):
                text, kind, a = NOT_DISTINGUISHABLE, "nd", 0.0
                verdict = f"not distinguishable from 0 (noise floor ±{e.direct_floor[d]:.3f})"
            else:
                text, kind, a = _signed(value), ("down" if value < 0 else "up"), _strength(value)
                verdict = f"beyond the noise floor ±{e.direct_floor[d]:.3f}"
            if e.fills_disagree(d, i):
                kind += " dis"
                verdict += "; the two fills disagree here: not established"
            what = (f"{seconds(seg)}: hidden, {dim.title.lower()} moves by {_signed(value)} ({DIRECT_NAME}, "
                    f"{e.fills[0]}; {_signed(other)} with {e.fills[1]}){extra}: {verdict}")
            cells.append(_cell(e, i, text, kind, a, what, sentences_of[i]))
        rows.append(f'<div class="vs2-strip" data-dimension="{dim.key}"><span class="vs2-strip-label">'
                    f'{escape(dim.title)}</span>{"".join(cells)}</div>')
    cells = []
    for i, seg in enumerate(e.segments):
        value = e.reasoning_value(i)
        clears = e.reasoning_clears(i)
        disagree = e.reasoning_fills_disagree(i)
        what = (f"{seconds(seg)}: hidden, the whole reasoning loses {value:.3f} nats per token ({GROUNDING_NAME}; "
                f"{e.reasoning_grounding_frozen[i]:.3f} with {e.fills[1]}): "
                + ("beyond" if clears else "not distinguishable from 0, within")
                + f" the floor {e.reasoning_floor:.3f}"
                + ("; the two fills disagree here: not established" if disagree else ""))
        kind = ("gr" if clears else "nd") + (" dis" if disagree else "")
        cells.append(_cell(e, i, f"{value:.2f}" if clears else NOT_DISTINGUISHABLE, kind,
                           _strength(value, GROUNDING_FULL_SCALE) if clears else 0.0, what, sentences_of[i]))
    rows.append('<div class="vs2-strip" data-dimension="grounding"><span class="vs2-strip-label">Reasoning '
                f'(grounding)</span>{"".join(cells)}</div>')
    axis = (f'<div class="vs2-axis"><span>{e.segments[0].start_s:.1f} s</span>'
            f'<span>{e.segments[-1].end_s:.1f} s</span></div>') if e.segments else ""
    return "".join(rows) + axis


def _grounding_table(e: Explanation) -> str:
    """Sentence × second: nats per token each sentence loses when the second is hidden; grounded cells tinted."""
    if not e.sentences or not e.segments:
        return ""
    rows = []
    for s in e.sentences:
        grounded = set(e.grounded_segments(s.index))
        cells = [tables.Cell(f"{v:.2f}", f'class="{"gr" if i in grounded else ""}" '
                             f'style="--a:{_strength(v, GROUNDING_FULL_SCALE) if i in grounded else 0}"')
                 for i, v in enumerate(e.grounding[s.index])]
        short = s.text if len(s.text) <= 60 else s.text[:57] + "…"
        rows.append([tables.Cell(f"{s.index + 1}. {escape(short)}", f'title="{escape(s.text)}"'), *cells,
                     f"{e.grounding_floor[s.index]:.2f}"])
    heads = ["Sentence", *(seconds(s) for s in e.segments), "floor"]
    return (f'<h4>{escape(GROUNDING_NAME.capitalize())}, sentence × second</h4>'
            + tables.table_html(heads, rows, "vs2-table vs2-grounding"))


def _totals_table(e: Explanation) -> str:
    if not e.total:
        return (f'<p class="vs2-extra">{escape(TOTAL_NAME.capitalize())}: not measured (no re-generation was '
                "asked for).</p>")
    rows = []
    for t in e.total:
        cells = []
        for c in t.dimensions:
            dist = f"{_dist(c.with_counts)} → {_dist(c.without_counts)}"
            cells.append(tables.Cell(f"{escape(_interval_short(c.soft_delta))}<br>{c.changed}/{c.pairs} changed<br>"
                                     f"<small>{escape(dist)}</small>", f'title="{escape(change_words(c))}"'))
        rows.append([escape(total_title(e, t)), *cells])
    seeds = seeds_words(e.total[0])
    return (f"<h4>{escape(TOTAL_NAME.capitalize())}</h4><p class=\"vs2-extra\">Each condition re-generated with "
            f"{escape(seeds)}, the same seeds as the unaltered re-generation; each cell: the mean change of the soft "
            "score (95% interval), how many paired written scores changed, and the written scores with → without."
            "</p>" + tables.table_html(["Condition", *(d.title for d in DIMENSIONS)], rows, "vs2-table vs2-total"))


def _dist(c: tuple[int, ...]) -> str:
    return "".join(str(s) * n for s, n in zip(range(1, 6), c)) or "none"


def _interval_short(i) -> str:
    if i is None:
        return NOT_MEASURABLE
    if i.n < 2:
        return points(i.mean)
    return f"{points(i.mean)} [{points(i.low)}, {points(i.high)}]"


def _sentences(e: Explanation) -> str:
    out = []
    for s in e.sentences:
        grounded = e.grounded_segments(s.index)
        row = e.grounding[s.index]
        strongest = max(grounded, key=lambda i: row[i]) if grounded else None
        removal = e.removals[s.index]
        weights = " ".join(f'data-w{d}="{_strength(r.expected_delta)}"' for d, r in enumerate(removal))
        effects = "".join(f'<span class="vs2-eff" data-d="{d}">[{_signed(r.expected_delta)}]</span>'
                          for d, r in enumerate(removal))
        about = (", ".join(f"{seconds(e.segments[i])} ({row[i]:.2f} nats/token)" for i in grounded)
                 or "no second beyond its floor")
        t = "" if strongest is None else f' data-t="{e.segments[strongest].start_s}"'
        title = f"About {about}. Tint: the direct effect of removing this sentence on the chosen score."
        out.append(f'<button type="button" class="vs2-sent" data-sentence="{s.index}" '
                   f'data-segments="{escape(json.dumps(list(grounded)))}"{t} {weights} '
                   f'title="{escape(title)}">{escape(s.text)}{effects}</button> ')
    return "".join(out)


def cost_line(result: Result, options: ExplainOptions | None = None, samples: int = 1) -> str:
    """What explaining this result (and its other ``samples`` − 1 samples' cells) will run, said before it runs."""
    options = options or ExplainOptions()
    sentences = len(split_sentences(result.raw_output, list(range(1, len(result.raw_output) + 1)),
                                    options.max_sentences))
    return cost(planned_segments(result.plan, options), sentences, options, samples).sentence(options.resamples)


def reading_html(result: Result) -> str:
    """The reasoning as readable text before any explanation: its sentences, then the three scores set apart.
    Escaped throughout (the model's text is never HTML); the same sentences the explanation tints."""
    if not result.raw_output:
        return ""
    sentences = split_sentences(result.raw_output, list(range(1, len(result.raw_output) + 1)), MAX_SENTENCES_SHOWN)
    body = " ".join(escape(s.text) for s in sentences) or escape(result.think or result.raw_output)
    scores = "".join(f"<li>{escape(s.title)}: <b>{'–' if s.hard is None else s.hard}</b> / 5</li>"
                     for s in result.scores)
    return (f'<div class="vs2-evidence vs2-reading"><p><b>The reasoning</b>: {body}</p>'
            f'<ul class="vs2-probes">{scores}</ul><p class="vs2-extra">Explain this result to see which seconds each '
            f"sentence is about and which score it moves (an extra, not the official scores). "
            f"{escape(cost_line(result))} Stop ends it.</p></div>")


def legend_html(e: Explanation) -> str:
    keys = [("down", f"{DIRECT_NAME}: hiding the seconds lowers the score"),
            ("up", f"{DIRECT_NAME}: hiding them raises it"),
            ("gr", f"{GROUNDING_NAME}: the reasoning is less likely without them"),
            ("tint", "sentence tint: the direct effect of removing that sentence"),
            ("sel", "outline: your selection"),
            ("dis", f"dashed: the two fills ({e.fills[0]}, {e.fills[1]}) disagree, not established")]
    items = "".join(f'<span><span class="vs2-key {k}"></span>{escape(t)}</span>' for k, t in keys)
    items += (f"<span><b>{NOT_DISTINGUISHABLE}</b> not distinguishable from 0 (within the noise floor, or the "
              f"samples disagree)</span><span><b>{NOT_MEASURABLE}</b> not measurable here (no score digit), not "
              "'unused'</span>")
    return f'<div class="vs2-legend" role="note" aria-label="Legend">{items}</div>'


def evidence_html(result: Result, e: Explanation, interactive: bool = True) -> str:
    """The whole evidence panel for one explained result. ``interactive=False`` (the report, which runs no script):
    the same numbers and colours with no control that would do nothing: segments and sentences are plain text, and
    neither the tint buttons nor the "click" instruction appear."""
    dims = "".join(f'<button type="button" data-vs2-dim="{i}" aria-pressed="false">{escape(d.title)}</button>'
                   for i, d in enumerate(DIMENSIONS))
    probes = "".join(f"<li>{escape(line)}</li>" for line in probe_lines(e))
    notes = [x for x in (faithfulness_line(e), grounding_line(e), spread_line(e), fills_line(e)) if x]
    faith = "".join(f"<li>{escape(line)}</li>" for line in notes)
    click = " Click a segment or a sentence to see what goes with it." if interactive else ""
    tint = (f'<div class="vs2-dims" role="group" aria-label="Tint the sentences by the effect of removing them on">'
            f"Tint sentences by the direct effect of removing each on: {dims}</div>") if interactive else ""
    html = (
        f'<div class="vs2-evidence vs2-ev" data-vtt="{escape(subtitles_vtt(e))}">'
        f'<p class="vs2-extra"><b>{escape(e.label)}.</b> Three quantities, named apart: the <b>direct effect</b> '
        "(the score with the same reasoning fed back), <b>grounding</b> (how much less likely the reasoning becomes, "
        "in nats per token) and the <b>total effect</b> (what the clip scores when the model writes again without "
        f"the seconds). Measured with {escape(e.measure)}.{click}</p>"
        f"{legend_html(e)}"
        f'<ul class="vs2-probes">{probes}{faith}</ul>'
        f"<h4>{escape(DIRECT_NAME.capitalize())} and grounding, per segment</h4>"
        f'<div class="vs2-strips" role="group" aria-label="Direct effect and grounding of hiding each segment">'
        f'{_strips(e)}</div>'
        f"{_totals_table(e)}{_grounding_table(e)}{tint}"
        f'<div class="vs2-sentences">{_sentences(e)}</div>'
        f'<p class="vs2-extra">{escape(check_line(e))} Clip: {escape(Path(result.video).name)}.</p>'
        '</div>')
    # without a script a button does nothing: the report shows the same cells as plain text
    return html if interactive else html.replace('<button type="button"', "<span").replace("</button>", "</span>")
