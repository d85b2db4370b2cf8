"""An election, animated: managers on a circle coloured by state, messages as arrows.

One frame per `replay` frame; the slider moves through time. Per frame:
- trace 0, the nodes: coloured by state; a node that is down stays in its place,
  greyed, with a red rim and the word "down";
- trace 1, the election timers, as RaftScope draws them: an arc around each
  follower or candidate, full when its timer was just reset (a heartbeat, a vote
  granted, a new term), shrinking as it runs down; when it is gone the node
  campaigns. A leader has none;
- trace 2, a handle in the middle of every message drawn (hover: what it is; an
  ✕ when the message is lost);
- layout: the arrows (a lost message stops half way, greyed), the network's cut
  as a dashed red line between the two sides of a partition, the caption (the
  scenario's notes, then what happens in the frame and why) and the title.
`ElectionDrawing` makes the pieces, so the Raft panel can draw one frame at a
time; `election_figure` animates them. Pure: the same trace gives the same figure.
"""
from __future__ import annotations

import math
import textwrap
from typing import Iterable, Sequence

import plotly.graph_objects as go

from ..raft.trace import TraceEvent
from ._style import (
    DOWN_EDGE, DOWN_FILL, LOST_COLOR, MESSAGE_COLORS, MESSAGE_LABELS, REJECT_COLOR, STATE_COLORS,
    TIMER_COLOR, legend_entry, play_controls,
)
from .frames import Arrow, Frame, NodeView, node_name
from .replay import replay

#: leave this much of each arrow's ends free, so arrows stop at the node's edge
_GAP = 0.24
#: answers are drawn slightly beside requests, so a round trip shows two arrows
_SIDE = 0.035
_RESPONSES = {"PRE_VOTE_RESP", "VOTE_RESP", "APP_RESP", "HEARTBEAT_RESP"}
#: the timer's arc: its radius around a node, and points for a full turn
_ARC_R = 0.31
_ARC_POINTS = 48
#: a lost message's arrow stops this far along
_LOST_AT = 0.5
#: the cut goes this far beyond the circle of nodes
_CUT_OVER = 0.45
#: the caption wraps at this many characters a line, and has at most this many lines
_WRAP, _LINES = 100, 4
#: every frame updates these traces
ANIMATED = [0, 1, 2]


def positions(ids: Sequence[int], groups: Sequence[Sequence[int]] = ()
              ) -> dict[int, tuple[float, float]]:
    """Nodes on the unit circle, the first at the top, clockwise. With `groups` (a
    partition), each group's nodes sit together, so one line can separate them."""
    rank = {i: k for k, g in enumerate(groups) for i in g}
    order = sorted(ids, key=lambda i: (rank.get(i, len(groups)), i))
    n = len(order)
    return {i: (math.sin(2 * math.pi * k / n), math.cos(2 * math.pi * k / n))
            for k, i in enumerate(order)}


