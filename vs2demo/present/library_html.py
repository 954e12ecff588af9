"""HTML for the results library (pure): a stored result's label and link, a visitor's list of results, the
feedback on a result, the agreement tables and the disagreements. Every text (feedback above all: anyone may write
it) is escaped; links carry only ids checked against the id pattern."""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape

from vs2demo.analysis.agreement import Agreement, Metric
from vs2demo.present import tables

CSS = """
.vs2-stored{padding:.5em .8em;border-radius:8px;border:2px dashed var(--color-accent);margin:.2em 0}
.vs2-stored code{font-size:.85em;word-break:break-all}
.vs2-linkbox{display:flex;flex-wrap:wrap;gap:.5em;align-items:center;margin:.3em 0}
.vs2-linkbox a{word-break:break-all}
.vs2-copy-link{cursor:pointer;padding:.2em .7em;border-radius:6px;border:1px solid var(--border-color-primary);
background:var(--button-secondary-background-fill);color:var(--body-text-color)}
.vs2-list,.vs2-agree{font-size:.9em}
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
    rows = [[f"<a href='?r={escape(i.id)}'>{escape(i.title)}</a>", escape(i.kind),
             time.strftime("%Y-%m-%d %H:%M", time.gmtime(i.created_at)), str(i.feedback), escape(i.prompt[:80])]
            for i in items]
    who = "every visitor's results (admin)" if admin else "this browser's results"
    return tables.table_html(["Result", "Kind", "Stored (UTC)", "Feedback", "Prompt"], rows, "vs2-list",
                             "vs2-my-results", who)


def feedback_list_html(rows: Sequence, me: str, clip_names: Sequence[str]) -> str:
    """Every review of a result, escaped; the visitor's own marked."""
    if not rows:
        return "<p class='vs2-meta'>No feedback on this result yet.</p>"
    out, classes = [], []
    for r in rows:
        mine = r.reviewer == me
        said = " · ".join(x for x in (r.verdict or "", "" if r.score is None else f"would give {r.score}",
                                      ", ".join(f"{s:g} s" for s in r.seconds)) if x)
        flag = "<span class='vs2-flag'>states something not in the clip</span>" if r.unsupported else ""
        clip = clip_names[r.item] if r.item < len(clip_names) else str(r.item)
        out.append([f"#{r.id}", "you" if mine else "a reviewer", escape(clip), escape(r.dimension),
                    f"{escape(said)} {flag}", escape(r.comment), f"v{r.version}"])
        classes.append("vs2-fb-mine" if mine else "")
    return tables.table_html(["#", "Who", "Clip", "Dimension", "Says", "Comment", "Edits"], out, "vs2-list",
                             "vs2-feedback-list", row_classes=classes)


def _cell(m: Metric, percent: bool = True) -> str:
    return escape(m.describe(percent))


def agreement_html(report: Agreement) -> str:
    """The agreement figures as a table: one row per dimension, then overall."""
    heads = ["Dimension", "Exact", "Relaxed (|Δ| ≤ 1)", "SRCC", "PLCC", "Pairwise, with ties",
             "Pairwise, without ties"]
    rows = [[escape(d.title), _cell(d.exact), _cell(d.relaxed), _cell(d.srcc, False), _cell(d.plcc, False),
             _cell(d.pairwise_ties), _cell(d.pairwise_no_ties)] for d in report.dimensions]
    # overall has no relaxed match or correlation of its own: its exact match is all three at once
    rows.append(["<b>Overall</b>", f"all three exact: {_cell(report.all_three)}", "–", "–", "–",
                 _cell(report.overall_ties), _cell(report.overall_no_ties)])
    note = (f"{report.items} reviewed clip(s), {report.pairs} pair(s) (from {report.pairs_from}). Model tie: soft "
            f"scores within {report.tie_threshold:g} ({3 * report.tie_threshold:g} on the sum). 95% bootstrap "
            f"intervals ({report.resamples} resamples, seed {report.seed}); n = items counted.")
    return tables.table_html(heads, rows, "vs2-agree", "vs2-agreement") + f"<div class='vs2-meta'>{escape(note)}</div>"


def disagreements_html(items: Sequence, limit: int = 200) -> str:
    """Where reviewers and the model disagree, each opening its result."""
    if not items:
        return "<p class='vs2-meta'>No disagreements you can see yet.</p>"
    rows = [[f"<a href='?r={escape(d.result_id)}'>{escape(d.clip)}</a>", escape(d.dimension), escape(d.model),
             escape(d.human) + (" <span class=vs2-flag>not in the clip</span>" if d.unsupported else ""),
             escape(d.comment)] for d in items[:limit]]
    more = f"<p class='vs2-meta'>{len(items) - limit} more not shown.</p>" if len(items) > limit else ""
    return tables.table_html(["Result", "Dimension", "Model", "Reviewer", "Comment"], rows, "vs2-list",
                             "vs2-disagreements") + more
