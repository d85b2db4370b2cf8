"""Route handlers of the Engine API: swarm, nodes, services, tasks, secrets, configs.

Every handler that touches cluster state goes through the gateway (`app["gateway"]`),
which refuses on a worker with Docker's message and runs the work on the manager's
control thread; the swarm membership routes ask the node (`app["node"]`, a `NodeView`).
"""
from __future__ import annotations

import base64
import dataclasses
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..objects import (
    ConfigSpec, NodeSpec, SecretSpec, ServiceSpec, from_json,
)
from . import filters, render
from .api import add_routes, parse_filters, query_bool, query_version, read_json
from .errors import NOT_IN_SWARM, APIError
from .gateway import Gateway, ManagerSeat
from .logs import stream_logs
from .names import random_name
from .node_view import NodeView

if TYPE_CHECKING:
    from ..store import ReadTx


def _gw(request: web.Request) -> Gateway[ManagerSeat]:
    return request.app["gateway"]


def _node(request: web.Request) -> NodeView:
    return request.app["node"]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


# -- the engine --------------------------------------------------------------------------

async def ping(request: web.Request) -> web.Response:
    headers = {"API-Version": "1.44", "Docker-Experimental": "false", "OSType": "linux",
               "Swarm": _node(request).swarm_header()}
    body = "" if request.method == "HEAD" else "OK"
    return web.Response(text=body, headers=headers, content_type="text/plain")


async def version(request: web.Request) -> web.Response:
    return _json(render.version())


async def info(request: web.Request) -> web.Response:
    return _json(await render.info(_node(request), _gw(request)))


# -- swarm -------------------------------------------------------------------------------

async def swarm_inspect(request: web.Request) -> web.Response:
    cluster = await _gw(request).read(lambda tx: tx.cluster(), local=True)
    if cluster is None:
        raise APIError(503, NOT_IN_SWARM)
    return _json(render.render_cluster(cluster))


async def swarm_init(request: web.Request) -> web.Response:
    return _json(await _node(request).swarm_init(await read_json(request)))


async def swarm_join(request: web.Request) -> web.Response:
    await _node(request).swarm_join(await read_json(request))
    return web.Response(status=200)


async def swarm_leave(request: web.Request) -> web.Response:
    await _node(request).swarm_leave(query_bool(request, "force"))
    return web.Response(status=200)


async def swarm_update(request: web.Request) -> web.Response:
    await _node(request).swarm_update(query_version(request), await read_json(request),
                                      rotate_worker=query_bool(request, "rotateWorkerToken"),
                                      rotate_manager=query_bool(request, "rotateManagerToken"),
                                      rotate_unlock=query_bool(request, "rotateManagerUnlockKey"))
    return web.Response(status=200)


async def swarm_unlock(request: web.Request) -> web.Response:
    body = await read_json(request)
    await _node(request).swarm_unlock(str(body.get("UnlockKey", "")))
    return web.Response(status=200)


async def swarm_unlockkey(request: web.Request) -> web.Response:
    return _json(_node(request).unlock_key())


# -- nodes -------------------------------------------------------------------------------

async def nodes_list(request: web.Request) -> web.Response:
    gw = _gw(request)
    f = parse_filters(request)
    return _json(await gw.read(lambda tx: [render.render_node(n, gw.manager)
                                           for n in filters.nodes(tx, f)]))


async def node_inspect(request: web.Request) -> web.Response:
    gw = _gw(request)
    ref = request.match_info["id"]
    return _json(await gw.read(lambda tx: render.render_node(tx.lookup("node", ref), gw.manager)))


async def node_update(request: web.Request) -> web.Response:
    gw = _gw(request)
    ref, version_ = request.match_info["id"], query_version(request)
    spec = from_json(NodeSpec, await read_json(request))
    await gw.call(lambda m: m.update_node(ref, version_, spec))
    return web.Response(status=200)


async def node_remove(request: web.Request) -> web.Response:
    gw = _gw(request)
    ref, force = request.match_info["id"], query_bool(request, "force")
    await gw.call(lambda m: m.remove_node(ref, force))
    return web.Response(status=200)


