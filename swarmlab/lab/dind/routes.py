"""Routes between the nodes' task networks, so the routing mesh works across nodes.

Each node's dockerd puts its tasks on its own bridge, ``10.200.<node index>.0/24``
(runtime.dockerapi.spec). The agent's mesh on one node forwards a connection straight
to a task address on another node, so every node needs
  * a route to each other node's task subnet, via that node's lab address;
  * a rule in ``DOCKER-USER`` letting such traffic in from the lab network: Docker's
    ``FORWARD`` chain only lets a bridge receive replies and published ports.
A node container that starts again has a fresh network namespace: the lab applies
these again after ``lab restart``.
"""
from __future__ import annotations

from typing import Protocol

from ...runtime.dockerapi.spec import task_subnet

TASKS_RANGE = "10.200.0.0/16"


class Node(Protocol):
    name: str
    address: str

    def exec(self, *cmd: str) -> tuple[int, str]: ...


class RouteError(RuntimeError):
    pass


def route_commands(peers: dict[int, str]) -> list[list[str]]:
    """``ip route replace`` per peer (node index -> lab address): idempotent."""
    return [["ip", "route", "replace", task_subnet(index), "via", address]
            for index, address in sorted(peers.items())]


def accept_rule() -> list[str]:
    return ["DOCKER-USER", "-d", TASKS_RANGE, "-j", "ACCEPT"]


def connect(node: Node, peers: dict[int, str]) -> None:
    """Make the other nodes' tasks reachable from ``node``, and its tasks from them."""
    for cmd in route_commands(peers):
        _check(node, node.exec(*cmd))
    rule = accept_rule()
    if node.exec("iptables", "-w", "-C", *rule)[0] != 0:
        _check(node, node.exec("iptables", "-w", "-I", *rule))


def _check(node: Node, result: tuple[int, str]) -> None:
    code, out = result
    if code != 0:
        raise RouteError(f"{node.name}: {out.strip()}")