class ElectionDrawing:
    """The figure's pieces for a list of frames (see the module docstring)."""

    def __init__(self, frames: Sequence[Frame], title: str = "Raft election",
                 show_heartbeats: bool = True) -> None:
        if not frames:
            raise ValueError("empty trace: nothing to animate")
        self.frames = list(frames)
        self.title = title
        ids = sorted({n.id for f in frames for n in f.nodes})
        first_cut = next((f.cut for f in frames if f.cut), ())
        self.pos = positions(ids, first_cut)
        self.order = sorted(self.pos, key=lambda i: _angle(self.pos[i]))
        self.hidden = set() if show_heartbeats else {"HEARTBEAT", "HEARTBEAT_RESP"}

    # -- per frame -------------------------------------------------------------
    def data(self, f: Frame) -> list[dict]:
        return [self._nodes(f), self._timers(f), self._handles(f)]

    def layout(self, f: Frame) -> dict:
        leaders = ", ".join(node_name(i) for i in f.leaders) or "none"
        anns = [_arrow(a, self.pos) for a in self.arrows(f)]
        anns.append(dict(text=caption_html(f), x=0.0, y=1.0, xref="paper", yref="paper",
                         xanchor="left", yanchor="bottom", align="left", showarrow=False,
                         font=dict(size=13, color="#333")))
        shapes, cut_anns = self._cut(f)
        return dict(annotations=anns + cut_anns, shapes=shapes,
                    title=dict(text=f"{self.title} — t = {f.time:.2f} s · term {f.term} · "
                                    f"leader {leaders}", x=0.02, y=0.98, yanchor="top"))

    def arrows(self, f: Frame) -> list[Arrow]:
        """The messages drawn in frame f (heartbeats hidden unless asked for)."""
        return [a for a in f.arrows if a.type not in self.hidden and a.dst in self.pos
                and a.src in self.pos]

    # -- the whole figure ------------------------------------------------------
    def base_layout(self) -> dict:
        return dict(
            autosize=True, height=620, plot_bgcolor="white",
            xaxis=dict(range=[-1.7, 1.7], visible=False, fixedrange=True),
            yaxis=dict(range=[-1.55, 1.55], visible=False, scaleanchor="x", fixedrange=True),
            margin=dict(l=10, r=10, t=125, b=95),
            legend=dict(x=1.0, xanchor="left", y=1, font=dict(size=11)))

    def legend(self) -> list[go.Scatter]:
        states = [legend_entry(s, c, group="state") for s, c in STATE_COLORS.items()
                  if s != "down"]
        states.append(go.Scatter(x=[None], y=[None], mode="markers", name="down",
                                 legendgroup="state", hoverinfo="skip",
                                 marker=dict(color=DOWN_FILL, size=12,
                                             line=dict(color=DOWN_EDGE, width=2))))
        timer = go.Scatter(x=[None], y=[None], mode="lines", name="election timer left",
                           legendgroup="state", line=dict(color=TIMER_COLOR, width=4),
                           hoverinfo="skip")
        msgs = [legend_entry(label, MESSAGE_COLORS[t], "arrow-right", group="messages")
                for t, label in MESSAGE_LABELS.items()]
        msgs.append(legend_entry("rejected", REJECT_COLOR, "arrow-right", group="messages"))
        msgs.append(legend_entry("lost (cut, or sent to a node down)", LOST_COLOR, "x",
                                 group="messages"))
        return states + [timer] + msgs

    def figure_dict(self, k: int) -> dict:
        """Frame k alone, as a static figure's JSON (for the panel's own player)."""
        f = self.frames[k]
        layout = dict(self.base_layout(), **self.layout(f))
        legend = [t.to_plotly_json() for t in self.legend()]
        return {"data": self.data(f) + legend, "layout": layout}

    # -- pieces ----------------------------------------------------------------
    def _nodes(self, f: Frame) -> dict:
        nodes = [n for n in f.nodes if n.id in self.pos]
        down = [n.state == "down" for n in nodes]
        return dict(
            type="scatter", x=[self.pos[n.id][0] for n in nodes],
            y=[self.pos[n.id][1] for n in nodes], customdata=[n.id for n in nodes],
            mode="markers+text", showlegend=False, hoverinfo="text",
            text=[f"{node_name(n.id)}<br>{'down' if d else f'T{n.term}'}"
                  for n, d in zip(nodes, down)],
            hovertext=[_hover(n) for n in nodes],
            textfont=dict(color=[DOWN_EDGE if d else "white" for d in down], size=12),
            marker=dict(size=62, color=[DOWN_FILL if d else STATE_COLORS[n.state]
                                        for n, d in zip(nodes, down)],
                        opacity=[0.75 if d else 1.0 for d in down],
                        line=dict(width=[3 if d else 4 if n.state == "leader" else 1
                                         for n, d in zip(nodes, down)],
                                  color=[DOWN_EDGE if d else "#333" for d in down])))

    def _timers(self, f: Frame) -> dict:
        xs: list[float | None] = []
        ys: list[float | None] = []
        for n in f.nodes:
            if n.timer is None or n.id not in self.pos or n.timer <= 0:
                continue
            cx, cy = self.pos[n.id]
            steps = max(2, int(round(_ARC_POINTS * n.timer)) + 1)
            for s in range(steps):
                a = 2 * math.pi * n.timer * s / (steps - 1)  # clockwise from the top
                xs.append(round(cx + _ARC_R * math.sin(a), 4))
                ys.append(round(cy + _ARC_R * math.cos(a), 4))
            xs.append(None)
            ys.append(None)
        return dict(type="scatter", mode="lines", x=xs, y=ys, showlegend=False,
                    hoverinfo="skip", line=dict(color=TIMER_COLOR, width=4))

    def _handles(self, f: Frame) -> dict:
        arrows = self.arrows(f)
        pts = [_along(a, self.pos, _LOST_AT if a.dropped else 0.5) for a in arrows]
        return dict(
            type="scatter", mode="markers", showlegend=False, hoverinfo="text",
            x=[p[0] for p in pts], y=[p[1] for p in pts],
            customdata=[[a.src, a.dst, a.type] for a in arrows],
            hovertext=[_describe(a) for a in arrows],
            marker=dict(symbol=["x" if a.dropped else "circle" for a in arrows],
                        size=[13 if a.dropped else 7 for a in arrows],
                        color=[LOST_COLOR if a.dropped else
                               MESSAGE_COLORS.get(a.type, "#555") for a in arrows],
                        opacity=[1.0 if a.dropped else 0.0 for a in arrows]))

    def _cut(self, f: Frame) -> tuple[list[dict], list[dict]]:
        if not f.cut:
            return [], []
        group = {i: k for k, g in enumerate(f.cut) for i in g}
        order = [i for i in self.order if i in group]
        n = len(self.order)
        bounds = []
        for k, i in enumerate(order):
            j = order[(k + 1) % len(order)]
            if group[i] != group[j]:
                a, b = _angle(self.pos[i]), _angle(self.pos[j])
                if b <= a:
                    b += 2 * math.pi
                if b - a > 2 * math.pi / n + 1e-9:  # a node between them is not drawn
                    b = a + 2 * math.pi / n
                bounds.append((a + b) / 2)
        style = dict(color=LOST_COLOR, width=3, dash="dash")
        shapes: list[dict] = []
        if len(bounds) == 2:
            (x0, y0), (x1, y1) = [(math.sin(a), math.cos(a)) for a in bounds]
            dx, dy = x1 - x0, y1 - y0
            length = math.hypot(dx, dy) or 1.0
            ux, uy = dx / length, dy / length
            ends = [(x0 - ux * _CUT_OVER, y0 - uy * _CUT_OVER),
                    (x1 + ux * _CUT_OVER, y1 + uy * _CUT_OVER)]
            shapes.append(dict(type="line", xref="x", yref="y", x0=round(ends[0][0], 4),
                               y0=round(ends[0][1], 4), x1=round(ends[1][0], 4),
                               y1=round(ends[1][1], 4), line=style))
            label_at = max(ends, key=lambda p: p[1])
        else:
            for a in bounds:
                shapes.append(dict(type="line", xref="x", yref="y",
                                   x0=round(0.3 * math.sin(a), 4), y0=round(0.3 * math.cos(a), 4),
                                   x1=round(1.45 * math.sin(a), 4),
                                   y1=round(1.45 * math.cos(a), 4), line=style))
            label_at = (1.45 * math.sin(bounds[0]), 1.45 * math.cos(bounds[0]))
        label = dict(text="network cut", x=round(label_at[0], 4), y=round(label_at[1], 4),
                     xref="x", yref="y", showarrow=False, yanchor="bottom",
                     font=dict(size=12, color=LOST_COLOR))
        return shapes, [label]