# -- services ----------------------------------------------------------------------------

async def services_list(request: web.Request) -> web.Response:
    gw = _gw(request)
    f = parse_filters(request)
    status = query_bool(request, "status")

    def read(tx: "ReadTx") -> list:
        out = []
        for s in filters.services(tx, f):
            doc = s.to_json()
            if status:
                doc["ServiceStatus"] = render.service_status(tx, s)
            out.append(doc)
        return out
    return _json(await gw.read(read))


async def service_create(request: web.Request) -> web.Response:
    gw = _gw(request)
    spec = from_json(ServiceSpec, await read_json(request))
    if not spec.name:  # as dockerd: a random name, not a refusal
        spec = dataclasses.replace(spec, name=random_name())
    service = await gw.call(lambda m: m.create_service(spec))
    return _json({"ID": service.id, "Warnings": None}, status=201)


async def service_inspect(request: web.Request) -> web.Response:
    gw = _gw(request)
    ref = request.match_info["id"]
    return _json(await gw.read(lambda tx: tx.lookup("service", ref).to_json()))


async def service_update(request: web.Request) -> web.Response:
    gw = _gw(request)
    ref, version_ = request.match_info["id"], query_version(request)
    body = await read_json(request)
    if request.query.get("rollback") == "previous":
        await gw.call(lambda m: m.rollback_service(ref, version_))
    else:
        spec = from_json(ServiceSpec, body)
        await gw.call(lambda m: m.update_service(ref, version_, spec))
    return _json({"Warnings": None})


async def service_remove(request: web.Request) -> web.Response:
    gw = _gw(request)
    ref = request.match_info["id"]
    await gw.call(lambda m: m.remove_service(ref))
    return web.Response(status=200)


async def service_logs(request: web.Request) -> web.StreamResponse:
    return await stream_logs(_gw(request), _node(request).tls, request,
                             request.match_info["id"], task=False)


async def task_logs(request: web.Request) -> web.StreamResponse:
    return await stream_logs(_gw(request), _node(request).tls, request,
                             request.match_info["id"], task=True)


# -- tasks -------------------------------------------------------------------------------

async def tasks_list(request: web.Request) -> web.Response:
    gw = _gw(request)
    f = parse_filters(request)
    return _json(await gw.read(lambda tx: [t.to_json() for t in filters.tasks(tx, f)]))


async def task_inspect(request: web.Request) -> web.Response:
    gw = _gw(request)
    ref = request.match_info["id"]
    return _json(await gw.read(lambda tx: tx.lookup("task", ref).to_json()))


# -- secrets and configs -----------------------------------------------------------------

def _secret_like(kind: str, spec_cls: type) -> list[tuple[str, str, Any]]:
    plural = kind + "s"

    async def list_(request: web.Request) -> web.Response:
        gw = _gw(request)
        f = parse_filters(request)
        return _json(await gw.read(lambda tx: [
            render.render_secret_like(o) for o in filters.secrets_or_configs(tx, kind, f)]))

    async def create(request: web.Request) -> web.Response:
        gw = _gw(request)
        body = await read_json(request)
        data = body.get("Data")
        if data is not None:
            try:
                base64.b64decode(data, validate=True)
            except ValueError:
                raise APIError(400, f"invalid {kind} data: not base64") from None
        spec = from_json(spec_cls, body)
        create_fn = "create_secret" if kind == "secret" else "create_config"
        obj = await gw.call(lambda m: getattr(m, create_fn)(spec))
        return _json({"ID": obj.id}, status=201)

    async def inspect(request: web.Request) -> web.Response:
        gw = _gw(request)
        ref = request.match_info["id"]
        return _json(await gw.read(lambda tx: render.render_secret_like(tx.lookup(kind, ref))))

    async def remove(request: web.Request) -> web.Response:
        gw = _gw(request)
        ref = request.match_info["id"]
        remove_fn = "remove_secret" if kind == "secret" else "remove_config"
        await gw.call(lambda m: getattr(m, remove_fn)(ref))
        return web.Response(status=204)

    return [("GET", f"/{plural}", list_), ("POST", f"/{plural}/create", create),
            ("GET", f"/{plural}/{{id}}", inspect), ("DELETE", f"/{plural}/{{id}}", remove)]


