"""Base images made from Debian packages with debootstrap, then ``docker import``.

No image registry is reachable on the machines this lab runs on, so the first
layer of every image is a Debian root filesystem built here. The image is tagged
with a hash of its recipe (suite, variant, package list), so an existing tag means
the rootfs is already built and the slow step is skipped.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import docker

from .mirror import Mirror, host_mirror

Progress = Callable[[str], None]

# Bumped when the recipe below changes in a way the package list does not show.
RECIPE_VERSION = "1"
_PHASE_WORDS = ("packages...", "system...", "Release", "component", "successfully")
DEB_CACHE = Path(os.environ.get("SWARMLAB_DEB_CACHE", "/var/cache/swarmlab/debs"))


@dataclass(frozen=True)
class RootfsSpec:
    repository: str                 # e.g. "swarmlab/base-python"
    packages: tuple[str, ...]       # --include list
    variant: str = "minbase"
    env: tuple[str, ...] = ("LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1")

    def digest(self, suite: str) -> str:
        text = "|".join([RECIPE_VERSION, suite, self.variant, ",".join(sorted(self.packages)),
                         ",".join(self.env)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class BuildError(RuntimeError):
    pass


def image_exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_rootfs_image(client: docker.DockerClient, spec: RootfsSpec, progress: Progress,
                       force: bool = False, mirror: Mirror | None = None) -> str:
    """Return ``repository:digest``, building it with debootstrap unless it exists."""
    mirror = mirror or host_mirror()
    ref = f"{spec.repository}:{spec.digest(mirror.suite)}"
    if not force and image_exists(client, ref):
        progress(f"{ref}: cached")
        return ref
    if shutil.which("debootstrap") is None:
        raise BuildError("debootstrap is not installed (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise BuildError("debootstrap needs root to build the base root filesystem")
    workdir = Path(tempfile.mkdtemp(prefix="swarmlab-rootfs-", dir="/var/tmp"))
    try:
        _debootstrap(spec, mirror, workdir / "root", progress)
        _import(client, spec, workdir, ref, progress)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return ref


def _debootstrap(spec: RootfsSpec, mirror: Mirror, root: Path, progress: Progress) -> None:
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    cmd = ["debootstrap", f"--variant={spec.variant}", f"--include={','.join(spec.packages)}",
           f"--cache-dir={DEB_CACHE}"]
    if mirror.keyring:
        cmd.append(f"--keyring={mirror.keyring}")
    cmd += [mirror.suite, str(root), mirror.uri]
    progress(f"{spec.repository}: debootstrap {mirror.suite} from {mirror.uri} "
             f"(+{len(spec.packages)} packages)")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-20:]
        if line.startswith("I: ") and any(w in line for w in _PHASE_WORDS):
            progress(f"{spec.repository}: {line[3:].strip()}")  # phases, not every package
    if proc.wait() != 0:
        raise BuildError(f"debootstrap failed (exit status {proc.returncode}):\n"
                         + "\n".join(tail + _log_problems(root)))
    # Images need no package lists or docs; this keeps them smaller.
    for junk in ("var/lib/apt/lists", "var/cache/apt/archives", "usr/share/doc", "usr/share/man"):
        shutil.rmtree(root / junk, ignore_errors=True)
    progress(f"{spec.repository}: root filesystem ready in {time.monotonic() - started:.1f}s")


def _log_problems(root: Path) -> list[str]:
    """The lines of debootstrap's own log that say why, before the directory is removed."""
    log = root / "debootstrap" / "debootstrap.log"
    if not log.is_file():
        return []
    lines = log.read_text(errors="replace").splitlines()
    return ["debootstrap.log:"] + [l for l in lines if "depends on" in l or "error" in l][-12:]


def _import(client: docker.DockerClient, spec: RootfsSpec, workdir: Path, ref: str,
            progress: Progress) -> None:
    started = time.monotonic()
    tarball = workdir / "rootfs.tar"
    subprocess.run(["tar", "-C", str(workdir / "root"), "--numeric-owner", "-cf", str(tarball),
                    "."], check=True)
    repository, tag = ref.split(":")
    changes = [f"ENV {e}" for e in spec.env] + ['CMD ["/bin/bash"]']
    client.api.import_image(src=str(tarball), repository=repository, tag=tag, changes=changes)
    if not image_exists(client, ref):
        raise BuildError(f"docker import did not produce {ref}")
    progress(f"{ref}: imported in {time.monotonic() - started:.1f}s")
