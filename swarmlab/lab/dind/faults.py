"""Network partitions between node containers, made with iptables inside the nodes.

The rules live in the ``raw`` table, in a chain of our own that ``PREROUTING``
and ``OUTPUT`` jump to. ``raw`` comes before Docker's DNAT of published ports:
a rule in ``filter INPUT`` would not see traffic to a published port (it is
forwarded to the task's container, through ``FORWARD``), so a partition there
would leak. Per peer address, three rules:
  * PREROUTING -s PEER: nothing from the peer gets in (to the node or its tasks);
  * PREROUTING -d PEER: the node's tasks cannot reach the peer;
  * OUTPUT -d PEER: the node itself (its agent, its dockerd) cannot reach the peer.
The same two rules per task subnet of the peer, if it has any (``task_subnets``).
Healing flushes the chain; the jumps stay, harmless when the chain is empty.
"""
from __future__ import annotations

from typing import Iterable

from .nodes import DindNode

CHAIN = "SWARMLAB-PARTITION"


class FaultError(RuntimeError):
    pass


def _run(node: DindNode, *args: str) -> tuple[int, str]:
    return node.exec("iptables", "-w", "-t", "raw", *args)


def _ensure_chain(node: DindNode) -> None:
    if _run(node, "-L", CHAIN, "-n")[0] != 0:
        _check(node, _run(node, "-N", CHAIN))
    for hook in ("PREROUTING", "OUTPUT"):
        if _run(node, "-C", hook, "-j", CHAIN)[0] != 0:
            _check(node, _run(node, "-I", hook, "1", "-j", CHAIN))


def _check(node: DindNode, result: tuple[int, str]) -> None:
    code, out = result
    if code != 0:
        raise FaultError(f"iptables on {node.name} failed: {out.strip()}")


def partition_rules(peer: str) -> list[list[str]]:
    """The rules (after ``-A CHAIN``) that cut one node off from the peer address."""
    return [["-s", peer, "-j", "DROP"], ["-d", peer, "-j", "DROP"]]


def cut(node: DindNode, peers: Iterable[DindNode]) -> None:
    """Drop all traffic between ``node`` (and its tasks) and each peer, both directions."""
    _ensure_chain(node)
    for peer in peers:
        # A peer's task subnet too, when the lab routes to it (routes.py): mesh traffic
        # to the peer's tasks carries their addresses, not the peer's.
        for rule in (r for addr in [peer.address, *getattr(peer, "task_subnets", [])]
                     for r in partition_rules(addr)):
            if _run(node, "-C", CHAIN, *rule)[0] != 0:
                _check(node, _run(node, "-A", CHAIN, *rule))


def heal(node: DindNode) -> None:
    """Remove every partition rule on ``node``."""
    if _run(node, "-L", CHAIN, "-n")[0] == 0:
        _check(node, _run(node, "-F", CHAIN))


def partition(nodes: list[DindNode], isolated: list[DindNode]) -> None:
    """Cut ``isolated`` off from the rest, on both sides (as ``lab partition`` does)."""
    rest = [n for n in nodes if n not in isolated]
    for node in isolated:
        cut(node, rest)
    for node in rest:
        cut(node, isolated)
