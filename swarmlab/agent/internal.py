"""Node-to-manager calls that Docker carries over gRPC on port 2377: joining, and the
dispatcher's sessions and heartbeats. Here they are JSON over the managers' API,
answered by the leader (other managers forward them)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..api import NodeRole, NodeState, TaskState, TaskStatus, from_json
from .api import APIError, ForwardToLeader, add_routes, read_json
from .manager_role import raft_id_of

if TYPE_CHECKING:
    from .daemon import NodeDaemon


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
            out[f"http://{host}:{d.api_port}"] = n.status.addr
    return out


async def join(request: web.Request) -> web.Response:
    d = _leading(request)
    body = await read_json(request)
    token, hostname, addr = body.get("JoinToken", ""), body.get("Hostname", ""), body.get("Addr", "")
    if not hostname or not addr:
        raise APIError(400, "invalid join request: Hostname and Addr are required")
    m = d.manager

    def run() -> dict:
        node = m.manager.join(token, hostname, addr)
        view = m.store.view()
        managers = _managers(d, view)
        peers = {str(rid): f"{a[0]}:{a[1]}" for rid, a in m.addresses.items()}
        return {"NodeID": node.id, "Role": node.spec.role.value, "Managers": managers,
                "RaftPeers": peers}
    answer = await m.control.call(run)
    if answer["Role"] == "manager":
        answer.update(d.key_settings())
    return web.json_response(answer)


async def leader(request: web.Request) -> web.Response:
    d: NodeDaemon = request.app["daemon"]
    d._require_manager()
    if d.manager.is_leader():
        return web.json_response({"API": d.api_url})
    url = d.leader_api_url()
    if url is None:
        raise APIError(503, "no leader")
    return web.json_response({"API": url})


async def session(request: web.Request) -> web.Response:
    d = _leading(request)
    body = await read_json(request)
    m = d.manager
    node_id, addr = body.get("NodeID", ""), body.get("Addr", "")
    sid = await m.control.call(lambda: m.manager.dispatcher.register(node_id, addr=addr))
    return web.json_response({"SessionID": sid,
                              "Period": m.manager.dispatcher.heartbeat_period_ns})


async def heartbeat(request: web.Request) -> web.Response:
    d = _leading(request)
    body = await read_json(request)
    m = d.manager
    node_id, sid = body.get("NodeID", ""), body.get("SessionID", "")
    updates = [(s["TaskID"], from_json(TaskStatus, s["Status"])) for s in body.get("Statuses", [])]
    d.endpoints[node_id] = body.get("Endpoints") or {}

    def run() -> dict:
        disp = m.manager.dispatcher
        try:
            period = disp.heartbeat(node_id, sid)
        except Exception as e:  # noqa: BLE001 - unknown session: the agent registers again
            raise APIError(400, f"session invalid: {e}") from None
        if updates:
            disp.update_task_status(node_id, sid, updates)
        a = disp.assignments(node_id, sid)
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
        return {"Period": period, "Tasks": tasks,
                "Role": me.spec.role.value if me else "worker",
                "RaftMember": bool(me and me.manager_status is not None),
                "RaftPeers": {str(rid): f"{a[0]}:{a[1]}" for rid, a in m.addresses.items()},
                "Secrets": [s.to_json() for s in a.secrets],
                "Configs": [c.to_json() for c in a.configs],
                "Managers": _managers(d, view), "Mesh": mesh_view(d, view)}
    answer = await m.control.call(run)
    if answer["Role"] == "manager":
        answer.update(d.key_settings())  # a promoted node adopts the swarm's unlock key
    return web.json_response(answer)


async def keys(request: web.Request) -> web.Response:
    """Another manager changed autolock or rotated the unlock key: adopt it."""
    d: NodeDaemon = request.app["daemon"]
    d.adopt_keys(await read_json(request))
    return web.Response(status=200)


def _ports(svc: Any) -> list[dict]:
    spec = svc.spec.endpoint_spec
    if spec is None:
        return []
    from ..api import to_json
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
            if t.status.state != TaskState.RUNNING or t.desired_state != TaskState.RUNNING:
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
    rid, addr = int(body["RaftID"]), str(body["Addr"])
    host, _, port = addr.rpartition(":")
    d.manager.ready_members[rid] = (host, int(port))
    d.manager.raft.add_peer(rid, (host, int(port)))
    d.manager.addresses[rid] = (host, int(port))
    node = d.manager.raft.node
    return web.json_response({"Voter": rid in node.voters, "Voters": list(node.voters)})


def setup_internal_routes(app: web.Application) -> None:
    add_routes(app, [("POST", "/swarmlab/raft/join", raft_join),
                     ("POST", "/swarmlab/keys", keys),
                     ("POST", "/swarmlab/join", join), ("GET", "/swarmlab/leader", leader),
                     ("POST", "/swarmlab/dispatcher/session", session),
                     ("POST", "/swarmlab/dispatcher/heartbeat", heartbeat)])
    from .backup import setup_backup_routes
    from .logs import setup_log_routes
    setup_log_routes(app)
    setup_backup_routes(app)


__all__ = ["setup_internal_routes", "raft_id_of", "NodeRole"]