def election_figure(trace_events: Iterable[TraceEvent | dict], marks: Sequence = (),
                    frame_s: float = 0.05, title: str = "Raft election",
                    show_heartbeats: bool = True, duration_ms: int = 400,
                    tick_s: float = 0.05) -> go.Figure:
    """The animation of a trace (see the module docstring).

    `marks` are a scenario's marks (shown as captions); `show_heartbeats=False`
    hides heartbeats and their answers to keep elections readable; `tick_s` is the
    tick length the trace's timeouts are counted in (the scenario's `tick_s`).
    Each frame of `frame_s` seconds is shown for `duration_ms`."""
    frames = replay(trace_events, frame_s=frame_s, marks=marks, tick_s=tick_s)
    d = ElectionDrawing(frames, title, show_heartbeats)
    layouts = [d.layout(f) for f in frames]
    # frames as plain dicts: go.Figure validates them once (go.Frame would do it twice)
    fig = go.Figure(data=[go.Scatter(**t) for t in d.data(frames[0])] + d.legend(),
                    frames=[dict(name=str(k), data=d.data(f), traces=ANIMATED,
                                 layout=layouts[k]) for k, f in enumerate(frames)])
    buttons, sliders = play_controls([f"{f.time:.2f}" for f in frames], duration_ms)
    fig.update_layout(**d.base_layout(), **layouts[0], updatemenus=buttons, sliders=sliders)
    return fig


