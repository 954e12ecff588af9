"""HTML for the results library (pure): a stored result's label and link, a visitor's list of results, the
feedback on a result, the agreement tables and the disagreements. Every text (feedback above all: anyone may write
it) is escaped; links carry only ids checked against the id pattern."""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape

from vs2demo.analysis.agreement import Agreement, Metric

CSS = """
.vs2-stored{padding:.5em .8em;border-radius:8px;border:2px dashed var(--color-accent);margin:.2em 0}
.vs2-stored code{font-size:.85em;word-break:break-all}
.vs2-linkbox{display:flex;flex-wrap:wrap;gap:.5em;align-items:center;margin:.3em 0}
.vs2-linkbox a{word-break:break-all}
.vs2-copy-link{cursor:pointer;padding:.2em .7em;border-radius:6px;border:1px solid var(--border-color-primary);
background:var(--button-secondary-background-fill);color:var(--body-text-color)}
.vs2-list,.vs2-agree{width:100%;border-collapse:collapse;font-size:.9em}
.vs2-list td,.vs2-list th,.vs2-agree td,.vs2-agree th{padding:.25em .5em;text-align:left;
border-bottom:1px solid var(--border-color-primary);vertical-align:top}
.vs2-fb-mine{font-weight:600}.vs2-flag{color:#b91c1c}
"""

# Copies a result's link (built from the page's own address) when a "copy link" button is clicked; one listener
# for the page, since the buttons come and go with each result.
SCRIPT = """<script>
document.addEventListener('click', (ev) => {
  const button = ev.target.closest && ev.target.closest('.vs2-copy-link');
  if (!button) return;
  const url = new URL(window.location.href);
  url.search = '?r=' + encodeURIComponent(button.dataset.id);
  url.hash = '';
  const done = () => { button.textContent = 'Link copied'; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(url.href).then(done, () => window.prompt('Copy this link:', url.href));
  } else {
    window.prompt('Copy this link:', url.href);
  }
});
</script>"""


def link_html(result_id: str, note: str = "") -> str:
    """The link that reopens a stored result, with a button that copies it whole."""
    rid = escape(result_id)
    return (f"<div class='vs2-linkbox' id='vs2-result-link'><span>Stored: <a href='?r={rid}' target='_blank' "
            f"rel='noopener'>?r={rid}</a></span><button class='vs2-copy-link' data-id='{rid}' type='button'>"
            f"Copy link</button><span class='vs2-meta'>{escape(note)}</span></div>")


def stored_header_html(result_id: str, kind: str, date: str, model: str, revision: str | None, command: str,
                       title: str, clip_note: str) -> str:
    """What a reopened result is: a stored result of a given date, never a fresh run."""
    at = f" @ {escape(revision[:12])}" if revision else ""
    return (f"<div class='vs2-stored' id='vs2-stored-label'><b>Stored result</b> from {escape(date)} · "
            f"{escape(kind)} · {escape(title)} · model {escape(model)}{at}. {escape(clip_note)}"
            f"{link_html(result_id)}<div class='vs2-meta'>Reproduce: <code>{escape(command).replace(chr(10), '<br>')}"
            "</code></div></div>")


def listing_html(items: Sequence, admin: bool = False) -> str:
    """A browser's own stored results (every result for the admin), newest first, each a link."""
    if not items:
        return ("<p class='vs2-meta'>No stored results for this browser yet: each finished run is stored and "
                "listed here.</p>")
    rows = "".join(
        f"<tr><td><a href='?r={escape(i.id)}'>{escape(i.title)}</a></td><td>{escape(i.kind)}</td>"
        f"<td>{time.strftime('%Y-%m-%d %H:%M', time.gmtime(i.created_at))}</td><td>{i.feedback}</td>"
        f"<td>{escape(i.prompt[:80])}</td></tr>" for i in items)
    who = "every visitor's results (admin)" if admin else "this browser's results"
    return (f"<div class='vs2-scroll'><table class='vs2-list' id='vs2-my-results'><caption>{who}</caption><tr>"
            f"<th>Result</th><th>Kind</th><th>Stored (UTC)</th><th>Feedback</th><th>Prompt</th></tr>{rows}"
            "</table></div>")


