"""How a Docker-in-Docker node may run on this host: privileged, or a capability set.

``--privileged`` is the usual way, but it fails where the daemon's capability
bounding set lacks a capability (``unable to apply caps: operation not
permitted``; on the machines this lab was built on, CAP_SYS_RESOURCE is missing).
Then every capability the host has is added instead, with seccomp and AppArmor
unconfined, which is enough for dockerd and iptables inside the node. The probe
runs once per process, on a throwaway container, and says which mode it chose.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

# Linux capability numbers -> Docker's names, for those a host may lack.
CAP_NAMES = {
    21: "SYS_ADMIN", 22: "SYS_BOOT", 23: "SYS_NICE", 24: "SYS_RESOURCE", 25: "SYS_TIME",
    26: "SYS_TTY_CONFIG", 27: "MKNOD", 28: "LEASE", 29: "AUDIT_WRITE", 30: "AUDIT_CONTROL",
    31: "SETFCAP", 32: "MAC_OVERRIDE", 33: "MAC_ADMIN", 34: "SYSLOG", 35: "WAKE_ALARM",
    36: "BLOCK_SUSPEND", 37: "AUDIT_READ", 38: "PERFMON", 39: "BPF", 40: "CHECKPOINT_RESTORE",
    16: "SYS_MODULE", 17: "SYS_RAWIO", 18: "SYS_CHROOT", 19: "SYS_PTRACE", 20: "SYS_PACCT",
}


@dataclass(frozen=True)
class SecurityMode:
    name: str                                   # "privileged" or "capabilities"
    kwargs: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.name == "privileged":
            return "privileged"
        return (f"capabilities (cap-add ALL, cap-drop {','.join(self.kwargs['cap_drop'])}, "
                "seccomp and apparmor unconfined)")


PRIVILEGED = SecurityMode("privileged", {"privileged": True, "cgroupns": "private"})


def missing_capabilities(status: str | None = None) -> list[str]:
    """Capabilities absent from this host's bounding set (Docker's names)."""
    if status is None:
        status = Path("/proc/self/status").read_text()
    bounding = next((int(line.split()[1], 16) for line in status.splitlines()
                     if line.startswith("CapBnd:")), None)
    if bounding is None:
        return ["SYS_RESOURCE"]
    return [name for bit, name in sorted(CAP_NAMES.items()) if not bounding >> bit & 1]


def capability_mode(missing: list[str]) -> SecurityMode:
    return SecurityMode("capabilities", {
        "cap_add": ["ALL"], "cap_drop": missing or ["SYS_RESOURCE"],
        "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
        "cgroupns": "private"})


def works(client: docker.DockerClient, image: str, mode: SecurityMode, labels: dict) -> bool:
    """Start a throwaway container of ``image`` in ``mode``; True if it ran."""
    container = None
    try:
        container = client.containers.create(image, entrypoint=["true"], command=[],
                                             labels=labels, **mode.kwargs)
        container.start()
        return container.wait(timeout=30).get("StatusCode") == 0
    except docker.errors.APIError:
        return False
    finally:
        if container is not None:
            container.remove(force=True)


_PROBED: dict[str, SecurityMode] = {}


def probe(image: str, labels: dict[str, str]) -> SecurityMode:
    """The mode nodes run in on this host: privileged if it works, else capabilities.

    What decides is the host (its capabilities), not the image: one probe per process.
    """
    if _PROBED:
        return next(iter(_PROBED.values()))
    client = docker.from_env()
    mode = PRIVILEGED
    if not works(client, image, mode, labels):
        mode = capability_mode(missing_capabilities())
        if not works(client, image, mode, labels):
            raise RuntimeError("neither --privileged nor the capability set can start a "
                               f"node container here ({mode.describe()})")
    _PROBED[image] = mode
    return mode
