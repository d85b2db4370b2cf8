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
from ..api import (
    FailedPrecondition, InvalidArgument, NodeRole, NodeState, new_id, to_json,
)
from ..crypto import (
    SWARM_LOCKED, InvalidUnlockKey, KeyManager, KeyManagerError, MalformedUnlockKey, SwarmLocked,
)
from .api import NOT_IN_SWARM, WORKER_REFUSAL, APIError, ForwardToLeader, docker_errors
from .faults import Firewall
from .manager_role import ManagerRole, raft_id_of
from .worker import Worker

log = logging.getLogger("swarmlab.agent")

ALREADY_IN_SWARM = ("This node is already part of a swarm. Use \"docker swarm leave\" to leave "
                    "this swarm and join another one.")


class NodeDaemon:
    def __init__(self, name: str, addr: str, state_dir: str | pathlib.Path, *,
                 api_port: int = 2375, swarm_port: int = 2377, profile: str = "lab",
                 node_index: int = 0, faults_file: str | None = None,
                 runtime_dir: str | None = None) -> None:
        self.runtime_dir = runtime_dir
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
        self.endpoints: dict[str, dict[str, list]] = {}  # leader: node -> task endpoints

    # -- life cycle -------------------------------------------------------------------------
    @property
    def swarm_addr_str(self) -> str:
        return f"{self.addr}:{self.swarm_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.addr}:{self.api_port}"

    async def start(self) -> None:
        from ..mesh import RoutingMesh
        from ..runtime import ProcessExecutor
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if os.environ.get("SWARMLAB_RUNTIME") == "docker":
            # inside a Docker-in-Docker node: tasks are containers of the node's dockerd
            from ..runtime.docker import DockerExecutor
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
        from .handlers import setup_routes
        from .internal import setup_internal_routes
        setup_routes(app)
        setup_internal_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.addr, self.api_port, reuse_address=True).start()
        state = self._load_state()
        if state:
            self.node_id, self.role = state["NodeID"], state["Role"]
            self.managers = state.get("Managers", {})
            if self.role == "manager":
                try:
                    await self._start_manager(bootstrap=False, peers={})
                except SwarmLocked:
                    self.locked = True
                    log.warning("%s: swarm is locked; waiting for `swarm unlock`", self.name)
            if not self.locked:
                self._start_worker()
        log.info("%s: API on %s, swarm %s", self.name, self.api_url, self.role or "inactive")

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
                                   blocked=self.firewall.blocks_host, keys=keys)
        await self.manager.start(bootstrap=bootstrap, join_via=lambda: [
            u for u in self.managers if u != self.api_url and not self.blocked_url(u)])

    async def follow_role(self, doc: dict) -> None:
        """The leader says what this node should be (promote/demote reach a node this way)."""
        want = doc.get("Role")
        if want == "manager" and self.manager is None:
            peers = {int(k): (v.rpartition(":")[0], int(v.rpartition(":")[2]))
                     for k, v in (doc.get("RaftPeers") or {}).items()}
            log.info("%s: promoted to manager", self.name)
            self.role = "manager"
            await self._start_manager(bootstrap=False, peers=peers, keys=self._new_keys(doc))
            self._save_state()
        elif want == "worker" and self.manager is not None and not doc.get("RaftMember"):
            log.info("%s: demoted to worker", self.name)
            m, self.manager = self.manager, None
            self.role = "worker"
            await m.close()
            shutil.rmtree(self.swarm_dir / "raft", ignore_errors=True)
            m.keys.destroy()
            self._save_state()

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
        from ..api import EngineDescription, NodeDescription, NodePlatform, ResourceAmounts
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
                swarm["Cluster"] = cluster.to_json()
        running = len(self.worker.controllers) if self.worker else 0
        return {"ID": self.node_id or self.name, "Name": self.name, "Containers": running,
                "ContainersRunning": running, "ServerVersion": f"swarmlab-{__version__}",
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
        self.node_id = new_id(random.Random())
        self.role = "manager"
        self.managers = {self.api_url: self.swarm_addr_str}
        keys = KeyManager(self.swarm_dir)
        enc = ((req.get("Spec") or {}).get("EncryptionConfig") or {})
        keys.create(autolock=bool(req.get("AutoLockManagers") or enc.get("AutoLockManagers")))
        await self._start_manager(bootstrap=True, peers={}, keys=keys)
        await self._wait(lambda: self.manager.is_leader(), 5.0, "no leader after init")
        from ..api import from_json, ClusterSpec
        spec = from_json(ClusterSpec, req["Spec"]) if req.get("Spec") else None
        await self.manager.control.call(
            lambda: self.manager.manager.init(self.name, self.swarm_addr_str, spec=spec,
                                              description=self.description()))
        self._save_state()
        self._start_worker()
        return self.node_id

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
        answer = None
        async with ClientSession(timeout=ClientTimeout(total=15)) as http:
            for remote in remotes:
                host = remote.rpartition(":")[0] or remote
                url = f"http://{host}:{self.api_port}/swarmlab/join"
                try:
                    async with http.post(url, json={"JoinToken": token, "Hostname": self.name,
                                                    "Addr": self.swarm_addr_str,
                                                    "API": self.api_url,
                                                    "Description": to_json(self.description())}) as r:
                        doc = await r.json(content_type=None)
                        if r.status >= 400:
                            raise APIError(r.status, doc.get("message", "join refused"))
                        answer = doc
                        break
                except (OSError, asyncio.TimeoutError) as e:
                    last = e
                    continue
        if answer is None:
            raise APIError(500, f"could not connect to any manager at {remotes}: {last}")
        self.node_id, self.role = answer["NodeID"], answer["Role"]
        self.managers = answer.get("Managers", {})
        if self.role == "manager":
            peers = {int(k): (v.rpartition(":")[0], int(v.rpartition(":")[2]))
                     for k, v in answer.get("RaftPeers", {}).items()}
            await self._start_manager(bootstrap=False, peers=peers,
                                      keys=self._new_keys(answer))
        self._save_state()
        self._start_worker()

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
        self.role, self.node_id, self.managers, self.locked = None, "", {}, False
        shutil.rmtree(self.swarm_dir, ignore_errors=True)

    async def swarm_inspect(self) -> dict:
        m = self._require_manager()
        cluster = await m.control.call(lambda: m.store.view().cluster())
        if cluster is None:
            raise APIError(503, NOT_IN_SWARM)
        return cluster.to_json()

    async def swarm_update(self, version: int, body: dict, rotate_worker: bool,
                           rotate_manager: bool, rotate_unlock: bool = False) -> None:
        m = self._require_manager()
        if body:  # the spec first: its version is the one the client read
            from ..api import ClusterSpec, from_json
            spec = from_json(ClusterSpec, body)
            current = await self.manager_read(lambda tx: tx.cluster())
            if current is not None and current.spec != spec:
                await self.manager_call(lambda mg: mg.update_cluster(version, spec))
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
        await self._start_manager(bootstrap=False, peers={}, keys=keys)
        self.locked = False
        self._start_worker()

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
        async with ClientSession(timeout=ClientTimeout(total=5)) as http:
            for url in self.managers:
                if url == self.api_url:
                    continue
                try:
                    async with http.post(url + "/swarmlab/keys", json=body):
                        pass
                except (OSError, asyncio.TimeoutError):
                    log.warning("%s: %s missed the new unlock key", self.name, url)
        self.adopt_keys(body)

    def adopt_keys(self, body: dict) -> None:
        m = self._require_manager()
        autolock, key = bool(body.get("Autolock")), body.get("UnlockKey") or None
        if autolock and m.keys.autolock and key and key != m.keys.unlock_key():
            m.keys.rotate_unlock_key(key)
        else:
            m.keys.set_autolock(autolock, key)

    # -- manager plumbing ----------------------------------------------------------------------
    def _require_manager(self) -> ManagerRole:
        if self.locked:
            raise APIError(503, SWARM_LOCKED)
        if self.role is None:
            raise APIError(503, NOT_IN_SWARM)
        if self.manager is None:
            raise APIError(503, WORKER_REFUSAL)
        return self.manager

    async def manager_read(self, fn: Callable[[Any], Any]) -> Any:
        m = self._require_manager()
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
        return f"http://{addr[0]}:{self.api_port}"

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
        """The leader's API if we know it, else any manager that answers."""
        if self.manager is not None:
            if self.manager.is_leader():
                return self.api_url
            url = self.leader_api_url()
            if url:
                return url
            # no leader known here (e.g. this manager was just removed from Raft): ask others
        urls = [u for u in self.managers if u != self.api_url]
        random.shuffle(urls)
        for url in urls:
            if self.blocked_url(url):
                continue
            try:
                async with http.get(url + "/swarmlab/leader") as r:
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
        from .logs import stream_logs
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
