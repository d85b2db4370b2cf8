"""``build_all``: every image the lab needs, built locally and cached by content.

The chain: two Debian root filesystems (debootstrap, see ``rootfs``), then on top
  * ``swarmlab/node-runtime:latest``: dockerd + iptables + python3 deps + entrypoint,
    the host's aiohttp (hostdeps.py), no swarmlab code (for development, the code is
    mounted into nodes);
  * ``swarmlab/node:latest``: the same plus the swarmlab package;
  * ``swarmlab/workload-base:latest``: python3 + ``swarmlab.workloads`` only, with tini
    as PID 1 (so ``docker stop`` ends a workload at once, even while it starts);
  * one image per catalog entry (``swarmlab/web:1``...): its env, command, port and
    health check on workload-base.
Each layer is made as ``docker commit`` of a created (never started) container
with the files copied in and the config set at create time: one commit per
image. A Dockerfile would commit once per instruction, and each commit costs
seconds on a fuse-overlayfs host. Each image carries a ``swarmlab.inputs`` label,
a hash of its base image id, files and config; when it matches, the image is
reused, so an unchanged rebuild takes seconds.
"""
from __future__ import annotations

import hashlib
import io
import json
import secrets
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from ..workloads.catalog import CATALOG, ImageInfo
from . import hostdeps
from .node import (CODE_ROOT, ENTRYPOINT, ENTRYPOINT_PATH, NODE_ENV, NODE_PACKAGES,
                   WORKLOAD_ENTRYPOINT, WORKLOAD_PACKAGES)
from .rootfs import BuildError, Progress, RootfsSpec, build_rootfs_image

PACKAGE_DIR = Path(__file__).resolve().parents[1]          # .../swarmlab
INPUTS_LABEL = "swarmlab.inputs"
NODE_BASE = RootfsSpec("swarmlab/base-node", NODE_PACKAGES)
WORKLOAD_BASE = RootfsSpec("swarmlab/base-python", WORKLOAD_PACKAGES)
NODE_IMAGE = "swarmlab/node:latest"
NODE_RUNTIME_IMAGE = "swarmlab/node-runtime:latest"
WORKLOAD_BASE_IMAGE = "swarmlab/workload-base:latest"
# The workload images get a bare package marker, not swarmlab/__init__.py, which may
# import the whole lab (aiohttp, docker...) that a minimal image does not have.
MARKER_INIT = b'"""swarmlab, as carried by a lab workload image: only swarmlab.workloads."""\n'

File = tuple[str, bytes, int]          # path in the image, content, mode


@dataclass
class BuildReport:
    seconds: dict[str, float] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)
    built: list[str] = field(default_factory=list)

    def record(self, ref: str, started: float, was_cached: bool) -> None:
        self.seconds[ref] = time.monotonic() - started
        (self.cached if was_cached else self.built).append(ref)


def package_files(only_workloads: bool) -> list[File]:
    """The swarmlab package as files under CODE_ROOT, without caches."""
    root = PACKAGE_DIR / "workloads" if only_workloads else PACKAGE_DIR
    prefix = f"{CODE_ROOT}/swarmlab" + ("/workloads" if only_workloads else "")
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts or path.suffix == ".pyc" or rel.name.startswith("."):
            continue
        files.append((f"{prefix}/{rel}", path.read_bytes(), 0o644))
    if only_workloads:
        files.append((f"{CODE_ROOT}/swarmlab/__init__.py", MARKER_INIT, 0o644))
    return files


