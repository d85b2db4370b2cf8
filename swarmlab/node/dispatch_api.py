"""The dispatcher's wire half: agents' sessions, heartbeats and status reports, JSON over
HTTPS on the swarm port's sibling (`swarm_port + 1`), answered by the leader.

Theory of operation: the dispatcher itself (`swarmlab.dispatcher`) keeps sessions and
assignments and runs on the manager's control thread; these routes only carry its calls
(swarmkit's `Session`, `Heartbeat`, `UpdateTaskStatus` and `Assignments`). A node speaks
for itself only (`require_node`). Beside the assignment the answer carries what a node
follows from its manager: its role, the Raft peers, the managers, the trust roots (a CA
rotation) and the mesh (`mesh_view`: the services' endpoints and where their running
tasks answer, from the endpoints each node reports in `app["endpoints"]`).
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from typing import TYPE_CHECKING, Any, Callable

from aiohttp import web

from ..ca import peer_certificate
from ..engine.api import add_routes, read_json
from ..engine.errors import APIError
from ..engine.gateway import Gateway
from ..mesh.plan import PublishedPort, ServiceEndpoint, TaskEndpoint
from ..objects import NodeState, TaskState, TaskStatus, from_json
from .autolock import key_settings
from .ca_rotation import on_heartbeat
from .peers import require_node
from .security import NodeSecurity

if TYPE_CHECKING:
    from .manager_role import ManagerRole

    NodeGateway = Gateway[ManagerRole]

Endpoints = dict[str, dict[str, Any]]  # the leader's: node ID -> task ID -> where it answers


def managers_of(gw: "NodeGateway", view: Any) -> dict[str, str]:
    """Every manager's Engine API URL -> its swarm address, from the store."""
    out = {}
    for n in view.nodes():
        if n.manager_status is not None and n.status.addr:
            out[gw.api_url_of(n.status.addr.rpartition(":")[0])] = n.status.addr
    return out


async def session(request: web.Request) -> web.Response:
    body = await read_json(request)
    node_id, addr = body.get("NodeID", ""), body.get("Addr", "")
    require_node(request, node_id)  # who asks first: a follower's 503 tells nothing
    m = _gateway(request).leading()
    disp = m.control_plane.dispatcher
    sid = await m.control.call(lambda: disp.register(node_id, addr=addr))
    return web.json_response({"SessionID": sid, "Period": disp.heartbeat_period_ns})


async def heartbeat(request: web.Request) -> web.Response:
    """A heartbeat with the node's task statuses; the answer is its assignment (tasks,
    secrets, configs, mesh, managers, role, trust roots). With `Wait` and the `Known`
    fingerprint of the assignment the node holds, the answer waits (at most `Wait`, at
    most half the heartbeat period) until the assignment differs: swarmkit's dispatcher
    streams assignments, so a node learns of a change at once rather than at its next
    poll. An assignment that did not change is answered `Unchanged`."""
    body = await read_json(request)
    node_id, sid = body.get("NodeID", ""), body.get("SessionID", "")
    require_node(request, node_id)
    m = _gateway(request).leading()
    await _report(request, node_id, body, extend=True)
    disp = m.control_plane.dispatcher
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(float(body.get("Wait") or 0), disp.heartbeat_period_ns / 2e9)
    known = body.get("Known") or ""
    while True:
        changed = m.changes.current()  # before the read: a change after it wakes us
        answer = await _assignment(request, node_id, sid, body)
        fp = hashlib.blake2b(json.dumps(answer, sort_keys=True).encode(), digest_size=16).hexdigest()
        left = deadline - loop.time()
        if fp != known or left <= 0 or not m.is_leader():
            break
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), left)
    if fp == known:
        return web.json_response({"Known": fp, "Unchanged": True, "Period": answer["Period"]})
    return web.json_response(dict(answer, Known=fp))


async def status(request: web.Request) -> web.Response:
    """A node's task statuses and endpoints as soon as they change (swarmkit's
    `UpdateTaskStatus`), while its heartbeat waits for the next assignment."""
    body = await read_json(request)
    require_node(request, body.get("NodeID", ""))
    _gateway(request).leading()
    await _report(request, body.get("NodeID", ""), body, extend=False)
    return web.json_response({})


async def _report(request: web.Request, node_id: str, body: dict, extend: bool) -> None:
    """Queue the node's statuses (the next tick commits them: it is woken now) and note
    where its running tasks answer (every node's mesh follows at once)."""
    m = _gateway(request).require_manager()
    known: Endpoints = request.app["endpoints"]
    updates = [(s["TaskID"], from_json(TaskStatus, s["Status"])) for s in body.get("Statuses", [])]
    endpoints = body.get("Endpoints") or {}
    if known.get(node_id) != endpoints:
        known[node_id] = endpoints
        m.changes.fire()
    sid = body.get("SessionID", "")

    def run() -> bool:
        disp = m.control_plane.dispatcher
        try:
            if extend:
                disp.heartbeat(node_id, sid)
            if updates:
                disp.update_task_status(node_id, sid, updates)
        except Exception as e:  # noqa: BLE001 - unknown session: the agent registers again
            raise APIError(400, f"session invalid: {e}") from None
        return disp.reports_queued
    if await m.control.call(run):
        m.kick()  # a status that is news: the next tick commits it now


