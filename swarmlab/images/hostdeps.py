"""Python packages the node image takes from the host's environment, not from Debian.

The agent needs newer versions than Debian bookworm ships: ``aiohttp>=3.9``
(``server_hostname=`` on requests, for mTLS between nodes; Debian has 3.8),
``cryptography>=39`` (``x509.load_pem_x509_certificates``; Debian has 38). The host
that builds the images runs the agent itself (the local backend, the tests), so its
installed agent dependencies, and what they require, are copied into the node image
under CODE_ROOT, which is ahead of Debian's ``dist-packages`` on ``PYTHONPATH``:
nodes run the same versions as the host. Debian's packages stay as the fallback. Compiled
parts are only valid for the same CPython minor version, which is checked.
"""
from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

HOST_PACKAGES = ("aiohttp", "cryptography", "docker", "msgpack", "PyYAML", "prometheus_client",
                 "jsonschema")

File = tuple[str, bytes, int]


def closure(names: tuple[str, ...] = HOST_PACKAGES) -> list[metadata.Distribution]:
    """The installed distributions of ``names`` and everything they require (no extras;
    requirements not installed here, such as backports for older Pythons, are skipped)."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[key] = dist
        for req in dist.requires or []:
            if "extra ==" not in req:
                todo.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0])
    return [found[k] for k in sorted(found)]


def files(code_root: str, image_python: str) -> list[File]:
    """Every file of those distributions, at ``code_root/<path in site-packages>``."""
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    if image_python != mine:
        from .rootfs import BuildError
        raise BuildError(f"the node image has Python {image_python}, this host {mine}: the "
                         f"host's {', '.join(HOST_PACKAGES)} cannot be copied into it")
    out: list[File] = []
    for dist in closure():
        for rel in dist.files or []:
            path = dist.locate_file(rel)
            if ".." in rel.parts or "__pycache__" in rel.parts or not path.is_file():
                continue
            mode = 0o755 if rel.suffix == ".so" else 0o644
            out.append((f"{code_root}/{rel.as_posix()}", path.read_bytes(), mode))
    return sorted(out)


def image_python(image: str) -> str:
    """``major.minor`` of python3 in ``image`` (a throwaway container)."""
    done = subprocess.run(["docker", "run", "--rm", "--entrypoint", "python3", image, "-c",
                           "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, timeout=120)
    return done.stdout.strip()