def caption_html(f: Frame) -> str:
    """The frame's notes (bold, red) and caption, wrapped to a few lines."""
    lines = []
    if f.notes:
        notes = " · ".join(f.notes)
        lines += [f"<b><span style='color:#b03a2e'>{ln}</span></b>"
                  for ln in textwrap.wrap(notes, _WRAP)[:1]]
    lines += textwrap.wrap(f.caption, _WRAP)
    if len(lines) > _LINES:
        lines = lines[:_LINES]
        lines[-1] += " …"
    return "<br>".join(lines)


def _angle(p: tuple[float, float]) -> float:
    """Clockwise from the top, in [0, 2π)."""
    return math.atan2(p[0], p[1]) % (2 * math.pi)


def _hover(n: NodeView) -> str:
    timer = "" if n.timer_s is None else f"<br>election timer: {n.timer_s:.2f} s left"
    return (f"{node_name(n.id)}: {n.state}, term {n.term}<br>log {n.last_index} entries, "
            f"commit {n.commit}, applied {n.applied}<br>leader: {node_name(n.leader) or '-'}"
            f"{timer}")


def _describe(a: Arrow) -> str:
    what = MESSAGE_LABELS.get(a.type, a.type)
    extra = (" (rejected)" if a.reject else "") + (" — lost" if a.dropped else "")
    return f"{what}: {node_name(a.src)} → {node_name(a.dst)}{extra}"


def _ends(a: Arrow, pos) -> tuple[float, float, float, float, float, float]:
    (x0, y0), (x1, y1) = pos[a.src], pos[a.dst]
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    side = _SIDE if a.type in _RESPONSES else -_SIDE
    ox, oy = -uy * side, ux * side
    return (x0 + ux * _GAP + ox, y0 + uy * _GAP + oy, x1 - ux * _GAP + ox, y1 - uy * _GAP + oy,
            ux, uy)


def _along(a: Arrow, pos, frac: float) -> tuple[float, float]:
    sx, sy, ex, ey, _, _ = _ends(a, pos)
    return round(sx + (ex - sx) * frac, 4), round(sy + (ey - sy) * frac, 4)


def _arrow(a: Arrow, pos: dict[int, tuple[float, float]]) -> dict:
    sx, sy, ex, ey, _, _ = _ends(a, pos)
    if a.dropped:
        ex, ey = _along(a, pos, _LOST_AT)
        color = LOST_COLOR
    else:
        color = REJECT_COLOR if a.reject else MESSAGE_COLORS.get(a.type, "#555")
    width = 3 if a.type in ("APP", "VOTE", "PRE_VOTE") else 1.5
    return dict(x=round(ex, 4), y=round(ey, 4), ax=round(sx, 4), ay=round(sy, 4),
                xref="x", yref="y", axref="x", ayref="y", text="", showarrow=True,
                arrowhead=0 if a.dropped else 2, arrowsize=1.2, arrowwidth=width,
                arrowcolor=color, opacity=0.6 if a.dropped else 1.0)
