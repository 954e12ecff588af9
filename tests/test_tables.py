"""Tables that fit any width: every cell carries its header as text (shown when rows stack into cards), content
stays as given, headers are escaped, and the narrow rule hides the header row only."""

from __future__ import annotations

import re
from html import escape

import pytest

from vs2demo.present.tables import CSS, LABEL, STACK_BELOW_PX, Cell, table_html


def labels(html: str) -> list[str]:
    return re.findall(rf'<span class="{LABEL}">([^<]*)</span>', html)


@pytest.mark.parametrize("headers,rows", [
    (["Dimension", "Clip A", "Clip B"], [["Visual quality", "4", "3"], ["Overall", "11", "9"]]),
    (["Sentence", "0.0–1.0 s", "floor"],
     [[Cell("1. It <b>moves</b>", 'title="t"'), Cell("0.20", 'class="gr"'), "0.01"]]),
    (["A & B", "<x>"], [["1", "2"]]),
])
def test_every_cell_carries_its_header(headers, rows) -> None:
    html = table_html(headers, rows, "extra", "an-id", "a caption", ["mine"])
    assert labels(html) == [escape(h) for _ in rows for h in headers]
    assert html.count("<tr") == len(rows) + 1 and html.count("<th>") == len(headers)
    for row in rows:
        for cell in row:
            text = cell.html if isinstance(cell, Cell) else cell
            assert f"<span>{text}</span>" in html  # given content kept as given (already escaped HTML)
            if isinstance(cell, Cell):
                assert cell.attrs in html
    assert "<x>" not in html  # headers are text, never markup
    assert 'id="an-id"' in html and "<caption>a caption</caption>" in html and '<tr class="mine">' in html


def test_narrow_containers_stack_rows_and_hide_no_column() -> None:
    """The stacking rule is a container query at the documented width; it hides the header row only (its words
    are then shown in every cell), and no table scrolls sideways."""
    wide, narrow = CSS.split("@container", 1)
    assert f" (max-width: {STACK_BELOW_PX}px)" in narrow[:40]

    def hidden(css: str) -> list[str]:
        return [h.strip() for h in re.findall(r"([^{}]+)\{[^{}]*display:none", css)]

    assert hidden(wide) == [f".vs2-fit-table .{LABEL}"]  # a wide table shows its header row instead
    assert hidden(narrow) == [".vs2-fit-table thead", f".vs2-fit-table td:first-child > .{LABEL}"]
    assert re.search(rf"td > \.{LABEL}\{{display:block", narrow) and "overflow-x" not in CSS
