"""The first program of every process-runtime task: set up its view, then exec.

`python3 -S launch.py` reads its instructions from the
`SWARMLAB_LAUNCH` variable (JSON), removes it, and `exec`s the task's program in
its place, so the task's pid is the pid the runtime started (its process group,
too). What it sets up, as a container runtime would for a container:
- `PR_SET_PDEATHSIG`: the task is killed if the agent dies, even by SIGKILL, so
  no task outlives its node (no orphans);
- a memory limit (`RLIMIT_AS`; see docs/runtime.md for how it differs from the
  cgroup limit Docker sets);
- with the right to (root, CAP_SYS_ADMIN): its own mount and UTS namespaces,
  where `/etc/hosts` is the task's hosts file (service discovery by name through
  libc, as Docker bind-mounts `/etc/hosts`), `/run` is a fresh tmpfs with the
  task's secrets bound read-only at `/run/secrets`, and the hostname is the
  task's. Without the right, the task uses `SWARMLAB_SECRETS_DIR` instead.
Stdlib only, and small, because it runs before every task.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWUTS = 0x00020000, 0x04000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x20, 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG = 1
EXIT_SETUP_FAILED = 125  # as `docker run` does when the runtime fails


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(libc, src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {dst}")


def isolate(libc, hostname: str, hosts: str | None, secrets: str | None) -> None:
    """Private mounts and hostname: only this task sees them."""
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    if hostname:
        name = hostname.encode()
        _check(libc.sethostname(name, len(name)), "sethostname")
    if hosts:
        _mount(libc, hosts, "/etc/hosts", None, MS_BIND)
    if secrets:
        _mount(libc, "tmpfs", "/run", "tmpfs", 0, "mode=755")
        os.mkdir("/run/secrets", 0o755)
        _mount(libc, secrets, "/run/secrets", None, MS_BIND)
        _mount(libc, None, "/run/secrets", None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def main() -> None:
    plan = json.loads(os.environ.pop("SWARMLAB_LAUNCH"))
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
        if os.getppid() != plan["parent"]:  # the agent died before prctl
            sys.exit(EXIT_SETUP_FAILED)
        if plan.get("memory_bytes"):
            limit = int(plan["memory_bytes"])
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if plan.get("isolate"):
            isolate(libc, plan.get("hostname", ""), plan.get("hosts"), plan.get("secrets"))
        os.execvpe(plan["argv"][0], plan["argv"], os.environ)
    except OSError as exc:
        print(f"swarmlab: task setup failed: {exc}", file=sys.stderr, flush=True)
        sys.exit(127 if isinstance(exc, FileNotFoundError) else EXIT_SETUP_FAILED)


if __name__ == "__main__":
    main()
