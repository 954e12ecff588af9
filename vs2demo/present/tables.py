"""Tables that fit any width (pure): a row per item where there is room; in a narrow container each row becomes a
card of "header: value" lines, so no column is hidden, cut or scrolled out of sight. One rendering serves the page
and the offline report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

STACK_BELOW_PX = 560  # the container width under which rows stack into cards (a phone, or a half-width column)
LABEL = "vs2-fit-label"  # a cell's own copy of its header


@dataclass(frozen=True)
class Cell:
    html: str  # the cell's content, already escaped
    attrs: str = ""  # extra attributes of its <td> (class, style, title), already escaped


def table_html(headers: Sequence[str], rows: Sequence[Sequence[str | Cell]], cls: str = "", table_id: str = "",
               caption: str = "", row_classes: Sequence[str] = ()) -> str:
    """``rows`` of already-escaped HTML (or Cells), one per item, under ``headers`` (plain text); the first cell
    names the item and titles its card when rows stack. ``row_classes``: a class per row (escaped here)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = [c if isinstance(c, Cell) else Cell(c) for c in row]
        tr = f'<tr class="{escape(row_classes[i])}">' if i < len(row_classes) and row_classes[i] else "<tr>"
        # each cell carries its header as text, shown only when rows stack (then the header row is hidden)
        body.append(tr + "".join(f'<td {c.attrs}><span class="{LABEL}">{escape(h)}</span><span>{c.html}</span></td>'
                                 for h, c in zip(headers, cells)) + "</tr>")
    ident = f' id="{escape(table_id)}"' if table_id else ""
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (f'<div class="vs2-fit"><table class="vs2-fit-table {cls}"{ident}>{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


CSS = f"""
.vs2-fit{{container-type:inline-size;width:100%}}
.vs2-fit-table{{width:100%;border-collapse:collapse;margin:.3em 0}}
.vs2-fit-table th,.vs2-fit-table td{{font-variant:normal;font-feature-settings:normal}}
.vs2-fit-table th,.vs2-fit-table td{{padding:.3em .5em;text-align:left;vertical-align:top;
border:0;border-bottom:1px solid var(--border-color-primary);overflow-wrap:anywhere}}
.vs2-fit-table .{LABEL}{{display:none}}
@container (max-width: {STACK_BELOW_PX}px){{
.vs2-fit-table thead{{display:none}}
.vs2-fit-table,.vs2-fit-table tbody,.vs2-fit-table tr{{display:block;width:auto;border:0 !important}}
.vs2-fit-table tr{{border:1px solid var(--border-color-primary) !important;border-radius:8px;margin:.5em 0;
padding:.3em .7em}}
.vs2-fit-table td{{display:flex;gap:.8em;justify-content:space-between;border:0 !important;padding:.12em 0 !important;
background:none}}
.vs2-fit-table td > .{LABEL}{{display:block;font-weight:600;flex:0 0 auto;max-width:45%;text-align:left}}
.vs2-fit-table td > span:last-child{{text-align:right}}
.vs2-fit-table td:first-child{{font-weight:700;padding-bottom:.3em !important;
border-bottom:1px solid var(--border-color-primary) !important}}
.vs2-fit-table td:first-child > .{LABEL}{{display:none}}
.vs2-fit-table td:first-child > span:last-child{{text-align:left}}
}}
"""
