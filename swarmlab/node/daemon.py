"""A node: the equivalent of one machine's dockerd in swarm mode.

Theory of operation: a node process owns a state directory (its
`/var/lib/docker`; the swarm part in `swarm/`), serves the Engine API on its
address, and is inactive until `swarm init` or `swarm join`. Every node in a
swarm runs a `Worker` (tasks through the process runtime, the routing mesh);
managers also run a `ManagerRole` (Raft, store, control plane). The swarm
membership is saved in `swarm/state.json`, so a restarted node resumes its role:
a manager restarts Raft from its log.

The node is the composition root: it builds its parts and hands each only what it
uses. The Engine API sees it as a `NodeView` and the control plane through a `Gateway`;
the internal API's handlers get the gateway and the node's `NodeSecurity`; nothing it
builds imports it back.
"""
from __future__ import annotations

import json
import logging
import os
import pathlib
import random
import shutil
from typing import Any, Callable

from aiohttp import ClientSession, web

from ..ca import NodeCertificates, RootCA
from ..files import write_atomic
from ..crypto import KeyManager
from ..engine import render
from ..engine.errors import ALREADY_IN_SWARM, LEAVE_AS_MANAGER, APIError, docker_errors
from ..engine.gateway import Gateway, internal_url_of
from ..engine.handlers import setup_routes
from ..engine.metrics_http import serve_metrics
from ..engine.operator import operator_only, operator_socket, serve_operator_socket
from ..engine.tls import EngineTLS
from ..mesh import RoutingMesh
from ..mesh.discovery import ServiceDiscovery
from ..mesh.plan import apply, plan
from ..objects import ClusterSpec, NodeRole, from_json, new_id, to_json
from ..profiles import LAB, TimingProfile
from ..runtime import ProcessExecutor
from ..agent.worker import Worker
from . import autolock, ca_rotation
from .backup import force_new_cluster, setup_backup_routes
from .dispatch_api import mesh_endpoints
from .faults import Firewall
from .internal import InternalListener, internal_errors, setup_internal_routes
from .joining import raft_peers, renew_certificate, request_join
from .manager_role import ManagerRole, raft_id_of
from .peers import ask_for_leader, tell_managers
from .security import NodeSecurity, Roster

log = logging.getLogger("swarmlab.node")