async def _assignment(request: web.Request, node_id: str, sid: str, body: dict) -> dict:
    gw, security = _gateway(request), _security(request)
    m = gw.require_manager()
    endpoints: Endpoints = request.app["endpoints"]

    def run() -> dict:
        disp = m.control_plane.dispatcher
        try:
            a = disp.assignments(node_id, sid)
        except Exception as e:  # noqa: BLE001 - unknown session: the agent registers again
            raise APIError(400, f"session invalid: {e}") from None
        view = m.store.view()
        services = {s.id: s for s in view.services()}
        tasks = []
        for t in a.tasks:
            doc = t.to_json()
            svc = services.get(t.service_id)
            if svc is not None:
                doc["ServiceAnnotations"] = {"Name": svc.spec.name}
                doc["_Ports"] = [p for p in (doc.get("Endpoint") or {}).get("Spec", {}).get(
                    "Ports", [])] or _ports(svc)
            tasks.append(doc)
        me = view.node(node_id)
        return {"Period": disp.heartbeat_period_ns, "Tasks": tasks,
                "Role": me.spec.role.value if me else "worker",
                "RaftMember": bool(me and me.manager_status is not None),
                "RaftPeers": {str(rid): f"{a[0]}:{a[1]}" for rid, a in m.addresses.items()},
                "Secrets": [s.to_json() for s in a.secrets],
                "Configs": [c.to_json() for c in a.configs],
                "Managers": managers_of(gw, view), "Mesh": mesh_view(endpoints, view),
                # who a worker's own port refuses (it has no store): removed nodes, and
                # manager certificates of nodes that are not managers any more
                "RemovedNodes": sorted((view.cluster().blacklisted_certificates
                                        if view.cluster() is not None else {})),
                "ManagerNodes": sorted(n.id for n in view.nodes()
                                       if n.spec.role.value == "manager")}
    answer = await m.control.call(run)
    answer.update(await on_heartbeat(gw, security, node_id, peer_certificate(request),
                                     body.get("TLSInfo")))
    if answer["Role"] == "manager":
        answer.update(key_settings(m.keys))  # a promoted node adopts the swarm's unlock key
        if security.ca is not None:  # and every manager the CA's `--cert-expiry`
            answer["NodeCertExpiry"] = int(security.ca.node_expiry.total_seconds())
    return answer


def _ports(svc: Any) -> list[dict]:
    spec = svc.spec.endpoint_spec
    if spec is None:
        return []
    from ..objects import to_json
    return [to_json(p) for p in spec.ports]


def mesh_view(endpoints: Endpoints, view: Any) -> dict[str, list]:
    """What every node needs for its routing mesh and service discovery: the services'
    endpoint specs and the endpoints of their running tasks on ready nodes."""
    from ..workloads.catalog import CATALOG
    ready_nodes = {n.id for n in view.nodes() if n.status.state == NodeState.READY}
    services, tasks = [], []
    for svc in view.services():
        spec = svc.spec.endpoint_spec
        cs = svc.spec.task_template.container_spec
        info = CATALOG.get(cs.image) if cs else None
        nets = (*svc.spec.task_template.networks, *svc.spec.networks)
        aliases = sorted({a for net in nets for a in net.aliases})
        services.append({
            "Name": svc.spec.name,
            "Mode": spec.mode.value if spec is not None and spec.mode else "vip",
            "Ports": [{"TargetPort": p.target_port, "PublishedPort": p.published_port,
                       "PublishMode": p.publish_mode.value, "Protocol": p.protocol.value}
                      for p in (spec.ports if spec else ())],
            "TargetPorts": [info.port] if info and info.port else [],
            "Aliases": aliases})
        for t in view.tasks(svc.id):
            # a node's latest heartbeat lists its running tasks' endpoints before its
            # queued status reports reach the store: the answer to that same heartbeat
            # already routes to them (else a leader lost right after the store said
            # "running" could leave the nodes' meshes without the task)
            if t.status.state > TaskState.RUNNING or t.desired_state != TaskState.RUNNING:
                continue
            if t.node_id not in ready_nodes:
                continue
            ep = endpoints.get(t.node_id, {}).get(t.id)
            if ep and ep.get("Address"):
                tasks.append({"Service": svc.spec.name, "Address": ep["Address"],
                              "Ready": bool(ep.get("Ready")), "Remapped": bool(ep.get("Remapped"))})
    return {"Services": services, "Tasks": tasks}


def mesh_endpoints(doc: dict, blocked: Callable[[str], bool],
                   ) -> tuple[list[ServiceEndpoint], list[TaskEndpoint]]:
    """The node's side of `mesh_view`: what its routing mesh and discovery plan from (the
    endpoints of tasks on hosts cut off from this node left out)."""
    services = [ServiceEndpoint(
        s["Name"], s.get("Mode", "vip"),
        tuple(PublishedPort(p["TargetPort"], p.get("PublishedPort", 0),
                            p.get("PublishMode", "ingress"), p.get("Protocol", "tcp"))
              for p in s.get("Ports", [])),
        tuple(s.get("TargetPorts", [])), tuple(s.get("Aliases", [])))
        for s in doc.get("Services", [])]
    tasks = [TaskEndpoint(t["Service"], t["Address"], t["Ready"], t.get("Remapped", False))
             for t in doc.get("Tasks", []) if not blocked(t["Address"])]
    return services, tasks


def _gateway(request: web.Request) -> "NodeGateway":
    return request.app["gateway"]


def _security(request: web.Request) -> NodeSecurity:
    return request.app["security"]


def setup_dispatch_routes(app: web.Application) -> None:
    app["endpoints"] = {}
    add_routes(app, [("POST", "/swarmlab/dispatcher/session", session),
                     ("POST", "/swarmlab/dispatcher/heartbeat", heartbeat),
                     ("POST", "/swarmlab/dispatcher/status", status)])


__all__ = ["managers_of", "mesh_endpoints", "mesh_view", "setup_dispatch_routes"]
