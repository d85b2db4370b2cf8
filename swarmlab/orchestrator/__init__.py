"""Orchestrators: reconcilers as plain functions of a store view, returning the writes.

`RECONCILERS` is the order the manager runs them in on every tick (each on a fresh view).
"""
from ._common import (
    Context, Writes, by_slot, is_live, new_task, node_gone, node_usable, occupies_slot,
    shut_down, slot_key, spec_current,
)
from .global_ import eligible, keeps_task, reconcile_global
from .invariants import InvariantChecker, converged
from .jobs import reconcile_jobs
from .reaper import reconcile_reaper
from .replicated import reconcile_replicated
from .restart import promote_ready, reconcile_restarts
from .update import reconcile_updates

RECONCILERS = (
    ("replicated", reconcile_replicated),
    ("global", reconcile_global),
    ("jobs", reconcile_jobs),
    ("restart", reconcile_restarts),
    ("update", reconcile_updates),
    ("promote", promote_ready),
    ("reaper", reconcile_reaper),
)

__all__ = [
    "Context", "Writes", "by_slot", "is_live", "new_task", "node_gone", "node_usable",
    "occupies_slot", "shut_down", "slot_key", "spec_current", "eligible", "keeps_task",
    "reconcile_global", "InvariantChecker", "converged",
    "reconcile_jobs", "reconcile_reaper", "reconcile_replicated", "promote_ready",
    "reconcile_restarts", "reconcile_updates", "RECONCILERS",
]
