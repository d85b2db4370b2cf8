"""The dispatcher: agent sessions, heartbeats, assignments and task status reports."""
from ._dispatcher import (
    GRACE_MULTIPLIER, HEARTBEAT_FAILURE, LEADERSHIP_CHANGE, Assignment, Dispatcher, Session, SessionInvalid,
)

__all__ = ["GRACE_MULTIPLIER", "HEARTBEAT_FAILURE", "LEADERSHIP_CHANGE", "Assignment", "Dispatcher", "Session",
           "SessionInvalid"]
