"""The two helpers every lab notebook uses, on the lab the checks inspect.

    from swarmlab import check
    from swarmlab.notebook import get, running
    check.use(lab)
    running("web")                  # the tasks of `web` that run, and are meant to
    get("node2", 8080, "/vote")     # curl http://<node2's address>:8080/vote

Both act on the lab given to `check.use` (or `lab=`), so a notebook names its lab once.
"""
from __future__ import annotations

import urllib.request
from typing import Any

from .check._core import current_lab, running_tasks

__all__ = ["get", "running"]


def running(service: str, lab: Any = None) -> list[dict]:
    """The tasks of `service` that run, and are meant to (Docker's task documents)."""
    return running_tasks(current_lab(lab).client().api, service)


def get(node: str, port: int, path: str = "/", data: bytes | None = None,
        lab: Any = None, timeout: float = 5) -> str:
    """`curl http://NODE:PORT/PATH` against the node's own address (`data`: a POST).
    Through the routing mesh any node answers for a published port."""
    url = f"http://{current_lab(lab).record.node(node).addr}:{port}{path}"
    with urllib.request.urlopen(url, data=data, timeout=timeout) as r:
        return r.read().decode()
