"""Log replication, animated: each manager's log as a row of cells coloured by term.

Per frame: the cells (trace 0, the term written in each), the commit index
(trace 1, a bar after the last committed cell), the applied index (trace 2, a
dot under the last applied cell) and each row's state and term (trace 3, at the
left). Frames where nothing in the logs moved are dropped (heartbeats only).
Pure: the same trace gives the same figure.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import plotly.graph_objects as go

from ..raft.trace import TraceEvent
from ._style import STATE_COLORS, play_controls, term_color
from .frames import Frame, node_name
from .replay import changes_only, replay

#: rows' labels end here, just left of the first cell (x=1); they need ~4 units of room
_LABEL_X = 0.45
_LEFT = -5.0


def log_figure(trace_events: Iterable[TraceEvent | dict], marks: Sequence = (),
               frame_s: float = 0.05, title: str = "Raft log replication",
               duration_ms: int = 500) -> go.Figure:
    frames = changes_only(replay(trace_events, frame_s=frame_s, marks=marks))
    if not frames:
        raise ValueError("empty trace: nothing to animate")
    ids = sorted({n.id for f in frames for n in f.nodes})
    rows = {i: len(ids) - k for k, i in enumerate(ids)}  # node1 on top
    width = max([1] + [n.last_index for f in frames for n in f.nodes])
    fig = go.Figure(
        data=_traces(frames[0], rows),
        frames=[dict(name=str(k), data=_traces(f, rows), traces=[0, 1, 2, 3],
                     layout=_layout(f, title)) for k, f in enumerate(frames)])
    # the controls go below the axis title: ~70 px under a plot 60 px per row high
    buttons, sliders = play_controls([f"{f.time:.3f}" for f in frames], duration_ms,
                                     y=-70 / (60 * len(ids)))
    fig.update_layout(
        **_layout(frames[0], title), updatemenus=buttons, sliders=sliders,
        height=230 + 60 * len(ids), autosize=True, plot_bgcolor="white",  # the page's width
        xaxis=dict(range=[_LEFT, width + 0.8], title="log index",
                   tickvals=list(range(1, width + 1)), zeroline=False, showgrid=False),
        yaxis=dict(range=[0.3, len(ids) + 0.7], visible=False),
        # the legend sits in the top margin, above the first row, never over it
        margin=dict(l=10, r=10, t=100, b=170),
        legend=dict(orientation="h", x=0, xanchor="left", y=1.0, yanchor="bottom"))
    return fig


def _traces(f: Frame, rows: dict[int, int]) -> list[dict]:
    nodes = [n for n in f.nodes if n.id in rows]
    committed = [n for n in nodes if n.commit > 0]
    applied = [n for n in nodes if n.applied > 0]
    cells = [(idx, rows[n.id], t, n.state == "down") for n in nodes
             for idx, t in enumerate(n.log, start=1)]
    cell_marker = dict(symbol="square", size=34, color=[term_color(c[2]) for c in cells],
                       opacity=[0.35 if c[3] else 1.0 for c in cells])
    return [
        dict(type="scatter", mode="markers+text", name="entry (colour = term)",
             x=[c[0] for c in cells], y=[c[1] for c in cells], text=[str(c[2]) for c in cells],
             textfont=dict(color="white"), hoverinfo="skip", showlegend=True,
             marker=cell_marker),
        dict(type="scatter", mode="markers", name="commit index", hoverinfo="skip",
             x=[n.commit + 0.5 for n in committed], y=[rows[n.id] for n in committed],
             marker=dict(symbol="line-ns", size=40, line=dict(width=4, color="#111"))),
        dict(type="scatter", mode="markers", name="applied index", hoverinfo="skip",
             x=[n.applied for n in applied], y=[rows[n.id] - 0.42 for n in applied],
             cliponaxis=False, marker=dict(symbol="triangle-up", size=11, color="#2e9e5b")),
        dict(type="scatter", mode="text", showlegend=False, hoverinfo="skip",
             x=[_LABEL_X] * len(nodes), y=[rows[n.id] for n in nodes],
             textposition="middle left",
             text=[f"<b>{node_name(n.id)}</b> {n.state} T{n.term}" for n in nodes],
             textfont=dict(color=[STATE_COLORS[n.state] for n in nodes], size=12)),
    ]


def _layout(f: Frame, title: str) -> dict:
    caption = " · ".join(f.notes)
    return dict(title=dict(text=f"{title} — t = {f.time:.3f} s · term {f.term}", x=0.02),
                annotations=[dict(text=caption, x=0.5, y=-0.02, xref="paper", yref="paper",
                                  yanchor="top", showarrow=False,
                                  font=dict(size=13, color="#b03a2e"))])
