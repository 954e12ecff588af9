"""Plotly figures built from results (pure: results in, figure out)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from vs2demo.analysis.result import Result
from vs2demo.core.dimensions import DIMENSIONS, SCORE_VALUES
from vs2demo.present.page_prose import SOFT_NAME, WRITTEN_NAME

CLIP_COLOURS = ("#4C78A8", "#E45756")
# Mid-grey text and translucent grid read on the light and the dark theme alike (the figure is drawn on the
# server, which does not know the visitor's theme); the backgrounds stay transparent, so the page's own shows.
INK, GRID = "#8a8f98", "rgba(138,143,152,0.35)"
TICKS_AT = 150  # degrees: radial tick labels between two axes, not under an axis title or the filled shape


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
        fig.add_trace(go.Scatterpolar(r=_closed(hard), theta=theta, name=f"{prefix}{WRITTEN_NAME}",
                                      fill="toself", line={"color": colour, "width": 3}, opacity=0.75))
        soft = [s.soft for s in result.scores]
        if any(v is not None for v in soft):
            # the soft score is the most probable digit times its share of p(1…5): below that digit whenever the
            # model hesitated (a sampled written digit may differ from it): the legend says what the line is
            fig.add_trace(go.Scatterpolar(r=_closed(soft), theta=theta,
                                          # two lines: a phone-wide chart cut the one-line legend
                                          name=f"{prefix}{SOFT_NAME}:<br>the most probable digit × its share",
                                          line={"color": colour, "dash": "dot", "width": 3},
                                          marker={"size": 7}, mode="lines+markers"))
    if not fig.data:
        return None
    # the range starts at 0: a score of 1 is a visible point away from the centre, not the centre itself
    fig.update_layout(
        polar={"radialaxis": {"range": [0, SCORE_VALUES[-1]], "tickvals": list(SCORE_VALUES), "angle": TICKS_AT,
                              # plotly turns the radial axis (ticks and their labels) by -angle, then each label
                              # by tickangle: equal angles leave the digits upright, as text is read
                              "tickangle": TICKS_AT, "gridcolor": GRID, "linecolor": GRID,
                              "tickfont": {"size": 13, "color": INK}},  # readable, and grey on either theme
               "angularaxis": {"direction": "clockwise", "gridcolor": GRID, "linecolor": GRID,
                               "tickfont": {"size": 13, "color": INK}},
               "bgcolor": "rgba(0,0,0,0)"},
        font={"color": INK}, showlegend=True, legend={"orientation": "h", "y": -0.12, "font": {"size": 11}},
        margin={"l": 80, "r": 80, "t": 40, "b": 40}, height=400, paper_bgcolor="rgba(0,0,0,0)",
        modebar={"remove": ["zoom", "pan", "select", "lasso2d", "zoomin", "zoomout", "autoscale", "resetscale"],
                 "bgcolor": "rgba(0,0,0,0)"},
    )
    return fig


def confusion(matrices: Sequence[tuple[str, Sequence[Sequence[int]]]]) -> go.Figure:
    """One heatmap per dimension: how many clips people scored h (rows) and the model m (columns)."""
    from plotly.subplots import make_subplots

    # one above the other: three side by side leave a phone's screen about 100 px per matrix
    fig = make_subplots(rows=len(matrices), cols=1, subplot_titles=[t for t, _ in matrices], vertical_spacing=0.1)
    labels = [str(s) for s in SCORE_VALUES]
    for i, (_, counts) in enumerate(matrices, 1):
        fig.add_trace(go.Heatmap(z=[list(r) for r in counts], x=labels, y=labels, colorscale="Blues", zmin=0,
                                 showscale=False, text=[[str(c) for c in r] for r in counts], texttemplate="%{text}",
                                 hovertemplate="people %{y}, model %{x}: %{z}<extra></extra>"), row=i, col=1)
        fig.update_xaxes(title_text="model", row=i, col=1)
        fig.update_yaxes(title_text="people", row=i, col=1)
    fig.update_layout(height=260 * len(matrices), margin={"l": 50, "r": 20, "t": 40, "b": 40}, font={"color": INK},
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return fig
