"""Colours and shared figure helpers, so every figure speaks the same visual language."""
from __future__ import annotations

import plotly.graph_objects as go

#: RaftScope's palette, roughly: followers grey-blue, candidates orange, leader green
STATE_COLORS = {
    "follower": "#8fa9c4",
    "pre-candidate": "#f6c878",
    "candidate": "#f08c2e",
    "leader": "#2e9e5b",
    "down": "#c0392b",
}

#: message colours: requests of a vote, vote answers, log traffic
MESSAGE_COLORS = {
    "PRE_VOTE": "#f6c878",
    "VOTE": "#f08c2e",
    "PRE_VOTE_RESP": "#9b59b6",
    "VOTE_RESP": "#9b59b6",
    "APP": "#1f6fd1",
    "HEARTBEAT": "#9cc3ee",
    "APP_RESP": "#7f8c8d",
    "HEARTBEAT_RESP": "#c8d0d4",
    "SNAP": "#8e5a2b",
    "TIMEOUT_NOW": "#e84393",
}
REJECT_COLOR = "#c0392b"
#: a node that is down: greyed, with a red rim; a message lost (cut, or to a node down)
DOWN_FILL = "#b8b8b8"
DOWN_EDGE = "#c0392b"
LOST_COLOR = "#c0392b"
#: the election timer's arc
TIMER_COLOR = "#34495e"

#: what the legend calls each message family
MESSAGE_LABELS = {
    "PRE_VOTE": "pre-vote request", "VOTE": "vote request (RequestVote)",
    "VOTE_RESP": "vote answer", "APP": "AppendEntries with entries",
    "HEARTBEAT": "heartbeat", "APP_RESP": "append/heartbeat answer",
    "SNAP": "InstallSnapshot", "TIMEOUT_NOW": "TimeoutNow (transfer)",
}

TERM_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
                "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def term_color(term: int) -> str:
    return TERM_PALETTE[(term - 1) % len(TERM_PALETTE)] if term > 0 else "#dddddd"


def legend_entry(name: str, color: str, symbol: str = "circle", group: str = "") -> go.Scatter:
    """A trace that only draws a legend entry (animated parts are annotations)."""
    return go.Scatter(x=[None], y=[None], mode="markers", name=name, legendgroup=group,
                      legendgrouptitle_text=group or None,
                      marker=dict(color=color, size=12, symbol=symbol), hoverinfo="skip")


def play_controls(labels: list[str], duration_ms: int,
                  y: float = -0.02) -> tuple[list[dict], list[dict]]:
    """Play/pause buttons and, right of them, a slider with one step per frame (frames
    named by index); `y` is where their tops go, in paper coordinates."""
    anim = dict(frame=dict(duration=duration_ms, redraw=True), transition=dict(duration=0),
                fromcurrent=True, mode="immediate")
    buttons = [dict(type="buttons", direction="left", x=0.0, y=y, xanchor="left",
                    yanchor="top", showactive=False,
                    buttons=[dict(label="▶ play", method="animate", args=[None, anim]),
                             dict(label="❚❚ pause", method="animate",
                                  args=[[None], dict(frame=dict(duration=0, redraw=False),
                                                     mode="immediate")])])]
    steps = [dict(label=lab, method="animate",
                  args=[[str(k)], dict(frame=dict(duration=0, redraw=True), mode="immediate")])
             for k, lab in enumerate(labels)]
    sliders = [dict(active=0, x=0.3, len=0.7, y=y, yanchor="top", steps=steps,
                    currentvalue=dict(prefix="t = ", suffix=" s"))]
    return buttons, sliders
