"""Docker's little languages inside compose values: durations, sizes, CPUs, ports.

Each parser returns the Engine API's unit (nanoseconds, bytes, nano-CPUs) or raises
ValueError with Docker's wording; callers add the file, line and key.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from .. import units


def duration_ns(text: str) -> int:
    """Go's ``time.ParseDuration``: ``1m30s``, ``1.5h``, ``300ms``, ``0``."""
    if not isinstance(text, str):
        raise ValueError(f"time: invalid duration {text!r}")
    return units.parse_duration(text)


def is_duration(text: object) -> bool:
    try:
        duration_ns(text)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def ram_bytes(value: str | int) -> int:
    """go-units ``RAMInBytes``: ``512m``, ``1g``, ``50M``, ``1.5GiB``; a YAML number is bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return units.ram_in_bytes(str(value))


def nano_cpus(value: str | float) -> int:
    """``cpus: "0.5"`` -> 500000000, as the docker CLI's ``ParseCPUs`` (exact: ``1.000000001``
    is 1000000001). A YAML number is read as its shortest text, as Go's decoder writes it."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"failed to parse {value} as a rational number")
    return units.parse_cpus(value if isinstance(value, str) else repr(value))


def command(value: str | list) -> list[str]:
    """``command:`` / ``entrypoint:``: a list as given, a string split as a shell would."""
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        return shlex.split(value)
    except ValueError as err:
        raise ValueError(f"invalid command line {value!r}: {err}") from None


@dataclass(frozen=True)
class Port:
    target: int
    published: int = 0
    protocol: str = "tcp"
    mode: str = "ingress"


def _port_range(text: str, what: str) -> list[int]:
    lo, _, hi = text.partition("-")
    try:
        first, last = int(lo), int(hi or lo)
    except ValueError:
        raise ValueError(f"Invalid {what}: {text}") from None
    if not (0 <= first <= 65535 and 0 <= last <= 65535) or last < first:
        raise ValueError(f"Invalid {what}: {text}")
    return list(range(first, last + 1))


def short_ports(spec: str | int, limit: int | None = None) -> list[Port]:
    """Short syntax: ``80``, ``8080:80``, ``127.0.0.1:8080:80/udp``, ``9000-9001:80-81``.
    The host IP means nothing to the routing mesh, as in Swarm, and is dropped. A range
    of more than `limit` ports is refused before it is expanded."""
    text = str(spec)
    proto = "tcp"
    if "/" in text:
        text, proto = text.rsplit("/", 1)
        proto = proto.lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise ValueError(f"Invalid proto: {proto}")
    parts = text.rsplit(":", 2) if text.count(":") <= 2 else None
    if parts is None:
        raise ValueError(f"Invalid port specification: {spec!r}")
    container = parts[-1]
    host = parts[-2] if len(parts) >= 2 else ""
    if not container:
        raise ValueError(f"No port specified: {spec}<empty>")
    targets = _port_range(container, "containerPort")
    if limit is not None and len(targets) > limit:
        raise ValueError(f"too many ports: more than {limit} for one service in swarmlab")
    if not host:
        return [Port(t, 0, proto) for t in targets]
    published = _port_range(host, "hostPort")
    if len(published) != len(targets):
        if len(targets) == 1 and len(published) > 1:
            raise ValueError(f"Invalid ranges specified for container and host Ports: "
                             f"{container} and {host}")
        raise ValueError(f"Invalid ranges specified for container and host Ports: "
                         f"{container} and {host}")
    return [Port(t, p, proto) for t, p in zip(targets, published)]
