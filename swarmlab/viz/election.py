"""An election, animated: managers on a circle coloured by state, messages as arrows.

One frame per `replay` frame; the slider moves through time. Node markers are
trace 0 (updated by every frame); the arrows and the caption are layout
annotations, so each frame carries its own. Pure: the same trace gives the same
figure.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import plotly.graph_objects as go

from ..raft.trace import TraceEvent
from ._style import (
    MESSAGE_COLORS, MESSAGE_LABELS, REJECT_COLOR, STATE_COLORS, legend_entry, play_controls,
)
from .replay import Arrow, Frame, NodeView, node_name, replay

#: leave this much of each arrow's ends free, so arrows stop at the node's edge
_GAP = 0.24
#: answers are drawn slightly beside requests, so a round trip shows two arrows
_SIDE = 0.035
_RESPONSES = {"PRE_VOTE_RESP", "VOTE_RESP", "APP_RESP", "HEARTBEAT_RESP"}


def positions(ids: Sequence[int]) -> dict[int, tuple[float, float]]:
    """Nodes on the unit circle, the first at the top, clockwise."""
    n = len(ids)
    return {i: (math.sin(2 * math.pi * k / n), math.cos(2 * math.pi * k / n))
            for k, i in enumerate(sorted(ids))}


def election_figure(trace_events: Iterable[TraceEvent | dict], marks: Sequence = (),
                    frame_s: float = 0.05, title: str = "Raft election",
                    show_heartbeats: bool = True, duration_ms: int = 400) -> go.Figure:
    """The animation of a trace (see the module docstring).

    `marks` are a scenario's marks (shown as captions); `show_heartbeats=False`
    hides heartbeats and their answers to keep elections readable."""
    frames = replay(trace_events, frame_s=frame_s, marks=marks)
    if not frames:
        raise ValueError("empty trace: nothing to animate")
    pos = positions(sorted({n.id for f in frames for n in f.nodes}))
    hidden = set() if show_heartbeats else {"HEARTBEAT", "HEARTBEAT_RESP"}
    layouts = [_annotations(f, pos, hidden, title) for f in frames]
    # frames as plain dicts: go.Figure validates them once (go.Frame would do it twice)
    fig = go.Figure(data=[go.Scatter(**_nodes_trace(frames[0], pos))] + _legend(),
                    frames=[dict(name=str(k), data=[_nodes_trace(f, pos)], traces=[0],
                                 layout=layouts[k]) for k, f in enumerate(frames)])
    buttons, sliders = play_controls([f"{f.time:.3f}" for f in frames], duration_ms)
    fig.update_layout(
        **layouts[0], updatemenus=buttons, sliders=sliders, height=560, width=760,
        xaxis=dict(range=[-1.6, 1.6], visible=False),
        yaxis=dict(range=[-1.45, 1.45], visible=False, scaleanchor="x"),
        plot_bgcolor="white", margin=dict(l=10, r=10, t=60, b=90),
        legend=dict(x=1.02, y=1, font=dict(size=11)))
    return fig


def _nodes_trace(f: Frame, pos: dict[int, tuple[float, float]]) -> dict:
    nodes = [f.node(i) for i in sorted(pos) if any(n.id == i for n in f.nodes)]
    return dict(
        type="scatter", x=[pos[n.id][0] for n in nodes], y=[pos[n.id][1] for n in nodes],
        mode="markers+text", showlegend=False, hoverinfo="text",
        text=[f"{node_name(n.id)}<br>T{n.term}" for n in nodes],
        hovertext=[_hover(n) for n in nodes], textfont=dict(color="white", size=12),
        marker=dict(size=62, color=[STATE_COLORS[n.state] for n in nodes],
                    line=dict(width=[4 if n.state == "leader" else 1 for n in nodes],
                              color="#333")))


def _hover(n: NodeView) -> str:
    return (f"{node_name(n.id)}: {n.state}, term {n.term}<br>log {n.last_index} entries, "
            f"commit {n.commit}, applied {n.applied}<br>leader: {node_name(n.leader) or '-'}")


def _annotations(f: Frame, pos, hidden: set[str], title: str) -> dict:
    leaders = ", ".join(node_name(i) for i in f.leaders) or "none"
    anns = [_arrow(a, pos) for a in f.arrows if a.type not in hidden and a.dst in pos]
    caption = " · ".join(f.notes)
    anns.append(dict(text=caption, x=0.5, y=1.0, xref="paper", yref="paper",
                     showarrow=False, font=dict(size=13, color="#b03a2e")))
    return dict(annotations=anns,
                title=dict(text=f"{title} — t = {f.time:.3f} s · term {f.term} · "
                                f"leader {leaders}", x=0.02))


def _arrow(a: Arrow, pos: dict[int, tuple[float, float]]) -> dict:
    (x0, y0), (x1, y1) = pos[a.src], pos[a.dst]
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    side = _SIDE if a.type in _RESPONSES else -_SIDE
    ox, oy = -uy * side, ux * side
    color = REJECT_COLOR if a.reject else MESSAGE_COLORS.get(a.type, "#555")
    width = 3 if a.type in ("APP", "VOTE", "PRE_VOTE") else 1.5
    return dict(x=x1 - ux * _GAP + ox, y=y1 - uy * _GAP + oy,
                ax=x0 + ux * _GAP + ox, ay=y0 + uy * _GAP + oy,
                xref="x", yref="y", axref="x", ayref="y", text="", showarrow=True,
                arrowhead=2, arrowsize=1.2, arrowwidth=width, arrowcolor=color)


def _legend() -> list[go.Scatter]:
    states = [legend_entry(s, c, group="state") for s, c in STATE_COLORS.items()]
    msgs = [legend_entry(label, MESSAGE_COLORS[t], "arrow-right", group="messages")
            for t, label in MESSAGE_LABELS.items()]
    msgs.append(legend_entry("rejected", REJECT_COLOR, "arrow-right", group="messages"))
    return states + msgs
