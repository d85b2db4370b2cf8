"""Node-to-manager calls that Docker carries over gRPC on port 2377: joining, the
dispatcher's sessions and heartbeats, certificate renewal, Raft membership. Here they
are JSON over HTTPS on the swarm port's sibling (`swarm_port + 1`, docs/security.md),
answered by the leader.

Who calls is what the verified client certificate says (`peer_identity`): joining and
fetching the CA need none (the token authorizes a join); the dispatcher and renewal need
a node certificate whose node ID is the one the body speaks for; Raft membership, keys
and log collection need a manager's. A refusal is a 403 with swarmkit's message."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import ClientSession, ClientTimeout, web

from ..objects import NodeDescription, NodeRole, NodeState, SwarmError, TaskState, TaskStatus, from_json
from ..ca import (
    PermissionDenied, peer_certificate, peer_identity, require_manager, require_role,
)
from ..raft.core import NotLeader, ProposalDropped
from ..engine.api import APIError, ForwardToLeader, add_routes, error_response, read_json, status_for
from .ca_rotation import on_heartbeat, store_ca
from .manager_role import raft_id_of

NOT_LEADER = "this manager is not the leader"

if TYPE_CHECKING:
    from .daemon import NodeDaemon


# -- who is calling ---------------------------------------------------------------------
def caller(request: web.Request) -> Any:
    """The caller's (node ID, role) from its verified certificate, or None."""
    d: NodeDaemon = request.app["daemon"]
    return peer_identity(request, organization=d.security.cluster_id or None)


def require_manager_caller(request: web.Request) -> str:
    return require_manager(caller(request))


def require_node(request: web.Request, node_id: str) -> str:
    """A node (worker or manager) speaking for itself only."""
    me = require_role(caller(request), "worker", "manager")
    if node_id != me:
        raise PermissionDenied(
            f"Permission denied: the remote certificate is node {me}'s, not node {node_id!r}'s")
    return me


@web.middleware
async def internal_errors(request: web.Request,
                          handler: Callable[..., Awaitable]) -> Any:
    try:
        return await handler(request)
    except PermissionDenied as e:
        return error_response(403, str(e))
    except APIError as e:
        return error_response(e.status, e.message)
    except (NotLeader, ProposalDropped, ForwardToLeader):
        return error_response(503, NOT_LEADER)  # the caller asks /swarmlab/leader again
    except SwarmError as e:
        return error_response(status_for(e), str(e))


def _leading(request: web.Request) -> "NodeDaemon":
    d: NodeDaemon = request.app["daemon"]
    d._require_manager()
    if not d.manager.is_leader():
        raise ForwardToLeader()
    return d


def _managers(d: "NodeDaemon", view: Any) -> dict[str, str]:
    out = {}
    for n in view.nodes():
        if n.manager_status is not None and n.status.addr:
            host = n.status.addr.rpartition(":")[0]
            out[f"{d.api_scheme}://{host}:{d.api_port}"] = n.status.addr
    return out


async def root_ca(request: web.Request) -> web.Response:
    """The swarm's CA certificate: public; a joining node checks it against its token."""
    d: NodeDaemon = request.app["daemon"]
    pem = d.security.anchor_pem()
    if d.manager is not None:  # the CA of record: this node may not have adopted it yet
        cluster = await d.manager.control.call(lambda: d.manager.store.view().cluster())
        if cluster is not None and cluster.root_ca:
            pem = cluster.root_ca["CACert"].encode()
    return web.Response(body=pem, content_type="application/x-pem-file")


