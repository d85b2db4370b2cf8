"""Time series charts: what a metrics store returns (lab 07), counters scraped over time (lab 11).

Every function is pure: the same points give the same figure. No figure has a fixed width: it
takes the page's.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from ._style import TERM_PALETTE

Series = Mapping[str, Sequence[tuple[float, float]]]
"""Named series of (time, value) points, e.g. {"kitchen": [(0.0, 21.3), (1.0, 21.4)]}."""

Scrapes = Sequence[tuple[float, Mapping[str, float]]]
"""Successive scrapes of counters: (time, {name: counter value}), oldest first."""


def series_figure(series: Series, *, title: str = "", y_title: str = "",
                  x_title: str = "time (s)", height: int = 380, markers: bool = True) -> go.Figure:
    """One line per series (sorted by name, points sorted by time), a legend above the plot."""
    if not series:
        raise ValueError("no series to draw")
    fig = go.Figure()
    for k, name in enumerate(sorted(series)):
        points = sorted(series[name])
        fig.add_trace(go.Scatter(
            x=[t for t, _ in points], y=[v for _, v in points], name=name,
            mode="lines+markers" if markers else "lines",
            line=dict(color=TERM_PALETTE[k % len(TERM_PALETTE)], width=2),
            marker=dict(size=5)))
    fig.update_layout(
        title=title or None, height=height, autosize=True, plot_bgcolor="white",
        margin=dict(l=60, r=20, t=90 if title else 50, b=50),
        legend=dict(orientation="h", x=0, y=1.02, xanchor="left", yanchor="bottom"),
        hovermode="x unified")
    fig.update_xaxes(title_text=x_title, showgrid=True, gridcolor="#eeeeee", zeroline=False)
    fig.update_yaxes(title_text=y_title, showgrid=True, gridcolor="#eeeeee", zeroline=False)
    return fig


def rates(scrapes: Scrapes) -> dict[str, list[tuple[float, float]]]:
    """Per second increase of each counter between successive scrapes, as Prometheus's
    `rate()` reads it: each point at the later scrape's time; a counter that went down was
    reset (a restarted process), so its new value is all the increase. A counter missing from
    a scrape has no point for that interval."""
    ordered = sorted(scrapes, key=lambda s: s[0])
    out: dict[str, list[tuple[float, float]]] = {
        name: [] for _, counters in ordered for name in counters}
    for (t0, before), (t1, after) in zip(ordered, ordered[1:]):
        if t1 <= t0:
            continue
        for name, value in after.items():
            if name not in before:
                continue
            increase = value - before[name] if value >= before[name] else value
            out[name].append((t1, increase / (t1 - t0)))
    return out


def counters_figure(scrapes: Scrapes, *, title: str = "", per_second: bool = True,
                    unit: str = "connections", height: int = 380) -> go.Figure:
    """Counters scraped over time, one line per counter: their rate (`per_second`), or their
    value as scraped. Time runs from the first scrape."""
    if len(scrapes) < (2 if per_second else 1):
        raise ValueError("a rate needs two scrapes at least" if per_second else "no scrape")
    start = min(t for t, _ in scrapes)
    data: dict[str, list[tuple[float, float]]] = {}
    if per_second:
        data = {n: [(t - start, v) for t, v in pts] for n, pts in rates(scrapes).items()}
        y_title = f"{unit} per second"
    else:
        for t, counters in scrapes:
            for n, v in counters.items():
                data.setdefault(n, []).append((t - start, v))
        y_title = f"{unit} (total)"
    return series_figure(data, title=title, y_title=y_title, height=height)


__all__ = ["Scrapes", "Series", "counters_figure", "rates", "series_figure"]
