"""What the live labs import: the cluster view, snapshots, recorders, and `fresh_lab`.

    from swarmlab.widgets.live import ClusterView, Recorder, fresh_lab
    lab = fresh_lab("lab03", managers=3, workers=2)
"""
from __future__ import annotations

import os
import time
from typing import Any

from ..viz.swarm import ClusterSnapshot, cluster_figure, drain_figure, rolling_update_figure
from .cluster import ClusterView, render_cluster
from .snapshot import Recorder, snapshot


def fresh_lab(name: str, **kw: Any):
    """`Lab.up(name, ...)`, after bringing down a lab of that name left by an earlier run.
    The backend is `$SWARMLAB_BACKEND` (default: the embedded one, `local`)."""
    from ..lab import Lab, LabNotFound

    try:
        Lab.attach(name).down()
    except (LabNotFound, LookupError, FileNotFoundError):
        pass
    kw.setdefault("backend", os.environ.get("SWARMLAB_BACKEND", "local"))
    for attempt in range(3):
        try:
            return Lab.up(name, **kw)
        except Exception as e:  # noqa: BLE001
            # Two labs started at the same moment (other SWARMLAB_HOMEs) can pick the same
            # free loopback range; the loser finds the winner's node1 already in a swarm.
            if "already part of a swarm" not in str(e) or attempt == 2:
                raise
            time.sleep(1.0 + attempt)
    raise AssertionError("unreachable")


__all__ = ["ClusterSnapshot", "ClusterView", "Recorder", "cluster_figure", "drain_figure",
           "fresh_lab", "render_cluster", "rolling_update_figure", "snapshot"]