async def join(request: web.Request) -> web.Response:
    """A node joins with a token and a CSR: the answer has its certificate (CN its new
    node ID, OU the token's role). No client certificate: the token is what authorizes."""
    d: NodeDaemon = request.app["daemon"]
    body = await read_json(request)
    d._require_manager()
    if not d.manager.is_leader():
        return await _forward_to_leader(d, request.path, body)
    token, hostname, addr = body.get("JoinToken", ""), body.get("Hostname", ""), body.get("Addr", "")
    if not hostname or not addr or not body.get("CSR"):
        raise APIError(400, "invalid join request: Hostname, Addr and CSR are required")
    m = d.manager

    desc = from_json(NodeDescription, body["Description"]) if body.get("Description") else None

    def run() -> dict:
        node = m.manager.join(token, hostname, addr, description=desc)
        view = m.store.view()
        managers = _managers(d, view)
        peers = {str(rid): f"{a[0]}:{a[1]}" for rid, a in m.addresses.items()}
        return {"NodeID": node.id, "Role": node.spec.role.value, "Managers": managers,
                "RaftPeers": peers}
    answer = await m.control.call(run)
    await store_ca(d)  # the CA of record (a rotation may have changed it)
    answer["Certificate"] = d.security.issue(body["CSR"].encode(), answer["NodeID"],
                                             answer["Role"], addr)
    if answer["Role"] == "manager":
        answer.update(d.key_settings())
        answer["CA"] = d.security.ca.to_json()  # type: ignore[union-attr]
    return web.json_response(answer)


async def _forward_to_leader(d: "NodeDaemon", path: str, body: dict) -> web.Response:
    url = d.leader_internal_url()
    if url is None:
        raise APIError(503, "no leader")
    async with ClientSession(timeout=ClientTimeout(total=15)) as http:
        async with http.post(url + path, json=body, ssl=d.security.client_context(),
                             server_hostname="swarm-manager") as r:
            return web.Response(status=r.status, body=await r.read(),
                                content_type="application/json")


async def renew(request: web.Request) -> web.Response:
    """A node's new certificate (before expiry, or after a role change): for the caller's
    node ID, with the role the store gives it now."""
    d = _leading(request)
    body = await read_json(request)
    node_id = require_node(request, body.get("NodeID", ""))
    m = d.manager
    node = await m.control.call(lambda: m.store.view().node(node_id))
    if node is None:
        raise APIError(404, f"node {node_id} not found")
    role = node.spec.role.value
    await store_ca(d)
    answer = {"Role": role, "Certificate": d.security.issue(
        str(body.get("CSR", "")).encode(), node_id, role, node.status.addr or "")}
    if role == "manager":
        answer["CA"] = d.security.ca.to_json()  # type: ignore[union-attr]
    return web.json_response(answer)


async def leader(request: web.Request) -> web.Response:
    d: NodeDaemon = request.app["daemon"]
    require_role(caller(request), "worker", "manager")
    d._require_manager()
    if d.manager.is_leader():
        return web.json_response({"API": d.internal_url})
    url = d.leader_internal_url()
    if url is None:
        raise APIError(503, "no leader")
    return web.json_response({"API": url})


async def session(request: web.Request) -> web.Response:
    d = _leading(request)
    body = await read_json(request)
    m = d.manager
    node_id, addr = body.get("NodeID", ""), body.get("Addr", "")
    require_node(request, node_id)
    sid = await m.control.call(lambda: m.manager.dispatcher.register(node_id, addr=addr))
    return web.json_response({"SessionID": sid,
                              "Period": m.manager.dispatcher.heartbeat_period_ns})


async def heartbeat(request: web.Request) -> web.Response:
    """A heartbeat with the node's task statuses; the answer is its assignment (tasks,
    secrets, configs, mesh, managers, role, trust roots). With `Wait` and the `Known`
    fingerprint of the assignment the node holds, the answer waits (at most `Wait`, at
    most half the heartbeat period) until the assignment differs: swarmkit's dispatcher
    streams assignments, so a node learns of a change at once rather than at its next
    poll. An assignment that did not change is answered `Unchanged`."""
    d = _leading(request)
    body = await read_json(request)
    m = d.manager
    node_id, sid = body.get("NodeID", ""), body.get("SessionID", "")
    require_node(request, node_id)
    await _report(d, node_id, body, extend=True)
    disp = m.manager.dispatcher
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(float(body.get("Wait") or 0), disp.heartbeat_period_ns / 2e9)
    known = body.get("Known") or ""
    while True:
        changed = m.changes.current()  # before the read: a change after it wakes us
        answer = await _assignment(d, request, node_id, sid, body)
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
    d = _leading(request)
    body = await read_json(request)
    require_node(request, body.get("NodeID", ""))
    await _report(d, body.get("NodeID", ""), body, extend=False)
    return web.json_response({})


