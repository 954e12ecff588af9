"""The explanation on the page (pure HTML, every text escaped; the model's text is never HTML):

- the probes in a few plain lines ("is the judge watching? reading the prompt?");
- per dimension, a strip of the clip's segments aligned with time, each showing how hiding it moves the score;
  a segment is a button: it seeks the player and marks the sentences grounded in it;
- the reasoning as sentences; choosing a dimension tints each by how much removing it moves that score (the
  number is written beside it too: colour is never the only carrier); a sentence is a button: it marks its
  seconds in the strips and seeks the player to the strongest one;
- subtitles: each sentence during the seconds it is grounded in (WebVTT, attached to the player by ATTACH_SUBTITLES
  once the panel is shown).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from vs2demo.analysis.result import Result
from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.evidence.record import Explanation, split_sentences
from vs2demo.present.evidence_prose import check_line, likelihood, probe_lines, seconds

MAX_SENTENCES_SHOWN = 64  # the readable reasoning keeps sentences as written (no merging down to a dozen)
PLAYER = "#vs2-video video"  # the score tab's player, which segments and sentences seek
STORED_PLAYER = "#vs2-stored-video video"  # a reopened result's player (its evidence sits in #vs2-library)
# Colour strength is absolute, never relative to the largest effect: a move of FULL_SCALE expected-score points (or
# more) is full colour, so a clip where nothing matters looks blank instead of showing noise at full strength.
FULL_SCALE = 1.0

CSS = """
.vs2-evidence{font-size:.9em}.vs2-evidence .vs2-extra{font-size:.85em;opacity:.85}
.vs2-probes{margin:.3em 0 .6em 1.2em;padding:0}
.vs2-strip{display:flex;gap:2px;align-items:stretch;margin:.15em 0}
.vs2-strip-label{flex:0 0 9.5em;font-size:.85em;align-self:center}
.vs2-seg{flex:1 1 0;min-width:1.6em;border:1px solid var(--border-color-primary);border-radius:3px;
padding:.15em 0;font:inherit;font-size:.72em;cursor:pointer;color:var(--body-text-color);
background:color-mix(in srgb, var(--vs2-c) calc(var(--a) * 100%), transparent)}
.vs2-seg.down{--vs2-c:#d9534f}.vs2-seg.up{--vs2-c:#2e86de}
.vs2-seg.vs2-hl{outline:3px solid #f0ad4e;outline-offset:-1px}
.vs2-axis{display:flex;justify-content:space-between;font-size:.72em;opacity:.8;margin-left:9.5em}
.vs2-dims{margin:.5em 0 .2em}.vs2-dims button{font:inherit;margin-right:.3em;padding:.1em .5em;cursor:pointer;
border:1px solid var(--border-color-primary);border-radius:3px;background:none;color:var(--body-text-color)}
.vs2-dims button[aria-pressed="true"]{font-weight:700;border-width:2px}
.vs2-sentences{line-height:1.9}
.vs2-sent{font:inherit;text-align:left;cursor:pointer;border:1px solid transparent;border-radius:3px;
padding:0 .2em;color:var(--body-text-color);background:transparent;display:inline}
.vs2-ev[data-dim] .vs2-sent{background:color-mix(in srgb, #f0ad4e calc(var(--w) * 80%), transparent)}
.vs2-sent.vs2-hl{border-color:#f0ad4e;border-width:2px}
.vs2-eff{display:none;font-size:.75em;font-family:monospace;margin-left:.2em;opacity:.9}
.vs2-ev[data-dim="0"] .vs2-eff[data-d="0"],.vs2-ev[data-dim="1"] .vs2-eff[data-d="1"],
.vs2-ev[data-dim="2"] .vs2-eff[data-d="2"]{display:inline}
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
    """WebVTT: each sentence shown during the seconds it is grounded in (a sentence grounded nowhere is left out)."""
    cues = []
    for s in e.sentences:
        for i in e.grounded_segments(s.index):
            seg = e.segments[i]
            if seg.end_s > seg.start_s:
                cues.append((seg.start_s, seg.end_s, s.text))
    cues.sort(key=lambda c: (c[0], c[1]))
    body = "\n\n".join(f"{_vtt_time(a)} --> {_vtt_time(b)}\n{text.replace('-->', '->')}" for a, b, text in cues)
    return "WEBVTT\n\n" + body + ("\n" if body else "")


def _signed(x: float | None) -> str:
    if x is None:
        return "–"
    return "0.00" if abs(x) < 0.005 else f"{x:+.2f}"


def _strength(x: float | None) -> float:
    return 0.0 if x is None else round(min(1.0, abs(x) / FULL_SCALE), 3)


def _strips(e: Explanation) -> str:
    sentences_of = {i: [s.index for s in e.sentences if i in e.grounded_segments(s.index)] for i in
                    range(len(e.segments))}
    rows = []
    for d, row in zip(DIMENSIONS, e.moments):
        cells = []
        for seg, s in zip(e.segments, row):
            delta = s.expected_delta
            text = _signed(delta)
            kind = "" if _signed(delta) in ("0.00", "–") else ("down" if delta < 0 else "up")
            what = (f"{seconds(seg)}: hiding it moves {d.title.lower()} by {text} "
                    f"(expected score, reasoning held fixed)")
            cells.append(
                f'<button type="button" class="vs2-seg {kind}" data-seg="{seg.index}" data-t="{seg.start_s}" '
                f'data-sentences="{escape(json.dumps(sentences_of[seg.index]))}" '
                f'style="--a:{_strength(delta)};'
                f'flex-grow:{max(seg.end_s - seg.start_s, 0.01):.3f}" title="{escape(what)}" '
                f'aria-label="{escape(what)}">{text}</button>')
        rows.append(f'<div class="vs2-strip" data-dimension="{d.key}"><span class="vs2-strip-label">'
                    f'{escape(d.title)}</span>{"".join(cells)}</div>')
    axis = (f'<div class="vs2-axis"><span>{e.segments[0].start_s:.1f} s</span>'
            f'<span>{e.segments[-1].end_s:.1f} s</span></div>') if e.segments else ""
    return "".join(rows) + axis


def _sentences(e: Explanation) -> str:
    out = []
    for s in e.sentences:
        grounded = e.grounded_segments(s.index)
        row = e.grounding[s.index]
        strongest = max(grounded, key=lambda i: row[i]) if grounded else None
        removal = e.removals[s.index]
        weights = " ".join(f'data-w{d}="{_strength(r.expected_delta)}"'
                           for d, r in enumerate(removal))
        effects = "".join(f'<span class="vs2-eff" data-d="{d}">[{_signed(r.expected_delta)}]</span>'
                          for d, r in enumerate(removal))
        about = ", ".join(seconds(e.segments[i]) for i in grounded) or "no particular seconds"
        t = "" if strongest is None else f' data-t="{e.segments[strongest].start_s}"'
        out.append(f'<button type="button" class="vs2-sent" data-sentence="{s.index}" '
                   f'data-segments="{escape(json.dumps(list(grounded)))}"{t} {weights} '
                   f'title="{escape("About " + about)}">{escape(s.text)}{effects}</button> ')
    return "".join(out)


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
            f"sentence is about and which score it moves.</p></div>")


def evidence_html(result: Result, e: Explanation) -> str:
    """The whole evidence panel for one explained result."""
    dims = "".join(f'<button type="button" data-vs2-dim="{i}" aria-pressed="false">{escape(d.title)}</button>'
                   for i, d in enumerate(DIMENSIONS))
    probes = "".join(f"<li>{escape(line)}</li>" for line in probe_lines(e))
    reasoning = next((p for p in e.probes if p.key == "clip_hidden"), None)
    watch = "" if reasoning is None else (f" Without the clip, the whole reasoning becomes "
                                          f"{escape(likelihood(reasoning.reasoning_drop))}.")
    return (
        f'<div class="vs2-evidence vs2-ev" data-vtt="{escape(subtitles_vtt(e))}">'
        f'<p class="vs2-extra"><b>{escape(e.label)}.</b> Hiding a segment replaces its frames by a neutral fill; '
        "each number is how the expected score moves when those seconds are hidden, with the reasoning held fixed "
        "(red: it drops, so the score rests on them; blue: it rises). Click a segment or a sentence to see what goes "
        f"with it.{watch}</p>"
        f'<ul class="vs2-probes">{probes}</ul>'
        f'<div class="vs2-strips" role="group" aria-label="Effect of hiding each segment, per dimension">'
        f'{_strips(e)}</div>'
        f'<div class="vs2-dims" role="group" aria-label="Tint the sentences by their effect on">Tint sentences by '
        f'their effect on: {dims}</div>'
        f'<div class="vs2-sentences">{_sentences(e)}</div>'
        f'<p class="vs2-extra">{escape(check_line(e))} Clip: {escape(Path(result.video).name)}.</p>'
        '</div>')
