"""The cluster as a live lab's managers see it now: the I/O half of `viz.swarm`.

`snapshot(lab)` asks the managers (the leader first) for nodes, tasks and services
and hands the documents to the pure `snapshot_from_api`; a manager that is down or
without quorum is skipped. `Recorder.for_lab(lab)` records such snapshots.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from ..lab.clients import node_api_client
from ..viz import swarm as figures
from ..viz.swarm import ClusterSnapshot, NodeCard, snapshot_from_api


def snapshot(lab: Any, clock: Callable[[], float] = time.monotonic,
             timeout: float = 3.0) -> ClusterSnapshot:
    """Ask the lab's managers (the leader first) for nodes, tasks and services."""
    t, errors = clock(), []
    names = list(lab.nodes)
    for name in _managers_first(lab):
        try:
            api = node_api_client(lab.record, lab.record.node(name), timeout)
            doc = snapshot_from_api(api.nodes(), api.tasks(), api.services(), t, names)
            api.close()
            return doc
        except Exception as e:  # noqa: BLE001 - a manager may be down or without quorum
            errors.append(f"{name}: {_short(e)}")
    no_swarm = all("not a swarm manager" in e for e in errors) if errors else False
    return ClusterSnapshot(t, tuple(NodeCard(name=n, state="no swarm" if no_swarm else "unknown")
                                    for n in names), error="; ".join(errors[:3]))


def _managers_first(lab: Any) -> list[str]:
    try:
        rows = lab.raft_status()
    except Exception:  # noqa: BLE001
        rows = []
    lead = [r["Node"] for r in rows if r.get("State") == "leader"]
    others = [r["Node"] for r in rows if r["Node"] not in lead]
    return lead + others or list(lab.nodes)


def _short(e: Exception) -> str:
    text = getattr(e, "explanation", None) or str(e)
    return str(text).splitlines()[0][:200]


class Recorder(figures.Recorder):
    """`viz.swarm.Recorder`, plus a constructor that records a live lab."""

    @classmethod
    def for_lab(cls, lab: Any, interval: float = 0.25) -> "Recorder":
        return cls(lambda: snapshot(lab), interval)


__all__ = ["Recorder", "snapshot"]
