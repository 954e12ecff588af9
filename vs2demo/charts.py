"""Plotly figures built from results (pure: results in, figure out)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from .dimensions import DIMENSIONS, SCORE_VALUES
from .result import Result

CLIP_COLOURS = ("#4C78A8", "#E45756")


def _closed(values: list) -> list:
    return [*values, values[0]]  # repeat the first point so the polygon closes


def radar(results: Sequence[tuple[str, Result]]) -> go.Figure | None:
    """Hard scores (solid) and official soft scores (dotted) per clip; None when nothing was parsed."""
    theta = _closed([d.chart_label for d in DIMENSIONS])  # full titles are cut off at a narrow chart's sides
    fig = go.Figure()
    for i, (name, result) in enumerate(results):
        hard = [s.hard for s in result.scores]
        if all(h is None for h in hard):
            continue
        colour = CLIP_COLOURS[i % len(CLIP_COLOURS)]
        prefix = f"{name}: " if len(results) > 1 else ""
        fig.add_trace(go.Scatterpolar(r=_closed(hard), theta=theta, name=f"{prefix}score", fill="toself",
                                      line={"color": colour, "width": 3}, opacity=0.75))
        soft = [s.soft for s in result.scores]
        if any(v is not None for v in soft):
            fig.add_trace(go.Scatterpolar(r=_closed(soft), theta=theta, name=f"{prefix}soft score (official)",
                                          line={"color": colour, "dash": "dot", "width": 2}))
    if not fig.data:
        return None
    fig.update_layout(
        polar={"radialaxis": {"range": [1, 5], "tickvals": list(SCORE_VALUES), "angle": 90},
               "angularaxis": {"direction": "clockwise"}},
        showlegend=True, legend={"orientation": "h", "y": -0.15}, margin={"l": 70, "r": 70, "t": 40, "b": 30},
        height=380, paper_bgcolor="rgba(0,0,0,0)",
    )
    return fig
