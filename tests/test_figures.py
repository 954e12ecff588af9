"""The radar's pure checks: its 1–5 tick labels read upright and sit between two dimensions' axes, whatever angle
they are placed at (plotly turns tick labels with their axis), and a result with no score draws no chart."""

from __future__ import annotations

from tests.reviews import fake_result
from vs2demo.core.dimensions import DIMENSIONS
from vs2demo.present import figures


def test_tick_labels_are_upright_and_clear_of_every_axis() -> None:
    axis = figures.radar([("clip", fake_result())]).layout.polar.radialaxis
    # plotly rotates the radial axis group by -angle and each tick label by tickangle within it (the browser test
    # measures the drawn rotation): upright exactly when the two are equal
    assert axis.tickangle == axis.angle
    # dimension axes run clockwise from the top (90°), evenly spaced
    step = 360 / len(DIMENSIONS)
    axes = [(90 - i * step) % 360 for i in range(len(DIMENSIONS))]
    gap = min(min(abs(axis.angle % 360 - a), 360 - abs(axis.angle % 360 - a)) for a in axes)
    assert gap >= step / 4
    assert list(axis.tickvals) == [1, 2, 3, 4, 5] and axis.tickfont.size >= 12


def test_nothing_parsed_draws_no_chart() -> None:
    from dataclasses import replace

    blank = fake_result()
    blank = replace(blank, scores=tuple(replace(s, hard=None) for s in blank.scores))
    assert figures.radar([("clip", blank)]) is None
