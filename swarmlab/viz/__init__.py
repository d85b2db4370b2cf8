"""Plotly figures built from Raft traces (the simulator's or a live lab's).

Every function is pure: the same trace gives the same figure.
"""
from .election import election_figure, positions
from .log import log_figure
from .quorum import datacenter_split, quorum, quorum_figure, splits, tolerated
from .replay import (
    Arrow, Frame, NodeView, STATES, changes_only, event_from_dict, live_trace, replay, status_rows,
)

__all__ = [
    "Arrow", "Frame", "NodeView", "STATES", "changes_only", "datacenter_split",
    "election_figure", "event_from_dict", "log_figure", "positions", "quorum",
    "live_trace", "quorum_figure", "replay", "splits", "status_rows", "tolerated",
]