def tarball(files: list[File]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data, mode in files:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def inputs_digest(base_id: str, files: list[File], config: dict[str, Any]) -> str:
    h = hashlib.sha256(base_id.encode() + json.dumps(config, sort_keys=True).encode())
    for path, data, mode in files:
        h.update(f"\0{path}\0{mode}\0".encode() + data)
    return h.hexdigest()[:20]


def current_inputs(client: docker.DockerClient, ref: str) -> str | None:
    try:
        return (client.images.get(ref).labels or {}).get(INPUTS_LABEL)
    except docker.errors.ImageNotFound:
        return None


def commit_image(client: docker.DockerClient, ref: str, base: str, progress: Progress,
                 force: bool, files: list[File] = (), **config: Any) -> bool:
    """Make ``ref`` = ``base`` + ``files`` + ``config``; True if it was already there."""
    inputs = inputs_digest(client.images.get(base).id, list(files), config)
    if not force and current_inputs(client, ref) == inputs:
        progress(f"{ref}: cached")
        return True
    started = time.monotonic()
    old_id = _image_id(client, ref)
    labels = {**config.pop("labels", {}), INPUTS_LABEL: inputs, "swarmlab.image": ref}
    container = client.containers.create(base, name=f"swarmlab-build-{secrets.token_hex(4)}",
                                         labels=labels, **config)
    try:
        if files and not container.put_archive("/", tarball(list(files))):
            raise BuildError(f"copying files into {ref} failed")
        repository, tag = ref.rsplit(":", 1)
        container.commit(repository=repository, tag=tag)
    except docker.errors.APIError as exc:
        raise BuildError(f"building {ref} failed: {exc}") from exc
    finally:
        container.remove(force=True, v=True)
    _remove_quietly(client, old_id)
    progress(f"{ref}: built in {time.monotonic() - started:.1f}s")
    return False


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    try:
        return client.images.get(ref).id
    except docker.errors.ImageNotFound:
        return None


def _remove_quietly(client: docker.DockerClient, image_id: str | None) -> None:
    """Drop the image a rebuild replaced, unless something still uses it."""
    if image_id is None:
        return
    try:
        client.images.remove(image_id, noprune=False)
    except docker.errors.APIError:
        pass  # still the parent of another image or used by a container: keep it


def workload_config(info: ImageInfo) -> dict[str, Any]:
    """Docker's container config for a catalog image: env, command, port, health check."""
    config: dict[str, Any] = {"environment": dict(info.env), "command": list(info.command)}
    if info.port:
        config["ports"] = {f"{info.port}/tcp": None}
    if info.healthcheck:
        hc, ns = info.healthcheck, 1_000_000_000
        config["healthcheck"] = {"test": list(hc.test), "interval": int(hc.interval_s * ns),
                                 "timeout": int(hc.timeout_s * ns), "retries": hc.retries,
                                 "start_period": int(hc.start_period_s * ns)}
    return config


def _timed(report: BuildReport, ref: str, step) -> None:
    started = time.monotonic()
    report.record(ref, started, step())


def build_all(progress: Progress = print, force: bool = False,
              client: docker.DockerClient | None = None) -> BuildReport:
    """Build (or reuse) the node images and every catalog image; report what was done."""
    client = client or docker.from_env(timeout=600)
    report, started = BuildReport(), time.monotonic()
    # One after the other: they share debootstrap's package cache, which is not safe for
    # two at once, and the second then downloads nothing.
    node_base = build_rootfs_image(client, NODE_BASE, progress, force)
    workload_base = build_rootfs_image(client, WORKLOAD_BASE, progress, force)
    runtime_files = [(ENTRYPOINT_PATH, ENTRYPOINT.encode(), 0o755),
                     *hostdeps.files(CODE_ROOT, hostdeps.image_python(node_base))]
    _timed(report, NODE_RUNTIME_IMAGE, lambda: commit_image(
        client, NODE_RUNTIME_IMAGE, node_base, progress, force, runtime_files,
        entrypoint=[ENTRYPOINT_PATH], command=[], environment=NODE_ENV))
    _timed(report, NODE_IMAGE, lambda: commit_image(
        client, NODE_IMAGE, NODE_RUNTIME_IMAGE, progress, force, package_files(False)))
    _timed(report, WORKLOAD_BASE_IMAGE, lambda: commit_image(
        client, WORKLOAD_BASE_IMAGE, workload_base, progress, force, package_files(True),
        environment=NODE_ENV, working_dir="/", entrypoint=WORKLOAD_ENTRYPOINT))
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda item: _timed(report, item[0], lambda: commit_image(
            client, item[0], WORKLOAD_BASE_IMAGE, progress, force, **workload_config(item[1]))),
            CATALOG.items()))
    progress(f"images: {len(report.built)} built, {len(report.cached)} cached "
             f"in {time.monotonic() - started:.1f}s")
    return report


def workload_images() -> list[str]:
    return list(CATALOG)
