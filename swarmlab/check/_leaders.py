"""The checks on the managers' leadership (Raft), read through the API or Raft's own status."""
from __future__ import annotations

from typing import Any

from ._core import Result, both, run


# -- the managers -----------------------------------------------------------------------------
def has_leader(lab: Any = None, wait: float = 20.0) -> Result:
    def probe(api) -> Result:
        lead = [x for x in api.nodes() if (x.get("ManagerStatus") or {}).get("Leader")]
        if lead:
            return Result(True, f"{lead[0]['Description']['Hostname']} leads")
        return Result(False, "no leader: a majority of the managers must be up", pending=True)
    return run(probe, lab, wait)


def leader_is_not(node: str, lab: Any = None, wait: float = 20.0) -> Result:
    def probe(api) -> Result:
        lead = [x["Description"]["Hostname"] for x in api.nodes()
                if (x.get("ManagerStatus") or {}).get("Leader")]
        if lead and lead[0] != node:
            return Result(True, f"{lead[0]} leads, not {node}")
        return Result(False, f"{node} still leads: leadership moves when the leader is lost "
                      f"or is no longer a manager", pending=not lead,
                      command=f"lab.kill('{node}'), or {both(f'docker node demote {node}')}")
    return run(probe, lab, wait)


def leader_among(nodes: list[str], lab: Any = None, wait: float = 20.0) -> Result:
    """One of `nodes` leads, as the managers' own Raft status says (through a partition the
    cluster's API may not answer from every side)."""
    from ._core import current_lab
    the_lab = current_lab(lab)

    def probe(_api) -> Result:
        rows = the_lab.raft_status()
        lead = sorted(r["Node"] for r in rows if r.get("State") == "leader")
        if lead and set(lead) <= set(nodes) and len(lead) == 1:
            return Result(True, f"{lead[0]} leads (term {max(r.get('Term', 0) for r in rows)})")
        if lead:
            return Result(False, f"{', '.join(lead)} lead{'s' if len(lead) == 1 else ''}, not one "
                          f"of {', '.join(nodes)}: which side holds a majority of the managers?",
                          pending=True)
        return Result(False, f"no leader yet among {', '.join(nodes)}: a leader needs the votes "
                      f"of a majority of all the managers", pending=True)
    return run(probe, _RaftOnly(the_lab), wait)


class _RaftOnly:
    """A lab whose checks read Raft status only (no Engine API client needed)."""

    api = None

    def __init__(self, lab: Any) -> None:
        self.lab = lab

    def client(self) -> Any:
        return self
