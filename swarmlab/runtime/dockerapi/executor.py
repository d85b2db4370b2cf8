"""The Docker runtime: each task is a real container of the node's own dockerd.

`DockerExecutor` is one node's runtime (swarmkit's `Executor`, as dockerd's
`daemon/cluster/executor/container`): it makes a `DockerController` per task
(see docker_controller.py), and owns what the tasks share:

- the node's task network with the subnet `10.200.<node index>.0/24`: each task's
  address is its IP there, which the node's mesh (a process in the node) reaches
  directly. That is dockerd's default bridge when dockerd was started with that
  subnet (`--bip`, as the lab's nodes are), as real Swarm runs a task without
  networks there: a container starts about 0.2 s sooner than on a user-defined
  bridge, where dockerd sets up its embedded DNS server in each container. The
  default bridge takes no fixed address, so a task learns its address once it has
  started. Any other dockerd gets a user-defined bridge `swarmlab_tasks` with the
  subnet, and fixed addresses from the node's pool;
- a tmpfs mounted at `/run/swarmlab/<node>` holding the tasks' secrets, configs
  and hosts files, bind-mounted read-only into the containers: no secret byte
  lands on the node's disk;
- one thread following the daemon's container events (`die`, `health_status`)
  for all its containers, and a small thread pool for every other docker-py
  call, so the agent's event loop never blocks on the daemon.

Usage from the agent (the same protocol as the process runtime):
    executor = DockerExecutor("node1", node_index=1, node_address="10.0.0.3")
    ctl = executor.controller(spec, on_status=report)
    await ctl.prepare(); await ctl.start(); status = await ctl.wait()
    await ctl.shutdown(); await ctl.remove()
    await executor.close()
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping

import docker

from ...net.addresses import AddressPool
from ..base import Executor, StatusCallback, TaskRuntimeSpec
from .controller import DockerController
from .spec import (
    DEFAULT_BRIDGE, NODE_LABEL, TASK_NETWORK, TASK_SUPERNET, hosts_text, peer_routes, subnet_gateway,
    task_pool, task_subnet,
)
from ..process.executor import filesystem_type

RUN_ROOT = Path("/run/swarmlab")
SHM_ROOT = Path("/dev/shm/swarmlab-docker")   # a tmpfs already, when we may not mount one
TMPFS_SIZE = "64m"
log = logging.getLogger("swarmlab.runtime.dockerapi.executor")


class DockerExecutor(Executor):
    """Tasks as containers of the dockerd at `client` (default: `docker.from_env()`)."""

    privileged = True  # each container has its own network namespace: any port binds

    def __init__(self, node_name: str, node_index: int = 0, node_address: str = "127.0.0.1",
                 client: docker.DockerClient | None = None, *, node_id: str = "",
                 subnet: str | None = None,
                 root_dir: Path | str | None = None) -> None:
        self.node_name, self.node_index, self.node_address = node_name, node_index, node_address
        self.node_id = node_id or node_name  # the agent may set it once the node has joined
        self.subnet = subnet or task_subnet(node_index)
        self.network = TASK_NETWORK  # or the default bridge, if it has our subnet (set-up)
        self.addresses = AddressPool(*task_pool(self.subnet))
        self.root = Path(root_dir) if root_dir else RUN_ROOT / node_name
        self.client = client
        self.names: dict[str, list[str]] = {}
        self._controllers: dict[str, DockerController] = {}
        self._by_container: dict[str, DockerController] = {}
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"docker-{node_name}")
        self._ready: asyncio.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: Any = None
        self._events_up = threading.Event()
        self._closing = False
        self._mounted = False
        self._routes: dict[str, str] = {}   # peer task subnet -> peer node address
        self._accepting = False             # our DOCKER-USER rule is in
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # made outside a loop: the first task sets up
        self._begin_set_up()  # at once, as dockerd's networks exist at boot: not on a task's clock

    # -- controllers -------------------------------------------------------------------
    def controller(self, spec: TaskRuntimeSpec, on_status: StatusCallback | None = None) -> DockerController:
        if spec.task_id not in self._controllers:
            self._controllers[spec.task_id] = DockerController(self, spec, on_status)
        return self._controllers[spec.task_id]

    @property
    def controllers(self) -> list[DockerController]:
        return list(self._controllers.values())

    def forget(self, ctl: DockerController) -> None:
        self._controllers.pop(ctl.spec.task_id, None)
        self._by_container.pop(ctl.container_id, None)

    def watch_id(self, container_id: str, ctl: DockerController) -> None:
        """Route the daemon's events for this container to `ctl` (from any thread)."""
        self._by_container[container_id] = ctl

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "ready() has not run"
        return self._loop

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one blocking docker-py call in the executor's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    # -- what the tasks share: set up once, on the first task ---------------------------
    async def ready(self) -> None:
        """Client, tmpfs, task network and event stream, before any container exists."""
        if self._ready is not None and self._ready.done() and self._ready.exception():
            self._ready = None  # the daemon was not there: try again for the next task
        if self._ready is None:
            self._begin_set_up()
        await asyncio.shield(self._ready)

    def _begin_set_up(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.ensure_future(self.call(self._set_up))
        self._ready.add_done_callback(_log_failure)

    def _set_up(self) -> None:
        if self.client is None:
            self.client = docker.from_env(timeout=120, max_pool_size=32)
        self.client.ping()
        self._remove_leftovers()
        self._mount_tmpfs()
        self._ensure_network()
        self._accept_forwarded()
        threading.Thread(target=self._follow_events, daemon=True,
                         name=f"docker-events-{self.node_name}").start()
        if not self._events_up.wait(30):
            raise RuntimeError("the Docker event stream did not come up")

    def _remove_leftovers(self) -> None:
        """Containers a previous agent of this node left (it crashed): gone, as the
        process runtime's tasks die with their agent."""
        for c in self.client.containers.list(all=True, filters={"label": f"{NODE_LABEL}={self.node_name}"}):
            log.warning("runtime %s: removing leftover container %s", self.node_name, c.name)
            c.remove(force=True, v=True)

    def _mount_tmpfs(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)  # a previous agent's files
        self.root.mkdir(parents=True, mode=0o700, exist_ok=True)
        if filesystem_type(self.root) in ("tmpfs", "ramfs"):
            return
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"mode=0700,size={TMPFS_SIZE}",
                               "tmpfs", str(self.root)], capture_output=True, text=True)
        if done.returncode == 0:
            self._mounted = True
            return
        # Without CAP_SYS_ADMIN: /dev/shm is a tmpfs too, and dockerd sees it as we do.
        log.warning("runtime %s: cannot mount a tmpfs on %s (%s); using %s", self.node_name,
                    self.root, done.stderr.strip(), SHM_ROOT)
        self.root.rmdir()
        self.root = SHM_ROOT / self.node_name
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, mode=0o700)

    @property
    def own_network(self) -> bool:
        """Whether tasks go on our `swarmlab_tasks` bridge, with addresses chosen before
        they start, rather than on dockerd's default bridge, where dockerd chooses them."""
        return self.network != DEFAULT_BRIDGE

    def _ensure_network(self) -> None:
        try:
            if _subnet_of(self.client.networks.get(DEFAULT_BRIDGE)) == self.subnet:
                self.network = DEFAULT_BRIDGE  # dockerd was started with our --bip
                return
        except docker.errors.NotFound:
            pass  # a dockerd started with `--bridge=none`
        try:
            found = self.client.networks.get(self.network)
            self.subnet = _subnet_of(found)  # made by an earlier agent
            self.addresses = AddressPool(*task_pool(self.subnet))
            return
        except docker.errors.NotFound:
            pass
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
            subnet=self.subnet, gateway=subnet_gateway(self.subnet))])
        try:
            self.client.networks.create(self.network, driver="bridge", ipam=ipam,
                                        labels={NODE_LABEL: self.node_name})
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: made meanwhile by someone else: fine
                raise

    # -- reaching tasks on other nodes ---------------------------------------------------
    def _accept_forwarded(self) -> None:
        """Let other nodes reach our tasks directly: dockerd's FORWARD rules only
        admit published ports, and its policy may be DROP; DOCKER-USER comes first."""
        # Task addresses of nodes we have no route for go nowhere, rather than out
        # of the node's default route (that would leave the lab).
        _run(["ip", "route", "replace", "unreachable", TASK_SUPERNET])
        rule = ["DOCKER-USER", "-d", self.subnet, "-j", "ACCEPT"]
        if _run(["iptables", "-C", *rule]) == 0 or _run(["iptables", "-I", *rule]) == 0:
            self._accepting = True
        else:
            log.warning("runtime %s: no iptables rule for %s: other nodes cannot reach "
                        "its tasks", self.node_name, self.subnet)

    async def set_peers(self, peers: Mapping[int, str]) -> None:
        """The other nodes (node index -> node address): route each one's task
        subnet through it, so this node's mesh reaches tasks anywhere in the lab."""
        await self.ready()
        await self.call(self._set_routes, peer_routes(peers, self.subnet))

    def _set_routes(self, wanted: dict[str, str]) -> None:
        for subnet in set(self._routes) - set(wanted):
            _run(["ip", "route", "del", subnet])
        for subnet, via in wanted.items():
            if self._routes.get(subnet) != via and _run(["ip", "route", "replace", subnet, "via", via]):
                log.warning("runtime %s: cannot route %s via %s", self.node_name, subnet, via)
        self._routes = dict(wanted)

    # -- the event stream ----------------------------------------------------------------
    def _follow_events(self) -> None:
        """One stream for all our containers; reconnects, and resyncs after a gap."""
        filters = {"type": "container", "label": f"{NODE_LABEL}={self.node_name}"}
        while not self._closing:
            try:
                self._events = self.client.api.events(filters=filters, decode=True)
                resync = self._events_up.is_set()
                self._events_up.set()
                if resync:
                    self._post(None, "resync", {})
                for event in self._events:
                    self._post(event.get("id", ""), event.get("Action") or event.get("status", ""),
                               (event.get("Actor") or {}).get("Attributes") or {})
            except Exception as exc:  # noqa: BLE001 - the stream must come back
                if not self._closing:
                    log.warning("runtime %s: event stream broke (%s); reconnecting", self.node_name, exc)
            if not self._closing:
                time.sleep(0.5)

    def _post(self, container_id: str | None, action: str, attrs: dict) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._dispatch, container_id, action, attrs)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _dispatch(self, container_id: str | None, action: str, attrs: dict) -> None:
        targets = self.controllers if container_id is None else [self._by_container.get(container_id)]
        for ctl in targets:
            if ctl is not None:
                ctl.on_event(action, attrs)

    # -- service discovery: the hosts-file view ------------------------------------------
    def set_names(self, names: dict[str, list[str]]) -> None:
        """Service names as tasks on this node resolve them (name -> addresses);
        every task's hosts file, bound on its /etc/hosts, is rewritten in place."""
        self.names = {k: list(v) for k, v in names.items()}
        for ctl in self.controllers:
            if ctl.files.root.is_dir():
                self.write_hosts(ctl)

    def write_hosts(self, ctl: DockerController) -> None:
        """In place (same inode): the bind mount in the container sees the change."""
        text = hosts_text(self.names, ctl.address, ctl.hostname, ctl.spec.task_id)
        ctl.hosts_path.parent.mkdir(parents=True, exist_ok=True)
        with open(ctl.hosts_path, "r+" if ctl.hosts_path.exists() else "w") as f:
            f.write(text)
            f.truncate()
        ctl.hosts_path.chmod(0o644)

    # -- the end -------------------------------------------------------------------------
    async def close(self) -> None:
        """Remove every task's container at once (no grace: the node is going away),
        the task network, the event stream and the tmpfs. Idempotent."""
        if self._closing:
            return
        if self._ready is not None and not self._ready.done():  # no network made after close
            await asyncio.gather(asyncio.shield(self._ready), return_exceptions=True)
        await asyncio.gather(*(ctl.remove() for ctl in self.controllers), return_exceptions=True)
        self._closing = True
        if self._ready is not None and self._ready.done() and not self._ready.exception():
            await self.call(self._tear_down)
        self._pool.shutdown(wait=False)

    def _tear_down(self) -> None:
        if self._events is not None:
            try:
                self._events.close()
            except Exception:  # noqa: BLE001 - closing a broken stream
                pass
        self._remove_leftovers()
        self._set_routes({})   # `unreachable 10.200.0.0/16` stays: a late packet must not leak
        if self._accepting:
            _run(["iptables", "-D", "DOCKER-USER", "-d", self.subnet, "-j", "ACCEPT"])
        if self.own_network:
            try:
                self.client.networks.get(self.network).remove()
            except docker.errors.APIError:
                pass  # gone already, or still used by a container someone else made
        if self._mounted:
            subprocess.run(["umount", "-l", str(self.root)], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _subnet_of(network: Any) -> str:
    configs = (network.attrs.get("IPAM") or {}).get("Config") or [{}]
    return configs[0].get("Subnet", "")


def _log_failure(setup: asyncio.Future) -> None:
    if not setup.cancelled() and setup.exception() is not None:
        log.warning("runtime: setting up failed (%s); the next task tries again", setup.exception())


def _run(argv: list[str]) -> int:
    """A network command's exit status (127 when the tool is missing)."""
    try:
        return subprocess.run(argv, capture_output=True, timeout=10).returncode
    except (OSError, subprocess.TimeoutExpired):
        return 127
