"""Tables that fit any width: every cell carries its header (the label it shows when rows stack into cards),
content stays as given, and headers are escaped."""

from __future__ import annotations

import re
from html import escape

import pytest

from vs2demo.present.tables import CSS, STACK_BELOW_PX, Cell, table_html


def labels(html: str) -> list[str]:
    return re.findall(r'<td data-label="([^"]*)"', html)


@pytest.mark.parametrize("headers,rows", [
    (["Dimension", "Clip A", "Clip B"], [["Visual quality", "4", "3"], ["Overall", "11", "9"]]),
    (["Sentence", "0.0–1.0 s", "floor"],
     [[Cell("1. It <b>moves</b>", 'title="t"'), Cell("0.20", 'class="gr"'), "0.01"]]),
    (["A & B", "<x>"], [["1", "2"]]),
])
def test_every_cell_is_labelled_with_its_header(headers, rows) -> None:
    html = table_html(headers, rows, "extra")
    assert labels(html) == [escape(h) for _ in rows for h in headers]
    assert html.count("<tr>") == len(rows) + 1 and html.count("<th>") == len(headers)
    for row in rows:
        for cell in row:
            text = cell.html if isinstance(cell, Cell) else cell
            assert f"<span>{text}</span>" in html  # given content kept as given (already escaped HTML)
            if isinstance(cell, Cell):
                assert cell.attrs in html
    assert "<x>" not in html.split("<tbody>")[0]  # headers are text, never markup


def test_narrow_containers_stack_rows_and_hide_no_column() -> None:
    """The stacking rule is a container query at the documented width; stacking hides the header row only (its
    words move into every cell's label), and no table scrolls sideways."""
    assert f"@container (max-width: {STACK_BELOW_PX}px)" in CSS
    narrow = CSS.split("@container", 1)[1]
    hidden = re.findall(r"([^{}]+)\{[^{}]*display:none", narrow)
    assert [h.strip() for h in hidden] == [".vs2-fit-table thead"]
    assert "content:attr(data-label)" in narrow and "overflow-x" not in CSS
