"""The machinery under the checks: which lab, reading the API, polling while pending."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

_LAB: list[Any] = []


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str          # what was seen (ok) or the hint (not ok)
    pending: bool = False  # the right change was made; the cluster is converging


def use(lab: Any) -> Any:
    """Make `lab` the one the checks inspect (returns it)."""
    _LAB[:] = [lab]
    return lab


def current_lab(lab: Any = None) -> Any:
    if lab is not None:
        return lab
    if _LAB:
        return _LAB[0]
    from ..lab import Lab
    return Lab.attach()


def run(probe: Callable[[Any], Result], lab: Any = None, wait: float = 15.0) -> Result:
    """Evaluate `probe(api)` until it is done, or not pending, or `wait` runs out."""
    lab = current_lab(lab)
    deadline = time.monotonic() + wait
    while True:
        try:
            r = probe(lab.client().api)
        except Exception as e:  # noqa: BLE001 - no leader, a node down...: say it
            r = Result(False, f"the cluster did not answer ({_short(e)}); is the lab up, "
                              f"with a leader? (swarmlab raft status)", pending=True)
        if r.ok:
            print("ok:", r.message)
            return r
        if not r.pending or time.monotonic() >= deadline:
            raise AssertionError(r.message)
        time.sleep(0.3)


def _short(e: Exception) -> str:
    text = getattr(e, "explanation", None) or str(e)
    return str(text).splitlines()[0][:160]


def both(docker_cmd: str) -> str:
    """A command in Docker's and swarmlab's spelling."""
    return f"`{docker_cmd}` (here: `swarmlab --lab LAB {docker_cmd.removeprefix('docker ')}`)"


def find_node(api: Any, name: str) -> dict | None:
    return next((n for n in api.nodes()
                 if n["Description"]["Hostname"] == name or n["ID"] == name), None)


def find_service(api: Any, name: str) -> dict | None:
    return next((s for s in api.services() if s["Spec"]["Name"] == name), None)


def running_tasks(api: Any, service: str) -> list[dict]:
    return [t for t in api.tasks(filters={"service": service})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


def node_names(api: Any) -> dict[str, str]:
    return {n["ID"]: n["Description"]["Hostname"] for n in api.nodes()}