def feedback_list_html(rows: Sequence, me: str, clip_names: Sequence[str]) -> str:
    """Every review of a result, escaped; the visitor's own marked."""
    if not rows:
        return "<p class='vs2-meta'>No feedback on this result yet.</p>"
    out = []
    for r in rows:
        mine = r.reviewer == me
        said = " · ".join(x for x in (r.verdict or "", "" if r.score is None else f"would give {r.score}",
                                      ", ".join(f"{s:g} s" for s in r.seconds)) if x)
        flag = "<span class='vs2-flag'>states something not in the clip</span>" if r.unsupported else ""
        clip = clip_names[r.item] if r.item < len(clip_names) else str(r.item)
        out.append(f"<tr class='{'vs2-fb-mine' if mine else ''}'><td>#{r.id}</td>"
                   f"<td>{'you' if mine else 'a reviewer'}</td><td>{escape(clip)}</td>"
                   f"<td>{escape(r.dimension)}</td><td>{escape(said)} {flag}</td>"
                   f"<td>{escape(r.comment)}</td><td>v{r.version}</td></tr>")
    return ("<div class='vs2-scroll'><table class='vs2-list' id='vs2-feedback-list'><tr><th>#</th><th>Who</th>"
            "<th>Clip</th><th>Dimension</th><th>Says</th><th>Comment</th><th>Edits</th></tr>" + "".join(out)
            + "</table></div>")


def _cell(m: Metric, percent: bool = True) -> str:
    return escape(m.describe(percent))


def agreement_html(report: Agreement) -> str:
    """The agreement figures as a table: one row per dimension, then overall."""
    head = ("<tr><th>Dimension</th><th>Exact</th><th>Relaxed (|Δ| ≤ 1)</th><th>SRCC</th><th>PLCC</th>"
            "<th>Pairwise, with ties</th><th>Pairwise, without ties</th></tr>")
    rows = "".join(f"<tr><td>{escape(d.title)}</td><td>{_cell(d.exact)}</td><td>{_cell(d.relaxed)}</td>"
                   f"<td>{_cell(d.srcc, False)}</td><td>{_cell(d.plcc, False)}</td><td>{_cell(d.pairwise_ties)}</td>"
                   f"<td>{_cell(d.pairwise_no_ties)}</td></tr>" for d in report.dimensions)
    rows += (f"<tr><td><b>Overall</b></td><td colspan='4'>all three exact: {_cell(report.all_three)}</td>"
             f"<td>{_cell(report.overall_ties)}</td><td>{_cell(report.overall_no_ties)}</td></tr>")
    note = (f"{report.items} reviewed clip(s), {report.pairs} pair(s) (from {report.pairs_from}). Model tie: soft "
            f"scores within {report.tie_threshold:g} ({3 * report.tie_threshold:g} on the sum). 95% bootstrap "
            f"intervals ({report.resamples} resamples, seed {report.seed}); n = items counted.")
    return (f"<div class='vs2-scroll'><table class='vs2-agree' id='vs2-agreement'>{head}{rows}</table></div>"
            f"<div class='vs2-meta'>{escape(note)}</div>")


def disagreements_html(items: Sequence, limit: int = 200) -> str:
    """Where reviewers and the model disagree, each opening its result."""
    if not items:
        return "<p class='vs2-meta'>No disagreements you can see yet.</p>"
    rows = "".join(
        f"<tr><td><a href='?r={escape(d.result_id)}'>{escape(d.clip)}</a></td><td>{escape(d.dimension)}</td>"
        f"<td>{escape(d.model)}</td><td>{escape(d.human)}"
        f"{' <span class=vs2-flag>not in the clip</span>' if d.unsupported else ''}</td>"
        f"<td>{escape(d.comment)}</td></tr>" for d in items[:limit])
    more = f"<p class='vs2-meta'>{len(items) - limit} more not shown.</p>" if len(items) > limit else ""
    return ("<div class='vs2-scroll'><table class='vs2-list' id='vs2-disagreements'><tr><th>Result</th>"
            "<th>Dimension</th><th>Model</th><th>Reviewer</th><th>Comment</th></tr>" + rows + "</table></div>" + more)