# -- networks (Docker answers these in the engine's flat shape, not the swarm one) -----------

async def networks_list(request: web.Request) -> web.Response:
    gw = _gw(request)
    f = parse_filters(request)
    return _json(await gw.read(lambda tx: [render.render_network(n) for n in tx.all("network")
                                           if filters.named(n, f)]))


async def network_inspect(request: web.Request) -> web.Response:
    gw = _gw(request)
    ref = request.match_info["id"]
    return _json(await gw.read(lambda tx: render.render_network(tx.lookup("network", ref))))


async def network_create(request: web.Request) -> web.Response:
    from ..objects import Driver, NetworkSpec
    gw = _gw(request)
    body = await read_json(request)
    if not body.get("Name"):
        raise APIError(400, "network name is required")
    spec = NetworkSpec(name=body["Name"], labels=dict(body.get("Labels") or {}),
                       driver_configuration=Driver(name=body.get("Driver") or "overlay"),
                       attachable=bool(body.get("Attachable")))
    net = await gw.call(lambda m: m.create_network(spec))
    return _json({"Id": net.id, "Warning": ""}, status=201)


async def network_remove(request: web.Request) -> web.Response:
    gw = _gw(request)
    ref = request.match_info["id"]
    await gw.call(lambda m: m.remove_network(ref))
    return web.Response(status=204)


async def raft_status(request: web.Request) -> web.Response:
    return _json(await render.raft_status(_node(request).name, _gw(request)))


async def raft_trace(request: web.Request) -> web.Response:
    """This manager's recorded Raft events (`?since=` a time in seconds)."""
    gw = _gw(request)
    m = gw.manager
    if m is None:
        return _json([])
    since = float(request.query.get("since", "0") or 0)
    names = await gw.read(lambda tx: {str(m.raft_id_of(n.id)): n.hostname
                                      for n in tx.nodes()}, local=True)
    out = []
    for ev in m.trace_events():
        if ev.time is not None and ev.time < since:
            continue
        doc = ev.to_dict()
        doc["node"] = names.get(str(ev.node), str(ev.node))
        for k in ("src", "dst", "to", "leader"):
            if k in doc:
                doc[k] = names.get(str(doc[k]), doc[k])
        out.append(doc)
    return _json(out)


def setup_routes(app: web.Application) -> None:
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/_ping", ping), ("HEAD", "/_ping", ping), ("GET", "/version", version),
        ("GET", "/info", info),
        ("GET", "/swarm", swarm_inspect), ("POST", "/swarm/init", swarm_init),
        ("POST", "/swarm/join", swarm_join), ("POST", "/swarm/leave", swarm_leave),
        ("POST", "/swarm/update", swarm_update), ("POST", "/swarm/unlock", swarm_unlock),
        ("GET", "/swarm/unlockkey", swarm_unlockkey),
        ("GET", "/nodes", nodes_list), ("GET", "/nodes/{id}", node_inspect),
        ("POST", "/nodes/{id}/update", node_update), ("DELETE", "/nodes/{id}", node_remove),
        ("GET", "/services", services_list), ("POST", "/services/create", service_create),
        ("GET", "/services/{id}", service_inspect),
        ("POST", "/services/{id}/update", service_update),
        ("DELETE", "/services/{id}", service_remove),
        ("GET", "/services/{id}/logs", service_logs),
        ("GET", "/tasks", tasks_list), ("GET", "/tasks/{id}", task_inspect),
        ("GET", "/tasks/{id}/logs", task_logs),
        ("GET", "/networks", networks_list), ("GET", "/networks/{id}", network_inspect),
        ("POST", "/networks/create", network_create), ("DELETE", "/networks/{id}", network_remove),
        ("GET", "/swarmlab/raft", raft_status), ("GET", "/swarmlab/trace", raft_trace),
    ]
    routes += _secret_like("secret", SecretSpec) + _secret_like("config", ConfigSpec)
    add_routes(app, routes)
