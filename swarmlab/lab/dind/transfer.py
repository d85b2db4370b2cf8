"""Getting the lab's workload images into each node's dockerd, with no registry.

The host saves the workload images once, as one ``docker save`` archive (the
images share their base layers, so it is barely larger than one image), cached
by the images' ids; each node then loads that archive through its own Engine API
(``POST /images/load``), all nodes in parallel. A node that already has an image
with the same id skips it. docs/images.md says why this was chosen over a
registry container.
"""
from __future__ import annotations

import hashlib
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

from ...images import workload_images
from .nodes import DindNode

BUNDLE_DIR = Path("/var/cache/swarmlab/bundles")


def bundle(refs: list[str] | None = None, client: docker.DockerClient | None = None) -> Path:
    """One ``docker save`` archive of ``refs`` (default: every lab image), cached by ids."""
    client = client or docker.from_env()
    refs = sorted(refs or workload_images())
    ids = [client.images.get(ref).id for ref in refs]
    digest = hashlib.sha256("\n".join(f"{r} {i}" for r, i in zip(refs, ids)).encode()).hexdigest()
    path = BUNDLE_DIR / f"workloads-{digest[:16]}.tar"
    if path.is_file():
        return path
    BUNDLE_DIR.mkdir(parents=True, exist_ok=True)
    for old in BUNDLE_DIR.glob("workloads-*.tar"):
        old.unlink(missing_ok=True)
    tmp = path.with_suffix(".partial")
    subprocess.run(["docker", "save", "-o", str(tmp), *refs], check=True, capture_output=True)
    tmp.rename(path)
    return path


def missing_on(node: DindNode, refs: list[str], host: docker.DockerClient) -> list[str]:
    client = node.client()
    missing = []
    for ref in refs:
        try:
            if client.images.get(ref).id != host.images.get(ref).id:
                missing.append(ref)
        except docker.errors.ImageNotFound:
            missing.append(ref)
    return missing


def load_into(node: DindNode, archive: Path) -> float:
    """Load ``archive`` into the node's dockerd; return the seconds it took."""
    started = time.monotonic()
    with archive.open("rb") as data:
        node.client(timeout=300).images.load(data)
    return time.monotonic() - started


def distribute(nodes: list[DindNode], refs: list[str] | None = None,
               progress=lambda line: None) -> dict[str, float]:
    """Make every lab image present on every node; seconds per node (0 if up to date)."""
    host = docker.from_env()
    refs = sorted(refs or workload_images())
    archive = bundle(refs, host)

    def one(node: DindNode) -> float:
        if not missing_on(node, refs, host):
            return 0.0
        seconds = load_into(node, archive)
        progress(f"{node.name}: {len(refs)} images loaded in {seconds:.1f}s")
        return seconds

    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        return dict(zip((n.name for n in nodes), pool.map(one, nodes)))
