"""The process runtime: each task is a child process of the node's agent.

`ProcessExecutor` is one node's runtime (swarmkit's `Executor`): it makes a
`ProcessController` per task (see controller.py for a task's life), owns the
node's task address pool and the tmpfs directory holding its tasks' files, keeps
the hosts-file view of service names, and kills every task left when it closes.

Usage from the agent:
    executor = ProcessExecutor("node1", node_index=1, node_address="127.0.0.11")
    ctl = executor.controller(spec, on_status=report)
    await ctl.prepare(); await ctl.start(); status = await ctl.wait()
    await ctl.shutdown(); await ctl.remove()
    await executor.close()
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import zlib
from pathlib import Path

from ...net.addresses import AddressPool, task_port
from ..base import Executor, StatusCallback, TaskRuntimeSpec
from .controller import ProcessController

CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN = 10, 21
SHM_ROOT = Path("/dev/shm/swarmlab")
log = logging.getLogger("swarmlab.runtime")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PACKAGE_PARENT = Path(__file__).resolve().parents[3]  # where `import swarmlab` finds us


def _has_capability(bit: int) -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    except OSError:
        pass
    return False


def can_bind_low_ports() -> bool:
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        start = 1024
    return start <= 1 or _has_capability(CAP_NET_BIND_SERVICE)


def can_isolate() -> bool:
    """Private mount and UTS namespaces need CAP_SYS_ADMIN (root here)."""
    return _has_capability(CAP_SYS_ADMIN)


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding `path` (longest mount point in /proc/mounts)."""
    best, kind = "", ""
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mnt, fstype, *_ = line.split()
            if (str(path) + "/").startswith(mnt.rstrip("/") + "/") and len(mnt) >= len(best):
                best, kind = mnt, fstype
    except OSError:
        pass
    return kind


class ProcessExecutor(Executor):
    def __init__(
        self,
        node_name: str,
        *,
        node_index: int = 0,
        node_address: str = "127.0.0.1",
        root_dir: Path | str | None = None,
        privileged: bool | None = None,
        isolate: bool | None = None,
    ) -> None:
        self.node_name, self.node_address = node_name, node_address
        self.addresses = AddressPool.for_tasks(node_index)
        self.privileged = can_bind_low_ports() if privileged is None else privileged
        self.isolate = can_isolate() if isolate is None else isolate
        self.root = Path(root_dir) if root_dir else SHM_ROOT / node_name
        shutil.rmtree(self.root, ignore_errors=True)  # a previous agent's leftovers
        self.root.mkdir(parents=True, mode=0o700)
        if filesystem_type(self.root) not in ("tmpfs", "ramfs"):
            log.warning("runtime %s: %s is not on a tmpfs: task secrets would reach a disk",
                        node_name, self.root)
        self.names: dict[str, list[str]] = {}
        self._controllers: dict[str, ProcessController] = {}

    def controller(self, spec: TaskRuntimeSpec, on_status: StatusCallback | None = None) -> ProcessController:
        if spec.task_id not in self._controllers:
            self._controllers[spec.task_id] = ProcessController(self, spec, on_status)
        return self._controllers[spec.task_id]

    @property
    def controllers(self) -> list[ProcessController]:
        return list(self._controllers.values())

    def forget(self, ctl: ProcessController) -> None:
        self._controllers.pop(ctl.spec.task_id, None)

    def task_env(self, ctl: ProcessController, info) -> dict[str, str]:
        """Docker's order: the image's env, then the service's; ours last."""
        spec = ctl.spec
        env = {"PATH": os.environ.get("PATH", _DEFAULT_PATH),
               "HOME": "/root" if os.geteuid() == 0 else os.environ.get("HOME", "/"),
               "HOSTNAME": ctl.hostname,
               "PYTHONPATH": str(_PACKAGE_PARENT),
               "PYTHONUNBUFFERED": "1"}
        env.update(info.env)
        env.update(kv.split("=", 1) if "=" in kv else (kv, "") for kv in spec.env)
        env.update({
            "SWARMLAB_TASK_NAME": spec.task_name, "SWARMLAB_NODE": self.node_name,
            "SWARMLAB_BIND": ctl.address, "SWARMLAB_ROOT": str(ctl.files.root),
            "SWARMLAB_SECRETS_DIR": "/run/secrets" if self.isolate else str(ctl.files.secrets_dir),
            "SWARMLAB_HOSTS_FILE": str(ctl.hosts_path)})
        if info.port:
            env["PORT"] = str(task_port(info.port, self.privileged))
        return env

    # -- service discovery: the hosts-file view --------------------------------
    def set_names(self, names: dict[str, list[str]]) -> None:
        """Service names as tasks on this node resolve them (name -> addresses).

        The mesh's `ServiceDiscovery.names()` gives a service's VIP for `vip`
        mode and its task addresses for `dnsrr` and `tasks.<name>`."""
        self.names = {k: list(v) for k, v in names.items()}
        for ctl in self.controllers:
            if ctl.files.root.is_dir():
                self.write_hosts(ctl)

    def write_hosts(self, ctl: ProcessController) -> None:
        """Rewritten in place, so the bind mount in the task sees the change.

        A name with several addresses (dnsrr) is listed in an order rotated per
        task, so clients that take the first answer spread over the tasks, as
        Docker's DNS rotates its answers."""
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 f"{ctl.address}\t{ctl.hostname}"]
        turn = zlib.crc32(ctl.spec.task_id.encode())
        for name, addrs in sorted(self.names.items()):
            k = turn % len(addrs) if addrs else 0
            lines += [f"{addr}\t{name}" for addr in addrs[k:] + addrs[:k]]
        ctl.hosts_path.parent.mkdir(parents=True, exist_ok=True)
        with open(ctl.hosts_path, "r+" if ctl.hosts_path.exists() else "w") as f:
            f.write("\n".join(lines) + "\n")
            f.truncate()

    async def close(self) -> None:
        """Stop every task at once (no grace: the node is going away)."""
        await asyncio.gather(*(ctl.remove() for ctl in self.controllers), return_exceptions=True)
        shutil.rmtree(self.root, ignore_errors=True)
