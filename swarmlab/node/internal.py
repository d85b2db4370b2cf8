"""Node-to-manager calls that Docker carries over gRPC on port 2377: joining, certificate
renewal, the root CA, the managers' keys, Raft membership, and a node's task logs. Here
they are JSON over HTTPS on the swarm port's sibling (`swarm_port + 1`, docs/security.md),
answered by the leader; the dispatcher's calls are in `dispatch_api.py`.

Who calls is what the verified client certificate says (`peers.caller`): joining and
fetching the CA need none (the token authorizes a join); the dispatcher and renewal need
a node certificate whose node ID is the one the body speaks for; Raft membership, keys
and log collection need a manager's. A refusal is a 403 with swarmkit's message."""
from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import ClientSession, ClientTimeout, web

from ..objects import NodeDescription, SwarmError, from_json
from ..ca import PermissionDenied, require_role
from ..raft.core import NotLeader, ProposalDropped
from ..engine.api import add_routes, read_json
from ..engine.errors import APIError, ForwardToLeader, error_response, status_for
from ..engine.gateway import Gateway, internal_url_of
from ..engine.node_view import NodeFacts
from .autolock import adopt, key_settings
from .ca_rotation import store_ca
from .dispatch_api import managers_of, setup_dispatch_routes
from .peers import caller, require_manager_caller, require_node
from .security import NodeSecurity

if TYPE_CHECKING:
    from .manager_role import ManagerRole

    NodeGateway = Gateway[ManagerRole]

NOT_LEADER = "this manager is not the leader"


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


def _gateway(request: web.Request) -> "NodeGateway":
    return request.app["gateway"]


def _security(request: web.Request) -> NodeSecurity:
    return request.app["security"]


async def root_ca(request: web.Request) -> web.Response:
    """The swarm's CA certificate: public; a joining node checks it against its token."""
    pem = _security(request).anchor_pem()
    m = _gateway(request).manager
    if m is not None:  # the CA of record: this node may not have adopted it yet
        cluster = await m.control.call(lambda: m.store.view().cluster())
        if cluster is not None and cluster.root_ca:
            pem = cluster.root_ca["CACert"].encode()
    return web.Response(body=pem, content_type="application/x-pem-file")


async def join(request: web.Request) -> web.Response:
    """A node joins with a token and a CSR: the answer has its certificate (CN its new
    node ID, OU the token's role). No client certificate: the token is what authorizes."""
    gw, security = _gateway(request), _security(request)
    body = await read_json(request)
    m = gw.require_manager()
    if not m.is_leader():
        return await _forward_to_leader(gw, security, request.path, body)
    token, hostname, addr = body.get("JoinToken", ""), body.get("Hostname", ""), body.get("Addr", "")
    if not hostname or not addr or not body.get("CSR"):
        raise APIError(400, "invalid join request: Hostname, Addr and CSR are required")
    desc = from_json(NodeDescription, body["Description"]) if body.get("Description") else None

    def run() -> dict:
        node = m.control_plane.join(token, hostname, addr, description=desc)
        managers = managers_of(gw, m.store.view())
        peers = {str(rid): f"{a[0]}:{a[1]}" for rid, a in m.addresses.items()}
        return {"NodeID": node.id, "Role": node.spec.role.value, "Managers": managers,
                "RaftPeers": peers}
    answer = await m.control.call(run)
    await store_ca(gw, security)  # the CA of record (a rotation may have changed it)
    answer["Certificate"] = security.issue(body["CSR"].encode(), answer["NodeID"],
                                           answer["Role"], addr)
    if answer["Role"] == "manager":
        answer.update(key_settings(m.keys))
        answer["CA"] = security.ca.to_json()  # type: ignore[union-attr]
    return web.json_response(answer)


async def _forward_to_leader(gw: "NodeGateway", security: NodeSecurity, path: str,
                             body: dict) -> web.Response:
    url = gw.leader_internal_url()
    if url is None:
        raise APIError(503, "no leader")
    async with ClientSession(timeout=ClientTimeout(total=15)) as http:
        async with http.post(url + path, json=body, ssl=security.client_context(),
                             server_hostname="swarm-manager") as r:
            return web.Response(status=r.status, body=await r.read(),
                                content_type="application/json")


