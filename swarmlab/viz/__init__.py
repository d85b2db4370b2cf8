"""Plotly figures built from Raft traces (the simulator's or a live lab's).

Every function is pure: the same trace gives the same figure.
"""
from .election import election_figure, positions
from .log import log_figure
from .quorum import datacenter_split, quorum, quorum_figure, splits, tolerated
from .events import event_from_dict, live_trace
from .frames import STATES, Arrow, Frame, NodeView
from .replay import changes_only, replay, status_rows

__all__ = [
    "Arrow", "Frame", "NodeView", "STATES", "changes_only", "datacenter_split",
    "election_figure", "event_from_dict", "log_figure", "positions", "quorum",
    "live_trace", "quorum_figure", "replay", "splits", "status_rows", "tolerated",
]