async def _report(d: "NodeDaemon", node_id: str, body: dict, extend: bool) -> None:
    """Queue the node's statuses (the next tick commits them: it is woken now) and note
    where its running tasks answer (every node's mesh follows at once)."""
    m = d.manager
    updates = [(s["TaskID"], from_json(TaskStatus, s["Status"])) for s in body.get("Statuses", [])]
    endpoints = body.get("Endpoints") or {}
    if d.endpoints.get(node_id) != endpoints:
        d.endpoints[node_id] = endpoints
        m.changes.fire()
    sid = body.get("SessionID", "")

    def run() -> bool:
        disp = m.manager.dispatcher
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


async def _assignment(d: "NodeDaemon", request: web.Request, node_id: str, sid: str,
                      body: dict) -> dict:
    m = d.manager

    def run() -> dict:
        disp = m.manager.dispatcher
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
                "Managers": _managers(d, view), "Mesh": mesh_view(d, view)}
    answer = await m.control.call(run)
    answer.update(await on_heartbeat(d, node_id, peer_certificate(request), body.get("TLSInfo")))
    if answer["Role"] == "manager":
        answer.update(d.key_settings())  # a promoted node adopts the swarm's unlock key
        if d.security.ca is not None:  # and every manager the CA's `--cert-expiry`
            answer["NodeCertExpiry"] = int(d.security.ca.node_expiry.total_seconds())
    return answer


async def keys(request: web.Request) -> web.Response:
    """Another manager changed autolock or rotated the unlock key: adopt it."""
    d: NodeDaemon = request.app["daemon"]
    require_manager_caller(request)
    body = await read_json(request)
    if "Autolock" in body:
        d.adopt_keys(body)
    if body.get("NodeCertExpiry"):
        d.security.set_node_expiry(int(body["NodeCertExpiry"]), d.manager.keys)
    return web.Response(status=200)


def _ports(svc: Any) -> list[dict]:
    spec = svc.spec.endpoint_spec
    if spec is None:
        return []
    from ..objects import to_json
    return [to_json(p) for p in spec.ports]


def mesh_view(d: "NodeDaemon", view: Any) -> dict[str, list]:
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
            ep = d.endpoints.get(t.node_id, {}).get(t.id)
            if ep and ep.get("Address"):
                tasks.append({"Service": svc.spec.name, "Address": ep["Address"],
                              "Ready": bool(ep.get("Ready")), "Remapped": bool(ep.get("Remapped"))})
    return {"Services": services, "Tasks": tasks}


async def raft_join(request: web.Request) -> web.Response:
    """A promoted (or manager-token) node runs Raft and asks to become a voter. The
    leader's role reconciler then adds it: membership changes only when it can vote."""
    d = _leading(request)
    body = await read_json(request)
    me = require_manager_caller(request)
    if body.get("NodeID") != me or int(body["RaftID"]) != raft_id_of(me):
        raise PermissionDenied(f"Permission denied: the remote certificate is node {me}'s, "
                               f"not {body.get('NodeID')!r}'s")
    rid, addr = int(body["RaftID"]), str(body["Addr"])
    host, _, port = addr.rpartition(":")
    d.manager.ready_members[rid] = (host, int(port))
    d.manager.raft.add_peer(rid, (host, int(port)))
    d.manager.addresses[rid] = (host, int(port))
    node = d.manager.raft.node
    return web.json_response({"Voter": rid in node.voters, "Voters": list(node.voters)})


def setup_internal_routes(app: web.Application) -> None:
    """The swarm port's HTTPS routes (not the Engine API's)."""
    add_routes(app, [("POST", "/swarmlab/raft/join", raft_join),
                     ("POST", "/swarmlab/keys", keys), ("GET", "/swarmlab/ca", root_ca),
                     ("POST", "/swarmlab/ca/renew", renew),
                     ("POST", "/swarmlab/join", join), ("GET", "/swarmlab/leader", leader),
                     ("POST", "/swarmlab/dispatcher/session", session),
                     ("POST", "/swarmlab/dispatcher/heartbeat", heartbeat),
                     ("POST", "/swarmlab/dispatcher/status", status)])
    from ..engine.logs import setup_log_routes
    setup_log_routes(app)


__all__ = ["setup_internal_routes", "raft_id_of", "NodeRole"]