async def renew(request: web.Request) -> web.Response:
    """A node's new certificate (before expiry, or after a role change): for the caller's
    node ID, with the role the store gives it now."""
    gw, security = _gateway(request), _security(request)
    body = await read_json(request)
    node_id = require_node(request, body.get("NodeID", ""))
    m = gw.leading()
    node = await m.control.call(lambda: m.store.view().node(node_id))
    if node is None:
        raise APIError(404, f"node {node_id} not found")
    role = node.spec.role.value
    await store_ca(gw, security)
    answer = {"Role": role, "Certificate": security.issue(
        str(body.get("CSR", "")).encode(), node_id, role, node.status.addr or "")}
    if role == "manager":
        answer["CA"] = security.ca.to_json()  # type: ignore[union-attr]
    return web.json_response(answer)


async def leader(request: web.Request) -> web.Response:
    gw = _gateway(request)
    require_role(caller(request), "worker", "manager")
    m = gw.require_manager()
    if m.is_leader():
        return web.json_response({"API": internal_url_of(f"{m.swarm_addr[0]}:{m.swarm_addr[1]}")})
    url = gw.leader_internal_url()
    if url is None:
        raise APIError(503, "no leader")
    return web.json_response({"API": url})


async def keys(request: web.Request) -> web.Response:
    """Another manager changed autolock or rotated the unlock key: adopt it."""
    require_manager_caller(request)
    body = await read_json(request)
    security = _security(request)
    if "Autolock" in body:
        adopt(_gateway(request).require_manager().keys, security, body)
    if body.get("NodeCertExpiry"):
        security.set_node_expiry(int(body["NodeCertExpiry"]),
                                 _gateway(request).require_manager().keys)
    return web.Response(status=200)


async def local_logs(request: web.Request) -> web.Response:
    """This node's captured output of the given tasks, for the manager gathering
    `service logs` (only a manager asks: mutual TLS)."""
    require_manager_caller(request)
    node: NodeFacts = request.app["node"]
    ids = {t for t in request.query.get("tasks", "").split(",") if t}
    tail = request.query.get("tail")
    n = int(tail) if tail and tail.isdigit() else None
    since = float(request.query["since"]) if request.query.get("since") else None
    lines = node.worker.logs(ids, n, since) if node.worker else []
    return web.json_response([[tid, ln.timestamp, ln.stream, ln.line] for tid, ln in lines])


async def raft_join(request: web.Request) -> web.Response:
    """A promoted (or manager-token) node runs Raft and asks to become a voter. The
    leader's role reconciler then adds it: membership changes only when it can vote."""
    body = await read_json(request)
    me = require_manager_caller(request)
    m = _gateway(request).leading()
    if body.get("NodeID") != me or int(body["RaftID"]) != m.raft_id_of(me):
        raise PermissionDenied(f"Permission denied: the remote certificate is node {me}'s, "
                               f"not {body.get('NodeID')!r}'s")
    rid, addr = int(body["RaftID"]), str(body["Addr"])
    host, _, port = addr.rpartition(":")
    m.ready_members[rid] = (host, int(port))
    m.raft.add_peer(rid, (host, int(port)))
    m.addresses[rid] = (host, int(port))
    node = m.raft.node
    return web.json_response({"Voter": rid in node.voters, "Voters": list(node.voters)})


class InternalListener:
    """The internal API's HTTPS listener: it listens again with the node's current
    certificate and roots after a renewal or a CA rotation (the routes stay)."""

    def __init__(self, app: Callable[[], web.Application], addr: str, port: int,
                 ssl_context: Callable[[], ssl.SSLContext]) -> None:
        self.app, self.addr, self.port, self.ssl_context = app, addr, port, ssl_context
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    async def serve(self) -> None:
        if self._runner is None:
            self._runner = web.AppRunner(self.app(), access_log=None)
            await self._runner.setup()
        if self._site is not None:
            await self._site.stop()
        self._site = web.TCPSite(self._runner, self.addr, self.port, reuse_address=True,
                                 ssl_context=self.ssl_context())
        await self._site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._site = None


def setup_internal_routes(app: web.Application) -> None:
    """The swarm port's HTTPS routes (not the Engine API's)."""
    add_routes(app, [("POST", "/swarmlab/raft/join", raft_join),
                     ("POST", "/swarmlab/keys", keys), ("GET", "/swarmlab/ca", root_ca),
                     ("POST", "/swarmlab/ca/renew", renew),
                     ("POST", "/swarmlab/join", join), ("GET", "/swarmlab/leader", leader),
                     ("GET", "/swarmlab/local-logs", local_logs)])
    setup_dispatch_routes(app)


__all__ = ["InternalListener", "internal_errors", "setup_internal_routes"]
