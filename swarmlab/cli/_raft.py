"""`swarmlab raft status`: every manager's own view of Raft, side by side.

Each manager answers `GET /swarmlab/raft` for itself; a manager that the swarm lists
but that does not answer is shown as unreachable, so a killed leader is visible.
"""
from __future__ import annotations

import json

import docker.errors
import requests

from ._base import Ctx, add_parser, group
from ._errors import daemon_message
from ._table import render_list
from ._target import PROBE_TIMEOUT_S, api_client, probe_info, raft_status

FIELDS = ["Node", "State", "Term", "Commit", "Applied", "LastIndex", "Leader"]
RAFT_TABLE = "{{.Node}}\t{{.State}}\t{{.Term}}\t{{.Commit}}\t{{.Applied}}\t{{.LastIndex}}\t{{.Leader}}"
RAFT_HEADERS = {"Node": "NODE", "State": "STATE", "Term": "TERM", "Commit": "COMMIT",
                "Applied": "APPLIED", "LastIndex": "LAST INDEX", "Leader": "LEADER"}


def register(sub) -> None:
    g = group(sub, "raft", "Inspect the managers' Raft consensus (swarmlab only)")
    p = add_parser(g, "status", "Show each manager's Raft state, term, commit and applied index")
    p.add_argument("--format", help="'json' or a Go template")
    p.set_defaults(func=status)


def manager_targets(nodes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The lab's managers: those that say so in /info, plus those the swarm lists as
    managers that did not answer (matched to lab nodes by hostname or address)."""
    infos = probe_info(nodes)
    managers = [(n, u) for n, u in nodes if ((infos.get(n) or {}).get("Swarm") or {}).get("ControlAvailable")]
    if not managers:
        return []
    try:
        listed = api_client(managers[0][1], PROBE_TIMEOUT_S).nodes()
    except (requests.exceptions.RequestException, docker.errors.DockerException):
        listed = []
    known = {n for n, _ in managers}
    for node in listed:
        status = node.get("ManagerStatus")
        if not status:
            continue
        hostname = (node.get("Description") or {}).get("Hostname", "")
        host = status.get("Addr", "").rsplit(":", 1)[0]
        match = next(((n, u) for n, u in nodes if n == hostname or f"//{host}:" in u), None)
        if match is None and host:
            match = (hostname or host, f"http://{host}:2375")
        if match and match[0] not in known:
            managers.append(match)
            known.add(match[0])
    order = {n: i for i, (n, _) in enumerate(nodes)}
    return sorted(managers, key=lambda m: order.get(m[0], len(order)))


def query(name: str, url: str) -> dict:
    try:
        row = raft_status(api_client(url, PROBE_TIMEOUT_S))
        return {k: row.get(k) for k in FIELDS} | {"Node": row.get("Node") or name}
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
        return {k: None for k in FIELDS} | {"Node": name, "State": "unreachable"}
    except docker.errors.APIError as err:
        return {k: None for k in FIELDS} | {"Node": name, "State": "error", "Error": daemon_message(err)}


def status_rows(nodes: list[tuple[str, str]]) -> list[dict]:
    return [query(n, u) for n, u in manager_targets(nodes)]


def status(ctx: Ctx, args) -> int:
    nodes = ctx.target.lab_nodes()
    rows = status_rows(nodes)
    if args.format == "json":
        ctx.print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        ctx.warn("Error: no reachable manager in this lab (is a swarm initialized? try: swarmlab node ls)")
        return 1
    text_rows = [{k: ("" if r.get(k) is None else str(r[k])) for k in FIELDS} for r in rows]
    ctx.print(render_list(text_rows, args.format, RAFT_TABLE, RAFT_HEADERS), end="")
    return 0
