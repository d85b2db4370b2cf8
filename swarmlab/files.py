"""One durable atomic write, for every file a crash must not leave half-written.

Certificates, Raft's keys, a node's swarm state and a lab's records are all replaced
the same way: write a temporary file beside the target, fsync it, rename it over the
target, then fsync the directory so the rename itself survives a power cut. A reader
(or a restart after a crash) sees the old file or the new one, never a mix.
"""
from __future__ import annotations

import os
import pathlib

__all__ = ["write_atomic"]


def write_atomic(path: os.PathLike[str] | str, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` (file mode `mode`), durably and atomically. A missing
    parent directory is created private (0700): these files hold a node's secrets."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)  # O_CREAT's mode passes through the umask; an old tmp keeps its own
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
