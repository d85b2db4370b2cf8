"""ipywidgets for the labs: the Raft panel (more widgets join it as the labs grow)."""
from .raft_panel import BUTTONS, COLUMNS, PanelFrame, RaftPanel, frame_from_status, render

__all__ = ["BUTTONS", "COLUMNS", "PanelFrame", "RaftPanel", "frame_from_status", "render"]
