"""A node: the equivalent of one machine's dockerd in swarm mode.

Theory of operation: a node process owns a state directory (its
`/var/lib/docker`; the swarm part in `swarm/`), serves the Engine API on its
address, and is inactive until `swarm init` or `swarm join`. Every node in a
swarm runs a `Worker` (tasks through the process runtime, the routing mesh);
managers also run a `ManagerRole` (Raft, store, control plane). The swarm
membership is saved in `swarm/state.json`, so a restarted node resumes its role:
a manager restarts Raft from its log.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
import random
import shutil
from typing import Any, Callable

from aiohttp import ClientSession, ClientTimeout, web

from .. import __version__
from ..objects import (
    FailedPrecondition, InvalidArgument, NodeRole, NodeState, new_id, to_json,
)
from ..profiles import LAB, TimingProfile
from ..ca import CertificateError, NodeCertificates, RootCA, fetch_root_ca
from ..crypto import (
    SWARM_LOCKED, InvalidUnlockKey, KeyManager, KeyManagerError, MalformedUnlockKey,
)
from ..runtime import TaskState as RState
from . import ca_rotation
from ..engine.api import NOT_IN_SWARM, WORKER_REFUSAL, APIError, ForwardToLeader, docker_errors
from .faults import Firewall
from .manager_role import ManagerRole, raft_id_of
from .security import NodeSecurity
from ..agent.worker import Worker

log = logging.getLogger("swarmlab.node")

ALREADY_IN_SWARM = ("This node is already part of a swarm. Use \"docker swarm leave\" to leave "
                    "this swarm and join another one.")


class NodeDaemon:
    def __init__(self, name: str, addr: str, state_dir: str | pathlib.Path, *,
                 api_port: int = 2375, swarm_port: int = 2377, profile: TimingProfile = LAB,
                 node_index: int = 0, faults_file: str | None = None,
                 runtime_dir: str | None = None, engine_tls: Any = None) -> None:
        self.runtime_dir = runtime_dir
        self.engine_tls = engine_tls  # EngineTLS: the Engine API with --tlsverify
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
        self.mesh: Any = None
        self.discovery: Any = None
        self._runner: web.AppRunner | None = None
        self.security = NodeSecurity(self.swarm_dir)
        self._internal: web.AppRunner | None = None  # HTTPS on swarm_port + 1
        self._internal_site: web.TCPSite | None = None
        self.endpoints: dict[str, dict[str, list]] = {}  # leader: node -> task endpoints

    # -- life cycle -------------------------------------------------------------------------
    @property
    def swarm_addr_str(self) -> str:
        return f"{self.addr}:{self.swarm_port}"

    @property
    def api_url(self) -> str:
        return f"{self.api_scheme}://{self.addr}:{self.api_port}"

    @property
    def api_scheme(self) -> str:
        return "https" if self.engine_tls else "http"

    @property
    def internal_url(self) -> str:
        return self.internal_url_of(self.swarm_addr_str)

    @staticmethod
    def internal_url_of(swarm_addr: str) -> str:
        """A node's internal API (joins, dispatcher, renewal): HTTPS on its swarm port + 1."""
        host, _, port = swarm_addr.rpartition(":")
        return f"https://{host}:{int(port) + 1}"

    def tls(self, server_hostname: str = "swarm-manager") -> dict[str, Any]:
        """aiohttp arguments for a call to another node over mutual TLS (to a manager by
        default: `swarm-manager` is a SAN of manager certificates only)."""
        return {"ssl": self.security.client_context(), "server_hostname": server_hostname}

    async def start(self) -> None:
        from ..mesh import RoutingMesh
        from ..runtime import ProcessExecutor
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if os.environ.get("SWARMLAB_RUNTIME") == "docker":
            # inside a Docker-in-Docker node: tasks are containers of the node's dockerd
            from ..runtime.dockerapi.executor import DockerExecutor
            self.executor = DockerExecutor(self.name, self.node_index, self.addr)
        else:
            self.executor = ProcessExecutor(self.name, node_index=self.node_index,
                                            node_address=self.addr, root_dir=self.runtime_dir)
        self.mesh = RoutingMesh(self.name, self.addr)
        from ..mesh.discovery import ServiceDiscovery
        self.discovery = ServiceDiscovery(self.name, self.node_index, metrics=self.mesh.metrics,
                                          on_names=self.executor.set_names)
        self.firewall.start(self.addr)
        app = web.Application(middlewares=[docker_errors], client_max_size=4 << 20)
        app["daemon"] = self
        from .backup import setup_backup_routes
        from ..engine.handlers import setup_routes
        setup_routes(app)
        setup_backup_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.addr, self.api_port, reuse_address=True,
                          ssl_context=self.engine_tls.server_context() if self.engine_tls
                          else None).start()
        from ..engine.metrics_http import serve_metrics  # GET ADDR:9323/metrics, as dockerd --metrics-addr
        self._metrics = await serve_metrics(self)
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

    async def _resume(self, keys: KeyManager | None) -> None:
        """A restarted (or unlocked) node: its certificates, then its roles."""
        self.security.load_certs(keys)
        if keys is not None:
            self.security.load_ca(keys)
        await self._serve_internal()
        if self.role == "manager":
            await self._start_manager(bootstrap=False, peers={}, keys=keys)
        self._start_worker()

    async def _serve_internal(self) -> None:
        """(Re)start the internal HTTPS API with the current certificate."""
        from ..engine.api import docker_errors
        from .internal import internal_errors, setup_internal_routes
        if self._internal is None:
            app = web.Application(middlewares=[docker_errors, internal_errors],
                                  client_max_size=4 << 20)
            app["daemon"] = self
            setup_internal_routes(app)
            self._internal = web.AppRunner(app, access_log=None)
            await self._internal.setup()
        if self._internal_site is not None:
            await self._internal_site.stop()
        port = int(self.internal_url.rpartition(":")[2])
        self._internal_site = web.TCPSite(
            self._internal, self.addr, port, reuse_address=True,
            ssl_context=self.security.internal_server_context())
        await self._internal_site.start()

    async def _stop_internal(self) -> None:
        if self._internal is not None:
            await self._internal.cleanup()
        self._internal = self._internal_site = None

    async def close(self) -> None:
        if self.worker:
            await self.worker.close(stop_tasks=True)
        if self.manager:
            await self.manager.close()
        if self.mesh:
            await self.mesh.close()
            await self.discovery.close()
        if self.executor:
            await self.executor.close()
        self.firewall.stop()
        await self._stop_internal()
        if getattr(self, "_metrics", None) is not None:
            await self._metrics.cleanup()
        if self._runner:
            await self._runner.cleanup()

    # -- persisted swarm membership -------------------------------------------------------
    def _load_state(self) -> dict | None:
        p = self.swarm_dir / "state.json"
        return json.loads(p.read_text()) if p.exists() else None

    def _save_state(self) -> None:
        self.swarm_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.swarm_dir / "state.json.tmp"
        tmp.write_text(json.dumps({"NodeID": self.node_id, "Role": self.role,
                                   "Managers": self.managers}))
        os.replace(tmp, self.swarm_dir / "state.json")

    async def _start_manager(self, bootstrap: bool, peers: dict[int, tuple[str, int]],
                             keys: KeyManager | None = None) -> None:
        self.manager = ManagerRole(self.node_id, self.name, (self.addr, self.swarm_port),
                                   self.swarm_dir, self.profile, peers=peers,
                                   blocked=self.firewall.blocks_host, keys=keys,
                                   security=self.security)
        await self.manager.start(bootstrap=bootstrap, join_via=lambda: [
            self.internal_url_of(a) for u, a in self.managers.items()
            if u != self.api_url and not self.blocked_url(u)])

    async def follow_role(self, doc: dict) -> None:
        """The leader says what this node should be (promote/demote reach a node this way),
        which roots to trust and whether to renew (a CA rotation)."""
        want = doc.get("Role")
        renew = await ca_rotation.follow(self, doc, self.manager.keys if self.manager else None)
        self._follow_cert_expiry(doc.get("NodeCertExpiry"))
        if self.manager is not None and doc.get("RaftMember"):
            self.manager.confirmed_member = True
        elif self.manager is not None and self.manager.confirmed_member and want == "manager":
            # Removed from Raft, and promoted again before this node saw the demotion: its
            # Raft would wait for a leader that no longer talks to it. Leave as a demoted
            # manager does (swarmkit's ErrMemberRemoved), then join again with a fresh log.
            log.info("%s: removed from Raft and promoted again: rejoining", self.name)
            await self._leave_raft()
        if want == "manager" and self.manager is None:
            peers = {int(k): (v.rpartition(":")[0], int(v.rpartition(":")[2]))
                     for k, v in (doc.get("RaftPeers") or {}).items()}
            log.info("%s: promoted to manager", self.name)
            keys = self._new_keys(doc)
            await self.renew_certificate(keys)  # a manager certificate, and the CA
            self.role = "manager"
            await self._start_manager(bootstrap=False, peers=peers, keys=keys)
            self._save_state()
        elif want == "worker" and self.manager is not None and not doc.get("RaftMember"):
            log.info("%s: demoted to worker", self.name)
            await self._leave_raft()
            await self.renew_certificate(None)  # a worker certificate
        elif self.manager is None and want and want != self.security.role:
            await self.renew_certificate(None)  # a demotion whose renewal failed: again
        elif renew or self.security.needs_renewal():
            await self.renew_certificate(self.manager.keys if self.manager else None)

    async def _leave_raft(self) -> None:
        """Stop being a manager: Raft closed, its log and keys gone."""
        m, self.manager = self.manager, None
        self.role = "worker"
        await m.close()
        shutil.rmtree(self.swarm_dir / "raft", ignore_errors=True)
        m.keys.destroy()
        self.security.drop_ca()
        self._save_state()

    def _follow_cert_expiry(self, seconds: int | None) -> None:
        """A manager's CA issues for as long as the leader's says (`--cert-expiry`)."""
        ca = self.security.ca
        if seconds and self.manager is not None and ca is not None and \
                seconds != int(ca.node_expiry.total_seconds()):
            self.security.set_node_expiry(seconds, self.manager.keys)

    async def renew_certificate(self, keys: KeyManager | None) -> None:
        """A new certificate from the leader (before expiry, or for a new role), over
        mutual TLS with the current one; a manager's answer carries the CA too."""
        key_pem, csr = self.security.new_csr()
        async with ClientSession(timeout=ClientTimeout(total=10)) as http:
            url = await self.pick_manager_url(http)
            if url is None:
                raise APIError(503, "no manager reachable to renew the certificate")
            async with http.post(url + "/swarmlab/ca/renew", **self.tls(),
                                 json={"NodeID": self.node_id, "CSR": csr.decode()}) as r:
                doc = await r.json(content_type=None)
                if r.status != 200:
                    raise APIError(r.status, doc.get("message", "certificate renewal refused"))
        self.security.set_certs(NodeCertificates(
            self.security.root_pem(), doc["Certificate"].encode(), key_pem), keys)
        if doc.get("CA") and keys is not None:
            self.security.set_ca(RootCA.from_json(doc["CA"]), keys)
        log.info("%s: new %s certificate", self.name, doc.get("Role"))
        await self.reload_tls()

    async def reload_tls(self) -> None:
        """New certificates or roots: the internal API and the Raft port listen with them."""
        await self._serve_internal()
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

    def description(self) -> Any:
        """What `node inspect` shows under Description (hostname, platform, engine)."""
        from ..objects import EngineDescription, NodeDescription, NodePlatform, ResourceAmounts
        return NodeDescription(
            hostname=self.name, platform=NodePlatform(architecture=os.uname().machine, os="linux"),
            resources=ResourceAmounts(nano_cpus=(os.cpu_count() or 1) * 1_000_000_000,
                                      memory_bytes=_mem_total()),
            engine=EngineDescription(engine_version=f"swarmlab-{__version__}"))

    def version(self) -> dict:
        return {"Platform": {"Name": "swarmlab"}, "Version": f"swarmlab-{__version__}",
                "ApiVersion": "1.44", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
                "KernelVersion": os.uname().release, "GoVersion": "n/a", "GitCommit": "swarmlab",
                "Components": [{"Name": "Engine", "Version": f"swarmlab-{__version__}",
                                "Details": {"ApiVersion": "1.44"}}]}

    async def info(self) -> dict:
        swarm: dict[str, Any] = {"NodeID": self.node_id, "NodeAddr": self.addr,
                                 "LocalNodeState": "locked" if self.locked else
                                 "active" if self.role else "inactive",
                                 "ControlAvailable": self.role == "manager", "Error": "",
                                 "RemoteManagers": [
                                     {"NodeID": "", "Addr": a} for a in self.managers.values()]}
        if self.manager:
            counts = await self.manager.control.call(lambda: (
                len(self.manager.store.view().nodes()),
                sum(1 for n in self.manager.store.view().nodes() if n.manager_status)))
            swarm["Nodes"], swarm["Managers"] = counts
            cluster = await self.manager.control.call(lambda: self.manager.store.view().cluster())
            if cluster is not None:
                swarm["Cluster"] = ca_rotation.render_cluster(cluster)
        held = list(self.worker.controllers.values()) if self.worker else []
        running = sum(1 for c in held if c.status.state == RState.RUNNING)
        return {"ID": self.node_id or self.name, "Name": self.name, "Containers": len(held),
                "ContainersRunning": running, "ContainersPaused": 0,
                "ContainersStopped": len(held) - running,
                "ServerVersion": f"swarmlab-{__version__}",
                "OperatingSystem": "swarmlab embedded", "OSType": "linux",
                "Architecture": "x86_64", "NCPU": os.cpu_count() or 1,
                "MemTotal": _mem_total(), "Swarm": swarm, "Labels": []}

    # -- swarm init / join / leave ----------------------------------------------------------
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
        keys = KeyManager(self.swarm_dir)
        enc = ((req.get("Spec") or {}).get("EncryptionConfig") or {})
        keys.create(autolock=bool(req.get("AutoLockManagers") or enc.get("AutoLockManagers")))
        ca = self._create_ca(cluster_id, req.get("Spec") or {}, keys)
        await self._serve_internal()
        await self._start_manager(bootstrap=True, peers={}, keys=keys)
        self.manager.raft.campaign()  # alone: no need to wait for an election timeout
        await self._wait(lambda: self.manager.is_leader(), 5.0, "no leader after init")
        from ..objects import from_json, ClusterSpec
        spec = from_json(ClusterSpec, req["Spec"]) if req.get("Spec") else None
        await self.manager.control.call(
            lambda: self.manager.manager.init(self.name, self.swarm_addr_str, spec=spec,
                                              description=self.description(),
                                              cluster_id=cluster_id, ca_digest=ca.digest()))
        await ca_rotation.store_ca(self)  # the CA goes into the cluster object
        self._save_state()
        self._start_worker()
        return self.node_id

    def _create_ca(self, cluster_id: str, spec: dict, keys: KeyManager) -> RootCA:
        """`swarm init`: the swarm's root CA (kept by managers) and this manager's own
        certificate, signed by it. `--cert-expiry` sets how long node certificates last."""
        import datetime as dt
        expiry_ns = ((spec.get("CAConfig") or {}).get("NodeCertExpiry") or 0)
        ca = RootCA.create(cluster_id) if not expiry_ns else RootCA.create(
            cluster_id, node_expiry=dt.timedelta(seconds=expiry_ns / 1e9))
        key_pem, csr = self.security.new_csr()
        chain = ca.issue(csr, self.node_id, "manager", addresses=[self.addr])
        self.security.set_certs(NodeCertificates(ca.cert_pem(), chain, key_pem), keys)
        self.security.set_ca(ca, keys)
        return ca

    async def _force_new_cluster(self) -> str:
        """`swarm init --force-new-cluster`: this manager alone, with the swarm's state."""
        from .backup import rewrite_as_single_voter
        if self.locked:
            raise APIError(503, SWARM_LOCKED)
        m = self._require_manager()
        keys = m.keys
        self.manager = None
        await m.close()
        index = await asyncio.get_running_loop().run_in_executor(
            None, rewrite_as_single_voter, self.swarm_dir, keys, raft_id_of(self.node_id))
        log.warning("%s: forced a new cluster from the state at index %d", self.name, index)
        self.managers = {self.api_url: self.swarm_addr_str}
        self._save_state()
        await self._start_manager(bootstrap=False, peers={}, keys=keys)
        self.manager.raft.campaign()
        await self._wait(lambda: self.manager.is_leader(), 10.0, "no leader after recovery")
        if self.worker is None:
            self._start_worker()
        return self.node_id

    async def swarm_join(self, req: dict) -> None:
        if self.role is not None:
            raise APIError(503, ALREADY_IN_SWARM)
        remotes = req.get("RemoteAddrs") or []
        token = req.get("JoinToken", "")
        if not remotes:
            raise APIError(400, "invalid JoinRequest: at least 1 RemoteAddr is required to join")
        answer, last, key_pem = None, None, b""
        silent: set[str] = set()  # remotes that timed out are not tried again
        for remote in [r for _ in range(3) for r in remotes]:  # a manager may be restarting
            if remote in silent:  # its listener (new certificate or roots): try again shortly
                continue
            base = self.internal_url_of(remote if ":" in remote else f"{remote}:2377")
            try:
                answer, ca_pem, key_pem = await self._join_via(base, token)
                break
            except (OSError, asyncio.TimeoutError) as e:
                last = e
                if isinstance(e, asyncio.TimeoutError):
                    silent.add(remote)
                await asyncio.sleep(0.3)
        if answer is None:
            raise APIError(500, f"could not connect to any manager at {remotes}: {last}")
        self.node_id, self.role = answer["NodeID"], answer["Role"]
        self.managers = answer.get("Managers", {})
        keys = self._new_keys(answer) if self.role == "manager" else None
        self.security.set_certs(NodeCertificates(
            ca_pem, answer["Certificate"].encode(), key_pem), keys)
        if keys is not None:
            self.security.set_ca(RootCA.from_json(answer["CA"]), keys)
        await self._serve_internal()
        if self.role == "manager":
            peers = {int(k): (v.rpartition(":")[0], int(v.rpartition(":")[2]))
                     for k, v in answer.get("RaftPeers", {}).items()}
            await self._start_manager(bootstrap=False, peers=peers, keys=keys)
        self._save_state()
        self._start_worker()

    async def _join_via(self, base: str, token: str) -> tuple[dict, bytes, bytes]:
        """Fetch the CA and check it against the token's digest (the wrong swarm is refused
        here), then send the join request with a CSR over TLS that trusts only that CA."""
        import ssl
        try:
            ca_pem = await fetch_root_ca(base + "/swarmlab/ca", token)
        except CertificateError as e:  # a malformed token, or another swarm's CA
            raise APIError(400, str(e)) from None
        pinned = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        pinned.load_verify_locations(cadata=ca_pem.decode())
        key_pem, csr = self.security.new_csr()
        body = {"JoinToken": token, "Hostname": self.name, "Addr": self.swarm_addr_str,
                "API": self.api_url, "CSR": csr.decode(),
                "Description": to_json(self.description())}
        async with ClientSession(timeout=ClientTimeout(total=15)) as http:
            async with http.post(base + "/swarmlab/join", json=body, ssl=pinned,
                                 server_hostname="swarm-manager") as r:
                doc = await r.json(content_type=None)
                if r.status >= 400:
                    raise APIError(r.status, doc.get("message", "join refused"))
        return doc, ca_pem, key_pem

    def _new_keys(self, doc: dict) -> KeyManager:
        """A new manager's keys: the swarm's autolock setting and unlock key."""
        keys = KeyManager(self.swarm_dir)
        keys.destroy()
        keys.create(autolock=bool(doc.get("Autolock")), unlock_key=doc.get("UnlockKey") or None)
        return keys

    async def swarm_leave(self, force: bool) -> None:
        if self.role is None:
            raise APIError(503, "This node is not part of a swarm")
        if self.role == "manager" and not force:
            raise APIError(503, (
                "You are attempting to leave the swarm on a node that is participating as a "
                "manager. Removing the last manager erases all current state of the swarm. "
                "Use `--force` to ignore this message."))
        if self.worker:
            await self.worker.close(stop_tasks=True)
            self.worker = None
        if self.manager:
            await self.manager.close()
            self.manager.keys.destroy()
            self.manager = None
        await self._stop_internal()
        self.security.forget()
        self.role, self.node_id, self.managers, self.locked = None, "", {}, False
        shutil.rmtree(self.swarm_dir, ignore_errors=True)

    async def swarm_inspect(self) -> dict:
        m = self._require_manager()
        cluster = await m.control.call(lambda: m.store.view().cluster())
        if cluster is None:
            raise APIError(503, NOT_IN_SWARM)
        return ca_rotation.render_cluster(cluster)

    async def swarm_update(self, version: int, body: dict, rotate_worker: bool,
                           rotate_manager: bool, rotate_unlock: bool = False) -> None:
        m = self._require_manager()
        if body:  # the spec first: its version is the one the client read
            from ..objects import ClusterSpec, from_json
            spec = from_json(ClusterSpec, body)
            current = await self.manager_read(lambda tx: tx.cluster())
            if current is not None and current.spec != spec:  # CA rotation, --cert-expiry
                await ca_rotation.update_cluster(self, version, spec)
        if rotate_worker:
            await self.manager_call(lambda mg: mg.rotate_join_token(NodeRole.WORKER))
        if rotate_manager:
            await self.manager_call(lambda mg: mg.rotate_join_token(NodeRole.MANAGER))
        enc = (body or {}).get("EncryptionConfig") or {}
        if "AutoLockManagers" in enc or rotate_unlock:
            want = bool(enc.get("AutoLockManagers", m.keys.autolock))
            if rotate_unlock and not want:
                raise APIError(400, "no unlock key is set")
            if want != m.keys.autolock or rotate_unlock:
                await self.set_keys(want, rotate=rotate_unlock)

    # -- autolock ---------------------------------------------------------------------------
    async def swarm_unlock(self, key: str) -> None:
        if not self.locked:
            raise APIError(503, "swarm is not locked")
        keys = KeyManager(self.swarm_dir)
        try:
            keys.unlock(key)
        except MalformedUnlockKey as e:
            raise APIError(400, str(e)) from None
        except InvalidUnlockKey as e:
            raise APIError(400, str(e)) from None
        self.locked = False
        await self._resume(keys)

    def unlock_key(self) -> dict:
        m = self._require_manager()
        try:
            return {"UnlockKey": m.keys.unlock_key()}
        except KeyManagerError:
            return {"UnlockKey": ""}

    def key_settings(self) -> dict:
        """What a manager joining now needs to adopt: the swarm's autolock and key."""
        m = self._require_manager()
        return {"Autolock": m.keys.autolock,
                "UnlockKey": m.keys.unlock_key() if m.keys.autolock else ""}

    async def set_keys(self, autolock: bool, rotate: bool) -> None:
        """`swarm update --autolock` / `unlock-key --rotate`: the same key on every manager."""
        from ..crypto import new_unlock_key
        m = self._require_manager()
        key = new_unlock_key() if autolock and (rotate or not m.keys.autolock) else (
            m.keys.unlock_key() if autolock else None)
        body = {"Autolock": autolock, "UnlockKey": key or ""}
        await self._tell_managers(body)
        self.adopt_keys(body)

    async def _tell_managers(self, body: dict) -> None:
        """Keys and CA settings every manager keeps (over mutual TLS, managers only)."""
        async with ClientSession(timeout=ClientTimeout(total=5)) as http:
            for url, addr in self.managers.items():
                if url == self.api_url:
                    continue
                try:
                    async with http.post(self.internal_url_of(addr) + "/swarmlab/keys",
                                         json=body, **self.tls()):
                        pass
                except (OSError, asyncio.TimeoutError):
                    log.warning("%s: %s missed the new keys", self.name, url)

    def adopt_keys(self, body: dict) -> None:
        m = self._require_manager()
        autolock, key = bool(body.get("Autolock")), body.get("UnlockKey") or None
        if autolock and m.keys.autolock and key and key != m.keys.unlock_key():
            m.keys.rotate_unlock_key(key)
        else:
            m.keys.set_autolock(autolock, key)
        # a new KEK: what it protects on disk is written again under it
        if self.security.certs is not None:
            self.security.set_certs(self.security.certs, m.keys)
        if self.security.ca is not None:
            self.security.set_ca(self.security.ca, m.keys)

    # -- manager plumbing ----------------------------------------------------------------------
    def _require_manager(self) -> ManagerRole:
        if self.locked:
            raise APIError(503, SWARM_LOCKED)
        if self.role is None:
            raise APIError(503, NOT_IN_SWARM)
        if self.manager is None:
            raise APIError(503, WORKER_REFUSAL)
        return self.manager

    async def manager_read(self, fn: Callable[[Any], Any], local: bool = False) -> Any:
        """Cluster state as the leader has it: a follower forwards the request, as
        swarmkit's managers proxy every control call to the leader, so a read that follows
        a write (forwarded too) always sees it. `local` reads this manager's own copy."""
        m = self._require_manager()
        if not local and not m.is_leader():
            raise ForwardToLeader()
        return await m.control.call(lambda: fn(m.store.view()))

    async def manager_call(self, fn: Callable[[Any], Any]) -> Any:
        m = self._require_manager()
        if not m.is_leader():
            raise ForwardToLeader()
        return await m.control.call(lambda: fn(m.manager))

    def leader_api_url(self) -> str | None:
        if self.manager is None:
            return None
        rid = self.manager.leader_raft_id()
        if not rid or rid == self.manager.raft_id:
            return None
        addr = self.manager.addresses.get(rid)
        if addr is None:
            return None
        return f"{self.api_scheme}://{addr[0]}:{self.api_port}"

    def leader_internal_url(self) -> str | None:
        """The leader's internal API (HTTPS, swarm port + 1), if this manager knows it."""
        if self.manager is None:
            return None
        addr = self.manager.addresses.get(self.manager.leader_raft_id())
        return self.internal_url_of(f"{addr[0]}:{addr[1]}") if addr else None

    def render_node(self, n: Any) -> dict:
        doc = n.to_json()
        m = self.manager
        if doc.get("ManagerStatus") is not None and m is not None:
            rid = raft_id_of(n.id)
            leader = m.leader_raft_id()
            doc["ManagerStatus"]["Leader"] = rid == leader
            if not doc["ManagerStatus"]["Leader"]:
                doc["ManagerStatus"].pop("Leader", None)
            reachable = rid in m.reachable() if m.is_leader() else \
                n.status.state == NodeState.READY
            doc["ManagerStatus"]["Reachability"] = "reachable" if reachable else "unreachable"
        return doc

    def render_secret_like(self, obj: Any) -> dict:
        doc = obj.to_json()
        if obj.kind == "secret":
            doc.get("Spec", {}).pop("Data", None)  # Docker never returns a secret's data
        return doc

    async def raft_status(self) -> dict:
        m = self._require_manager()
        st = m.status()
        leader_name = ""
        rid = st.pop("LeaderRaftID")
        voters = st.pop("Voters")
        names = await m.control.call(lambda: {raft_id_of(n.id): n.hostname
                                              for n in m.store.view().nodes()})
        leader_name = names.get(rid, "")
        return {"Node": self.name, **st, "Leader": leader_name,
                "Members": sorted(names.get(v, str(v)) for v in voters)}

    # -- worker plumbing -------------------------------------------------------------------------
    async def pick_manager_url(self, http: ClientSession) -> str | None:
        """The leader's internal API if we know it, else the one any manager names."""
        if self.manager is not None:
            if self.manager.is_leader():
                return self.internal_url
            url = self.leader_internal_url()
            if url:
                return url
            # no leader known here (e.g. this manager was just removed from Raft): ask others
        urls = [self.internal_url_of(a) for u, a in self.managers.items() if u != self.api_url]
        random.shuffle(urls)
        for url in urls:
            if self.blocked_url(url):
                continue
            try:
                async with http.get(url + "/swarmlab/leader", **self.tls()) as r:
                    if r.status == 200:
                        doc = await r.json()
                        if doc.get("API") and not self.blocked_url(doc["API"]):
                            return doc["API"]
            except (OSError, asyncio.TimeoutError, Exception):  # noqa: BLE001
                continue
        return None

    def blocked_url(self, url: str | None) -> bool:
        if not url:
            return False
        host = url.split("//", 1)[-1].rsplit(":", 1)[0]
        return self.firewall.blocks_host(host)

    def remember_managers(self, managers: dict[str, str]) -> None:
        if managers and managers != self.managers:
            self.managers = dict(managers)
            self._save_state()

    async def update_mesh(self, doc: dict) -> None:
        """Make this node's routing mesh and service discovery match the cluster."""
        from ..mesh.plan import PublishedPort, ServiceEndpoint, TaskEndpoint, apply, plan
        services = [ServiceEndpoint(
            s["Name"], s.get("Mode", "vip"),
            tuple(PublishedPort(p["TargetPort"], p.get("PublishedPort", 0),
                                p.get("PublishMode", "ingress"), p.get("Protocol", "tcp"))
                  for p in s.get("Ports", [])),
            tuple(s.get("TargetPorts", [])), tuple(s.get("Aliases", [])))
            for s in doc.get("Services", [])]
        tasks = [TaskEndpoint(t["Service"], t["Address"], t["Ready"], t.get("Remapped", False))
                 for t in doc.get("Tasks", [])
                 if not self.firewall.blocks_host(t["Address"])]
        await apply(plan(services, tasks), self.mesh, self.discovery)

    async def service_logs(self, request: web.Request, ref: str, task: bool) -> web.StreamResponse:
        from ..engine.logs import stream_logs
        return await stream_logs(self, request, ref, task)

    @staticmethod
    async def _wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not pred():
            if loop.time() > end:
                raise APIError(500, what)
            await asyncio.sleep(0.02)


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) * 1024
    except OSError:
        return 0


__all__ = ["NodeDaemon", "FailedPrecondition", "InvalidArgument"]
