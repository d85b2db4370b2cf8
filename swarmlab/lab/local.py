"""The embedded (local) backend: every node is a process on its own loopback address.

Node k of a lab listens on 127.0.<slot>.<k> (Linux routes all of 127/8 to `lo`),
keeps its state under the lab's directory, and runs its tasks as its own child
processes. Faults act on processes: `kill` is SIGKILL to the node and all its
tasks (a machine losing power), `pause` SIGSTOP (a frozen machine), and a
partition is the lab's `faults.json`, which every node's firewall obeys.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any, Callable

from ..files import write_atomic
from . import tls
from .backend import LabOptions
from .clients import node_client
from .registry import API_PORT, LabRecord, NodeRecord, list_labs
from .swarm import Shape, form_swarm, raft_leader, shape

Progress = Callable[[str], None]
TASK_NET_BASE = 100  # node index i owns 127.(100+i).0.0/16 for its tasks (runtime.addresses)
MAX_NODE_INDEX = 155


def free_slot(count: int) -> int:
    """A 127.0.<x>.0/24 range no lab uses: not in this registry, and no listener there
    (labs of another SWARMLAB_HOME, or of a crashed session, may hold some)."""
    used = {int(n.addr.split(".")[2]) for lab in list_labs() for n in lab.nodes}
    import random
    order = list(range(1, 255))
    random.shuffle(order)  # two labs being created at once rarely try the same range
    for x in order:
        if x not in used and all(_port_free(f"127.0.{x}.{k + 1}", p)
                                 for k in range(count) for p in (2375, 2377)):
            return x
    raise RuntimeError("no free loopback range for a new lab (254 labs running?)")


def _port_free(host: str, port: int) -> bool:
    import socket
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_node_indexes(count: int, slot: int) -> list[int]:
    """Task-address ranges for the nodes. Labs of this registry never share one; starting
    from the slot keeps labs of other registries (other SWARMLAB_HOMEs) apart too."""
    used = {n.node_index for lab in list_labs() for n in lab.nodes}
    start = (slot - 1) * 8
    order = [(start + i) % MAX_NODE_INDEX for i in range(MAX_NODE_INDEX)]
    free = [i for i in order if i not in used]
    if len(free) < count:
        raise RuntimeError("too many lab nodes on this machine")
    return free[:count]


def node_argv(lab: LabRecord, node: NodeRecord) -> list[str]:
    return ["--name", node.name, "--addr", node.addr,
           "--state-dir", str(lab.node_dir(node.name)), "--api-port", str(node.api_port),
           "--swarm-port", str(node.swarm_port), "--profile", lab.profile,
           "--node-index", str(node.node_index), "--faults-file", str(lab.dir / "faults.json"),
           "--runtime-dir", f"/dev/shm/swarmlab/{lab.name}-{node.name}",
           "--log-level", os.environ.get("SWARMLAB_LOG_LEVEL", "WARNING"),
           *(tls.node_argv(lab, node) if lab.tlsverify else [])]


def _log_path(lab: LabRecord, node: NodeRecord) -> str:
    lab.node_dir(node.name).mkdir(parents=True, exist_ok=True)
    return str(lab.dir / "nodes" / f"{node.name}.log")


def spawn(lab: LabRecord, node: NodeRecord) -> None:
    """Start one node as its own process (a restart)."""
    log = open(_log_path(lab, node), "ab")
    cmd = [sys.executable, "-m", "swarmlab.node", *node_argv(lab, node)]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    node.pid = p.pid


def spawn_all(lab: LabRecord, nodes: list[NodeRecord]) -> None:
    """Start many nodes from one launcher that imports the agent once and forks."""
    specs = [{"name": n.name, "argv": node_argv(lab, n), "log": _log_path(lab, n)}
             for n in nodes]
    out = subprocess.run([sys.executable, "-m", "swarmlab.node.launcher"],
                         input=json.dumps(specs), capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"could not start the nodes: {out.stderr.strip()[-2000:]}")
    pids = json.loads(out.stdout.strip().splitlines()[-1])
    for n in nodes:
        n.pid = pids[n.name]


def wait_api(node: NodeRecord, timeout: float = 45.0, context: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(node.api_url + "/_ping", timeout=1,
                                        context=context) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{node.name} did not answer on {node.api_url} within {timeout:.0f}s")


def descendants(pid: int) -> list[int]:
    """pid and every process below it (tasks run in their own sessions)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def signal_tree(pid: int | None, sig: int) -> None:
    if not pid:
        return
    for p in descendants(pid):
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop(node: NodeRecord, grace: float = 5.0) -> None:
    """SIGTERM (the node stops its tasks), then SIGKILL whatever is left."""
    if not alive(node.pid):
        return
    tree = descendants(node.pid)  # type: ignore[arg-type]
    signal_tree(node.pid, signal.SIGCONT)
    os.kill(node.pid, signal.SIGTERM)  # type: ignore[arg-type]
    deadline = time.monotonic() + grace
    while alive(node.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(node.pid)


def kill_tree(node: NodeRecord) -> None:
    """SIGKILL to the node and every task below it, at once."""
    signal_tree(node.pid, signal.SIGKILL)
    _reap(node.pid)


def _reap(pid: int | None) -> None:
    if pid:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def write_partition(lab: LabRecord, cut: list[str]) -> None:
    """Cut the named nodes off from the rest, both directions."""
    def hosts(n: NodeRecord) -> list[str]:
        return [n.addr, f"127.{TASK_NET_BASE + n.node_index}."]
    side = [h for n in lab.nodes if n.name in cut for h in hosts(n)]
    rest = [h for n in lab.nodes if n.name not in cut for h in hosts(n)]
    write_atomic(lab.dir / "faults.json", json.dumps({"groups": [side, rest]}).encode())


def clear_partition(lab: LabRecord) -> None:
    try:
        os.unlink(lab.dir / "faults.json")
    except FileNotFoundError:
        pass


def _quiet(_: str) -> None:
    pass


def plan(name: str, count: int, options: LabOptions) -> LabRecord:
    """node k at 127.0.<slot>.k, on a loopback range and task ranges no lab uses."""
    slot = free_slot(count)
    indexes = free_node_indexes(count, slot)
    port = tls.TLS_PORT if options.tlsverify else API_PORT
    return LabRecord(name=name, backend="local", profile=options.profile,
                     tlsverify=options.tlsverify, nodes=[
                         NodeRecord(f"node{k + 1}", f"127.0.{slot}.{k + 1}", api_port=port,
                                    node_index=indexes[k], tls=options.tlsverify)
                         for k in range(count)])


class LocalBackend:
    """The `Backend` of local labs: each node a process of this machine (see above)."""

    def up(self, name: str, shape: Shape, options: LabOptions,
           progress: Progress) -> LabRecord:
        record = plan(name, shape.count, options)
        record.save()
        if options.tlsverify:
            tls.create(record)
        t0 = time.monotonic()
        try:
            spawn_all(record, record.nodes)
            record.save()
            for n in record.nodes:
                wait_api(n, context=tls.ssl_context(record))
            progress(f"{shape.count} nodes up in {time.monotonic() - t0:.1f}s")
            if shape.form:
                form_swarm(record, shape.managers, progress)
        except BaseException:
            self._destroy(record)
            raise
        return record

    def restore(self, name: str, backup: bytes, nodes: int, options: LabOptions,
                progress: Progress) -> LabRecord:
        from ..node.backup import extract_backup
        record = self.up(name, shape(nodes=nodes), options, progress)
        n1 = record.nodes[0]
        try:
            stop(n1)
            extract_backup(backup, record.node_dir(n1.name))
            self._start(record, n1)
        except BaseException:
            self._destroy(record)
            raise
        progress(f"restored the swarm state into {n1.name}")
        return record

    def kill(self, record: LabRecord, node: str) -> None:
        kill_tree(record.node(node))

    def pause(self, record: LabRecord, node: str) -> None:
        signal_tree(record.node(node).pid, signal.SIGSTOP)

    def unpause(self, record: LabRecord, node: str) -> None:
        signal_tree(record.node(node).pid, signal.SIGCONT)

    def restart(self, record: LabRecord, node: str) -> None:
        n = record.node(node)
        kill_tree(n)
        self._start(record, n)

    def _start(self, record: LabRecord, node: NodeRecord) -> None:
        spawn(record, node)
        record.save()
        wait_api(node, context=tls.ssl_context(record))

    def partition(self, record: LabRecord, nodes: list[str]) -> None:
        write_partition(record, nodes)

    def heal(self, record: LabRecord) -> None:
        clear_partition(record)

    def down(self, record: LabRecord, progress: Progress = _quiet) -> None:
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(max(1, len(record.nodes))) as pool:
            list(pool.map(stop, record.nodes))
        for n in record.nodes:
            shutil.rmtree(f"/dev/shm/swarmlab/{record.name}-{n.name}", ignore_errors=True)

    def _destroy(self, record: LabRecord) -> None:
        self.down(record)
        shutil.rmtree(record.dir, ignore_errors=True)

    def prune(self, progress: Progress) -> None:
        """Forget local labs none of whose nodes runs any more."""
        for rec in list_labs():
            if rec.backend == "local" and not any(alive(n.pid) for n in rec.nodes):
                shutil.rmtree(rec.dir, ignore_errors=True)
                progress(f"removed stale lab {rec.name}")

    def leader(self, record: LabRecord) -> str | None:
        return raft_leader(record)

    def client(self, record: LabRecord, node: str) -> Any:
        return node_client(record, record.node(node))

    def operator_get(self, record: LabRecord, node: str, path: str, timeout: float) -> bytes:
        from ..engine.operator import operator_socket
        from .clients import operator_get
        return operator_get(str(operator_socket(record.node_dir(node))), path, timeout)