class NodeDaemon:
    def __init__(self, name: str, addr: str, state_dir: str | pathlib.Path, *,
                 api_port: int = 2375, swarm_port: int = 2377, profile: TimingProfile = LAB,
                 node_index: int = 0, faults_file: str | None = None,
                 runtime_dir: str | None = None, engine_tls: EngineTLS | None = None) -> None:
        self.runtime_dir = runtime_dir
        self.engine_tls = engine_tls  # the Engine API with --tlsverify
        self.name, self.addr = name, addr
        self.api_port, self.swarm_port = api_port, swarm_port
        self.profile = profile
        self.node_index = node_index
        self.state_dir = pathlib.Path(state_dir)
        self.swarm_dir = self.state_dir / "swarm"
        self.firewall = Firewall(faults_file, name)
        self.node_id = ""
        self.role: str | None = None  # "manager" | "worker" | None (inactive)
        self.managers: dict[str, str] = {}  # api url -> swarm addr ("host:port")
        self.manager: ManagerRole | None = None
        self.locked = False  # an autolocked manager after a restart, until `swarm unlock`
        self.worker: Worker | None = None
        self.executor: Any = None
        self.mesh: RoutingMesh | None = None
        self.discovery: ServiceDiscovery | None = None
        self.security = NodeSecurity(self.swarm_dir)
        self.gateway: Gateway[ManagerRole] = Gateway(self)
        self._runner: web.AppRunner | None = None
        self._metrics: web.AppRunner | None = None
        self._internal = InternalListener(  # HTTPS on swarm_port + 1
            lambda: self._app(setup_internal_routes, docker_errors, internal_errors),
            addr, swarm_port + 1, self.security.internal_server_context)

    # -- life cycle -------------------------------------------------------------------------
    @property
    def swarm_addr_str(self) -> str:
        return f"{self.addr}:{self.swarm_port}"

    @property
    def api_url(self) -> str:
        return f"{self.api_scheme}://{self.addr}:{self.api_port}"

    @property
    def operator_socket(self) -> pathlib.Path:
        return operator_socket(self.state_dir)

    @property
    def api_scheme(self) -> str:
        return "https" if self.engine_tls else "http"

    @property
    def internal_url(self) -> str:
        return internal_url_of(self.swarm_addr_str)

    def tls(self, server_hostname: str = "swarm-manager") -> dict[str, Any]:
        """aiohttp arguments for a call to another node over mutual TLS (to a manager by
        default: `swarm-manager` is a SAN of manager certificates only)."""
        return {"ssl": self.security.client_context(), "server_hostname": server_hostname}

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.executor = self._executor()
        self.mesh = RoutingMesh(self.name, self.addr)
        self.discovery = ServiceDiscovery(self.name, self.node_index, metrics=self.mesh.metrics,
                                          on_names=self.executor.set_names)
        self.firewall.start(self.addr)
        app = self._app(setup_routes, operator_only, docker_errors)
        setup_backup_routes(app, self.swarm_dir)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.addr, self.api_port, reuse_address=True,
                          ssl_context=self.engine_tls.server_context() if self.engine_tls
                          else None).start()
        # the operator's socket (dockerd's /var/run/docker.sock): backups and keys
        await serve_operator_socket(self._runner, self.operator_socket)
        # GET ADDR:9323/metrics, as dockerd --metrics-addr
        self._metrics = await serve_metrics(self, self.gateway, self.mesh.metrics.registry)
        state = self._load_state()
        if state:
            self.node_id, self.role = state["NodeID"], state["Role"]
            self.managers = state.get("Managers", {})
            keys = KeyManager(self.swarm_dir) if self.role == "manager" else None
            if keys is not None and keys.locked:
                self.locked = True
                log.warning("%s: swarm is locked; waiting for `swarm unlock`", self.name)
            else:
                await self._resume(keys)
        log.info("%s: API on %s, swarm %s", self.name, self.api_url, self.role or "inactive")

    def _executor(self) -> Any:
        if os.environ.get("SWARMLAB_RUNTIME") == "docker":
            # inside a Docker-in-Docker node: tasks are containers of the node's dockerd
            from ..runtime.dockerapi.executor import DockerExecutor
            return DockerExecutor(self.name, self.node_index, self.addr)
        return ProcessExecutor(self.name, node_index=self.node_index,
                               node_address=self.addr, root_dir=self.runtime_dir)

    def _app(self, routes: Callable[[web.Application], None],
             *middlewares: Any) -> web.Application:
        """An API's application, with what its handlers may see of this node."""
        app = web.Application(middlewares=list(middlewares), client_max_size=4 << 20)
        app["node"], app["gateway"], app["security"] = self, self.gateway, self.security
        routes(app)
        return app

    async def _resume(self, keys: KeyManager | None) -> None:
        """A restarted (or unlocked) node: its certificates, then its roles."""
        self.security.load_certs(keys)
        if keys is not None:
            self.security.load_ca(keys)
        await self._internal.serve()
        if self.role == "manager":
            await self._start_manager(bootstrap=False, peers={}, keys=keys)
        self._start_worker()

    async def close(self) -> None:
        await self._stop_roles(destroy_keys=False)
        if self.mesh and self.discovery:
            await self.mesh.close()
            await self.discovery.close()
        if self.executor:
            await self.executor.close()
        self.firewall.stop()
        await self._internal.stop()
        for runner in (self._metrics, self._runner):
            if runner is not None:
                await runner.cleanup()
        self.operator_socket.unlink(missing_ok=True)

    # -- persisted swarm membership -------------------------------------------------------
    def _load_state(self) -> dict | None:
        p = self.swarm_dir / "state.json"
        return json.loads(p.read_text()) if p.exists() else None

    def _save_state(self) -> None:
        write_atomic(self.swarm_dir / "state.json", json.dumps(
            {"NodeID": self.node_id, "Role": self.role, "Managers": self.managers}).encode())

    async def _start_manager(self, bootstrap: bool, peers: dict[int, tuple[str, int]],
                             keys: KeyManager | None = None) -> None:
        self.manager = ManagerRole(self.node_id, self.name, (self.addr, self.swarm_port),
                                   self.swarm_dir, self.profile, peers=peers,
                                   blocked=self.firewall.blocks_host, keys=keys,
                                   security=self.security)
        await self.manager.start(bootstrap=bootstrap, join_via=lambda: [
            internal_url_of(a) for u, a in self.managers.items()
            if u != self.api_url and not self.blocked_url(u)])

    async def follow_role(self, doc: dict) -> None:
        """The leader says what this node should be (promote/demote reach a node this way),
        which roots to trust and whether to renew (a CA rotation)."""
        want = doc.get("Role")
        keys = self.manager.keys if self.manager else None
        if self.manager is None and "RemovedNodes" in doc:  # a manager reads its store
            self.security.roster = Roster(frozenset(doc["RemovedNodes"]),
                                          frozenset(doc.get("ManagerNodes") or ()))
        if ca_rotation.adopt_roots(self.name, self.security, doc, keys):
            await self.reload_tls()
        if self.manager is not None and doc.get("NodeCertExpiry"):  # the leader's --cert-expiry
            self.security.set_node_expiry(int(doc["NodeCertExpiry"]), self.manager.keys)
        if self.manager is not None and doc.get("RaftMember"):
            self.manager.confirmed_member = True
        elif self.manager is not None and self.manager.confirmed_member and want == "manager":
            # Removed from Raft, and promoted again before this node saw the demotion: its
            # Raft would wait for a leader that no longer talks to it. Leave as a demoted
            # manager does (swarmkit's ErrMemberRemoved), then join again with a fresh log.
            log.info("%s: removed from Raft and promoted again: rejoining", self.name)
            await self._leave_raft()
        if want == "manager" and self.manager is None:
            log.info("%s: promoted to manager", self.name)
            keys = self._new_keys(doc)
            await self.renew_certificate(keys)  # a manager certificate, and the CA
            self.role = "manager"
            await self._start_manager(bootstrap=False, peers=raft_peers(doc), keys=keys)
            self._save_state()
        elif want == "worker" and self.manager is not None and not doc.get("RaftMember"):
            log.info("%s: demoted to worker", self.name)
            await self._leave_raft()
            await self.renew_certificate(None)  # a worker certificate
        elif self.manager is None and want and want != self.security.role:
            await self.renew_certificate(None)  # a demotion whose renewal failed: again
        elif doc.get("RenewCertificate") or self.security.needs_renewal():
            await self.renew_certificate(self.manager.keys if self.manager else None)

    async def _leave_raft(self) -> None:
        """Stop being a manager: Raft closed, its log and keys gone."""
        m, self.manager = self.manager, None
        assert m is not None
        self.role = "worker"
        await m.close()
        shutil.rmtree(self.swarm_dir / "raft", ignore_errors=True)
        m.keys.destroy()
        self.security.drop_ca()
        self._save_state()

    async def renew_certificate(self, keys: KeyManager | None) -> None:
        """A new certificate from the leader (before expiry, or for a new role)."""
        role = await renew_certificate(self.security, keys, self.node_id,
                                       self.pick_manager_url, self.tls())
        log.info("%s: new %s certificate", self.name, role)
        await self.reload_tls()

    async def reload_tls(self) -> None:
        """New certificates or roots: the internal API and the Raft port listen with them."""
        await self._internal.serve()
        if self.manager is not None:
            await self.manager.raft.transport.reload_tls()

    def _start_worker(self) -> None:
        self.worker = Worker(self, self.executor)
        self.worker.start()

    # -- what the API asks ----------------------------------------------------------------
    def swarm_header(self) -> str:
        if self.role is None:
            return "inactive"
        return f"active/{self.role}"

    # -- swarm init / join / leave / update / unlock ------------------------------------------
    async def swarm_init(self, req: dict) -> str:
        if req.get("ForceNewCluster") and self.role == "manager":
            return await self._force_new_cluster()
        if self.role is not None:
            raise APIError(503, ALREADY_IN_SWARM)
        if req.get("ForceNewCluster"):
            raise APIError(400, "--force-new-cluster needs a node that was a manager")
        rng = random.Random()
        self.node_id, cluster_id = new_id(rng), new_id(rng)
        self.role = "manager"
        self.managers = {self.api_url: self.swarm_addr_str}
        spec_doc = req.get("Spec") or {}
        enc = spec_doc.get("EncryptionConfig") or {}
        keys = autolock.new_keys(self.swarm_dir, bool(
            req.get("AutoLockManagers") or enc.get("AutoLockManagers")))
        ca = self.security.create_ca(cluster_id, self.node_id, self.addr, (
            (spec_doc.get("CAConfig") or {}).get("NodeCertExpiry") or 0), keys)
        await self._internal.serve()
        m = await self._lead_alone(bootstrap=True, keys=keys, timeout=5.0, what="init")
        spec = from_json(ClusterSpec, req["Spec"]) if req.get("Spec") else None
        await m.control.call(
            lambda: m.control_plane.init(self.name, self.swarm_addr_str, spec=spec,
                                         description=render.description(self.name),
                                         cluster_id=cluster_id, ca_digest=ca.digest()))
        await ca_rotation.store_ca(self.gateway, self.security)  # into the cluster object
        self._save_state()
        self._start_worker()
        return self.node_id

    async def _lead_alone(self, bootstrap: bool, keys: KeyManager, timeout: float,
                          what: str) -> ManagerRole:
        """This manager as the only voter, leading at once."""
        await self._start_manager(bootstrap=bootstrap, peers={}, keys=keys)
        m = self.manager
        assert m is not None
        if not await m.lead_alone(timeout):
            raise APIError(500, f"no leader after {what}")
        return m

    async def _force_new_cluster(self) -> str:
        """`swarm init --force-new-cluster`: this manager alone, with the swarm's state."""
        m = self.gateway.require_manager()  # refused while locked
        keys = m.keys
        self.manager = None
        await m.close()
        index = await force_new_cluster(self.swarm_dir, keys, raft_id_of(self.node_id))
        log.warning("%s: forced a new cluster from the state at index %d", self.name, index)
        self.managers = {self.api_url: self.swarm_addr_str}
        self._save_state()
        await self._lead_alone(bootstrap=False, keys=keys, timeout=10.0, what="recovery")
        if self.worker is None:
            self._start_worker()
        return self.node_id

    async def swarm_join(self, req: dict) -> None:
        if self.role is not None:
            raise APIError(503, ALREADY_IN_SWARM)
        remotes = req.get("RemoteAddrs") or []
        if not remotes:
            raise APIError(400, "invalid JoinRequest: at least 1 RemoteAddr is required to join")
        answer = await request_join(remotes, req.get("JoinToken", ""), self.security, {
            "Hostname": self.name, "Addr": self.swarm_addr_str, "API": self.api_url,
            "Description": to_json(render.description(self.name))})
        doc = answer.doc
        self.node_id, self.role = doc["NodeID"], doc["Role"]
        self.managers = doc.get("Managers", {})
        keys = self._new_keys(doc) if self.role == "manager" else None
        self.security.set_certs(NodeCertificates(
            answer.ca_pem, doc["Certificate"].encode(), answer.key_pem), keys)
        if keys is not None:
            self.security.set_ca(RootCA.from_json(doc["CA"]), keys)
        await self._internal.serve()
        if self.role == "manager":
            await self._start_manager(bootstrap=False, peers=raft_peers(doc), keys=keys)
        self._save_state()
        self._start_worker()

    def _new_keys(self, doc: dict) -> KeyManager:
        """A new manager's keys: the swarm's autolock setting and unlock key."""
        return autolock.new_keys(self.swarm_dir, bool(doc.get("Autolock")),
                                 doc.get("UnlockKey") or None)

    async def swarm_leave(self, force: bool) -> None:
        if self.role is None:
            raise APIError(503, "This node is not part of a swarm")
        if self.role == "manager" and not force:
            raise APIError(503, LEAVE_AS_MANAGER)
        await self._stop_roles(destroy_keys=True)
        await self._internal.stop()
        self.security.forget()
        self.role, self.node_id, self.managers, self.locked = None, "", {}, False
        shutil.rmtree(self.swarm_dir, ignore_errors=True)

    async def _stop_roles(self, destroy_keys: bool) -> None:
        """The worker (its tasks stopped) and the manager role, if any."""
        worker, manager, self.worker, self.manager = self.worker, self.manager, None, None
        if worker:
            await worker.close(stop_tasks=True)
        if manager:
            await manager.close()
            if destroy_keys:
                manager.keys.destroy()

    async def swarm_update(self, version: int, body: dict, rotate_worker: bool,
                           rotate_manager: bool, rotate_unlock: bool = False) -> None:
        gw = self.gateway
        m = gw.require_manager()
        if body:  # the spec first: its version is the one the client read
            await ca_rotation.update_spec(gw, self.security, version,
                                          from_json(ClusterSpec, body), self._tell_managers)
        if rotate_worker:
            await gw.call(lambda cp: cp.rotate_join_token(NodeRole.WORKER))
        if rotate_manager:
            await gw.call(lambda cp: cp.rotate_join_token(NodeRole.MANAGER))
        await autolock.update(m.keys, self.security, (body or {}).get("EncryptionConfig") or {},
                              rotate_unlock, self._tell_managers)

    async def swarm_unlock(self, key: str) -> None:
        if not self.locked:
            raise APIError(503, "swarm is not locked")
        keys = autolock.unlock(self.swarm_dir, key)
        self.locked = False
        await self._resume(keys)

    def unlock_key(self) -> dict:
        return autolock.unlock_key(self.gateway.require_manager().keys)

    async def _tell_managers(self, body: dict) -> None:
        await tell_managers(self.name, self.managers, self.api_url, self.tls, body)

    # -- worker plumbing -------------------------------------------------------------------------
    async def pick_manager_url(self, http: ClientSession) -> str | None:
        """The leader's internal API if we know it, else the one any manager names."""
        if self.manager is not None:
            if self.manager.is_leader():
                return self.internal_url
            url = self.gateway.leader_internal_url()
            if url:
                return url
            # no leader known here (e.g. this manager was just removed from Raft): ask others
        others = [internal_url_of(a) for u, a in self.managers.items() if u != self.api_url]
        return await ask_for_leader(http, others, self.tls(), self.blocked_url)

    def blocked_url(self, url: str | None) -> bool:
        return self.firewall.blocks_url(url)

    def remember_managers(self, managers: dict[str, str]) -> None:
        if managers and managers != self.managers:
            self.managers = dict(managers)
            self._save_state()

    async def update_mesh(self, doc: dict) -> None:
        """Make this node's routing mesh and service discovery match the cluster."""
        services, tasks = mesh_endpoints(doc, self.firewall.blocks_host)
        await apply(plan(services, tasks), self.mesh, self.discovery)


__all__ = ["NodeDaemon"]
