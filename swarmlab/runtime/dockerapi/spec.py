"""The Docker runtime's pure part: a task spec as Docker's container config, and back.

Nothing here talks to a daemon, so it is tested without one. `docker.py` (the
executor) and `docker_controller.py` (one task) do the I/O.

- Names and labels are Swarm's: the container is named `<service>.<slot>.<task id>`
  and carries `com.docker.swarm.*` labels, plus `swarmlab.runtime.node`, by which
  the executor finds (and cleans up) its own containers.
- Durations become nanoseconds, as the Engine API wants them.
- A container's end becomes a task status with Docker's words: exit 0 is
  `complete`/`finished`, exit N is `failed`/`task: non-zero exit (N)`.
- Each node's task network gets its own subnet (`10.200.<node index>.0/24`), so
  a task address means one task in the whole lab and another node can route to it.
"""
from __future__ import annotations

import calendar
import ipaddress
import math
import time
import zlib
from pathlib import PurePosixPath
from typing import Any, Mapping

from ...workloads.catalog import normalize
from ..base import HealthCheck, TaskRuntimeSpec, TaskState
from ..files import config_path, secret_path

TASK_NETWORK = "swarmlab_tasks"         # the task network of a dockerd without our --bip
DEFAULT_BRIDGE = "bridge"
NODE_LABEL = "swarmlab.runtime.node"     # which node's executor owns the container
RUNTIME_LABEL = "swarmlab.runtime"
NS = 1_000_000_000


TASK_SUPERNET = "10.200.0.0/16"         # every node's task subnet is inside


def task_subnet(node_index: int) -> str:
    """The node's task network: distinct per node, so task addresses are lab-wide."""
    if not 0 <= node_index <= 255:
        raise ValueError(f"node index {node_index} out of range 0..255")
    return f"10.200.{node_index}.0/24"


def subnet_gateway(subnet: str) -> str:
    return str(next(ipaddress.IPv4Network(subnet).hosts()))


def dockerd_bip(subnet: str) -> str:
    """The dockerd option that puts its default bridge on the node's task subnet."""
    return f"--bip={subnet_gateway(subnet)}/{ipaddress.IPv4Network(subnet).prefixlen}"


def peer_routes(peers: Mapping[int, str], own_subnet: str) -> dict[str, str]:
    """Routes to the other nodes' task networks: node index -> node address becomes
    subnet -> next hop (our own subnet is on our bridge already)."""
    routes = {task_subnet(index): address for index, address in peers.items()}
    routes.pop(own_subnet, None)
    return routes


def task_pool(subnet: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """Task addresses: the subnet after its gateway (.1), up to the broadcast."""
    net = ipaddress.IPv4Network(subnet)
    return net.network_address + 2, net.broadcast_address - 1


def container_labels(spec: TaskRuntimeSpec, node_id: str) -> dict[str, str]:
    """Swarm's labels on a task container (`com.docker.swarm.service.id` is not in
    the runtime spec, so it is not set)."""
    return {
        "com.docker.swarm.node.id": node_id,
        "com.docker.swarm.service.name": spec.service_name,
        "com.docker.swarm.task": "",
        "com.docker.swarm.task.id": spec.task_id,
        "com.docker.swarm.task.name": spec.task_name,
        NODE_LABEL: spec.node_name,
        RUNTIME_LABEL: "docker",
    }


def container_env(spec: TaskRuntimeSpec) -> list[str]:
    """The service's env; then the lab's task and node names (what the lab images
    print), unless the service set them. The image's env comes first, from Docker."""
    own = [f"SWARMLAB_TASK_NAME={spec.task_name}", f"SWARMLAB_NODE={spec.node_name}"]
    keys = {kv.split("=", 1)[0] for kv in spec.env}
    return [*spec.env, *(kv for kv in own if kv.split("=", 1)[0] not in keys)]


def healthcheck_config(check: HealthCheck | None) -> dict[str, Any] | None:
    """Docker's `HealthConfig`; None keeps the image's own check.

    `StartInterval` needs API 1.44 (Engine 25); it is left out, so the probe runs
    every `interval` while starting, as older engines do."""
    if check is None:
        return None
    if check.disabled:
        return {"Test": ["NONE"]}
    return {"Test": list(check.test), "Interval": _ns(check.interval_s),
            "Timeout": _ns(check.timeout_s), "Retries": check.retries,
            "StartPeriod": _ns(check.start_period_s)}


def merged_healthcheck(own: Mapping[str, Any] | None,
                       image: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The check a container created with `own` runs on an image with `image`'s: Docker
    takes the image's test when the container's config gives none."""
    if own and own.get("Test"):
        return own
    return image


def has_healthcheck(config_healthcheck: Mapping[str, Any] | None) -> bool:
    """Whether a created container's (merged) `Config.Healthcheck` runs a probe."""
    test = (config_healthcheck or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def stop_timeout_s(grace_s: float) -> int:
    """`docker stop -t` takes whole seconds: round a grace period up, never down."""
    return max(0, math.ceil(grace_s - 1e-9))


def _ns(seconds: float) -> int:
    return int(round(seconds * NS))


def no_such_image(reference: str) -> str:
    return f"No such image: {normalize(reference)}"


def exit_status(code: int, stopping: bool) -> tuple[TaskState, str, str]:
    """(state, message, err) for a container that exited with `code`."""
    if stopping:
        return TaskState.SHUTDOWN, "shutdown", ""
    if code == 0:
        return TaskState.COMPLETE, "finished", ""
    return TaskState.FAILED, "started", f"task: non-zero exit ({code})"


def file_mounts(spec: TaskRuntimeSpec) -> list[tuple[PurePosixPath, str]]:
    """(path under the task's tmpfs directory, target in the container) for every
    secret and config: one read-only bind per file, as Docker mounts them."""
    out = [(secret_path(m.target), "/" + str(secret_path(m.target))) for m in spec.secrets]
    out += [(config_path(m.target), "/" + str(config_path(m.target))) for m in spec.configs]
    return out


def hosts_text(names: Mapping[str, list[str]], address: str, hostname: str, task_id: str) -> str:
    """The task's /etc/hosts: Docker's own lines, then the service names.

    A name with several addresses (dnsrr) is listed in an order rotated per task,
    so clients that take the first answer spread over the tasks."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if address:
        lines.append(f"{address}\t{hostname}")
    turn = zlib.crc32(task_id.encode())
    for name, addrs in sorted(names.items()):
        k = turn % len(addrs) if addrs else 0
        lines += [f"{addr}\t{name}" for addr in addrs[k:] + addrs[:k]]
    return "\n".join(lines) + "\n"


def parse_timestamp(text: str) -> float:
    """RFC 3339 with nanoseconds (`2026-11-25T15:31:20.123456789Z`) -> epoch seconds."""
    stamp, _, frac = text.rstrip("Z").partition(".")
    whole = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
    return whole + (float("0." + frac) if frac.isdigit() else 0.0)


def parse_log_frame(data: bytes) -> list[tuple[float, str]]:
    """One frame of `GET /containers/{id}/logs?timestamps=1`: `<time> <text>` lines.

    Docker writes each log message as one frame; a line longer than 16 KiB was
    split by the daemon into several messages, each its own frame, with no newline
    inside: so one frame is one `LogLine`, and the 16 KiB cut is Docker's own."""
    out = []
    for raw in data.decode("utf-8", "replace").split("\n"):
        if not raw:
            continue
        stamp, sep, text = raw.partition(" ")
        try:
            when = parse_timestamp(stamp) if sep else time.time()
        except ValueError:
            when, text = time.time(), raw
        out.append((when, text.rstrip("\r")))
    return out
