"""A task's file view: its `/run/secrets` and configs, on tmpfs.

Docker mounts a tmpfs at `/run/secrets` in the container and writes each secret
there with the reference's uid, gid and mode; the data never touches a disk and
goes with the container. The process runtime does the same with a per-task
directory under /dev/shm (a tmpfs): `<root>/run/secrets/<target>` for secrets and
`<root>/<target>` for configs (target `/<name>` by default, as Docker's), where
`<root>` is the task's directory. The task finds it through
`SWARMLAB_SECRETS_DIR` and `SWARMLAB_ROOT`. `remove()` deletes the directory.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from .base import FileMount, TaskRejected

SECRETS_DIR = PurePosixPath("run/secrets")


def secret_path(target: str) -> PurePosixPath:
    """Where a secret's target lands, relative to the task root."""
    target_path = PurePosixPath(target)
    rel = target_path.relative_to("/") if target_path.is_absolute() else SECRETS_DIR / target_path
    return _checked(rel, target)


def config_path(target: str) -> PurePosixPath:
    target_path = PurePosixPath(target)
    rel = target_path.relative_to("/") if target_path.is_absolute() else target_path
    return _checked(rel, target)


def _checked(rel: PurePosixPath, target: str) -> PurePosixPath:
    if not target.strip("/.") or not rel.parts or ".." in rel.parts:
        raise TaskRejected(f"invalid file target {target!r}")
    return rel


class TaskFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def secrets_dir(self) -> Path:
        return self.root / SECRETS_DIR

    def write(self, secrets: tuple[FileMount, ...], configs: tuple[FileMount, ...]) -> None:
        self.root.mkdir(parents=True, exist_ok=False, mode=0o711)
        self.secrets_dir.mkdir(parents=True, mode=0o755)
        for mount in secrets:
            self._write_one(secret_path(mount.target), mount)
        for mount in configs:
            self._write_one(config_path(mount.target), mount)

    def _write_one(self, rel: PurePosixPath, mount: FileMount) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, mount.data)
            _chown(fd, mount.uid, mount.gid)
            os.fchmod(fd, mount.mode)
        finally:
            os.close(fd)

    def drop(self, secrets: tuple[FileMount, ...], configs: tuple[FileMount, ...]) -> None:
        """A stopped task is never started again (a new task is): its secrets and configs
        leave the tmpfs now, as dockerd unmounts a stopped container's secrets, not when
        the task is removed (the task history keeps a stopped task for a while)."""
        for rel in [secret_path(m.target) for m in secrets] + [config_path(m.target) for m in configs]:
            try:
                (self.root / rel).unlink()
            except OSError:
                pass

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _chown(fd: int, uid: int, gid: int) -> None:
    """As Docker does; without root only our own ids are possible, so skip."""
    try:
        os.fchown(fd, uid, gid)
    except PermissionError:
        pass
