"""The Raft, nodes and services labs pass nbval on the Docker backend (issue 8's "must show").

Each notebook runs in its own `pytest --nbval-lax` with `SWARMLAB_BACKEND=docker`: its lab
is made of Docker-in-Docker nodes (swarmlab's agent in each, tasks as containers of the
node's dockerd). Afterwards no container, network or volume labelled with the lab is left:
the notebook's last cell brings its lab down, and this test checks that before it prunes.

The images are built by scripts/test.sh before pytest (here `build_all` finds them cached);
without a Docker engine the test skips.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
#: notebook -> the lab it starts (its `LAB = ...`); Docker resources carry that name
NOTEBOOKS = {"01-raft.ipynb": "lab01-raft", "02-nodes.ipynb": "lab02-nodes",
             "03-services.ipynb": "lab03-services"}
NOTHING = {"containers": [], "networks": [], "volumes": []}


@pytest.fixture(scope="module")
def engine(docker_host):
    from swarmlab.images import build_all
    build_all(progress=lambda line: None)  # cached: scripts/test.sh built them
    return docker_host


def test_the_notebooks_name_their_labs():
    import nbformat
    for name, lab in NOTEBOOKS.items():
        source = "\n".join(c.source for c in nbformat.read(ROOT / "labs" / name, as_version=4).cells)
        assert f'LAB = "{lab}"' in source and "fresh_lab(LAB" in source, name


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_lab_passes_nbval_on_the_docker_backend(engine, name, tmp_path):
    from swarmlab.lab.dind import leftovers, prune
    lab = NOTEBOOKS[name]
    prune(lab)  # a crashed earlier run's
    env = dict(os.environ, PYTHONPATH=str(ROOT), SWARMLAB_HOME=str(tmp_path / "home"),
               SWARMLAB_BACKEND="docker", TESTCONTAINERS_RYUK_DISABLED="true")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
           "--nbval-cell-timeout", "480", "--nbval-sanitize-with",
           str(ROOT / "labs" / "nbval_sanitize.cfg"), str(ROOT / "labs" / name)]
    started = time.monotonic()
    try:
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=580)
    finally:
        left = leftovers(lab)
        prune(lab)
    print(f"MEASURE {name} on the docker backend: {time.monotonic() - started:.1f}s")
    assert r.returncode == 0, first_failure(r.stdout) + r.stdout[-1500:] + r.stderr[-2000:]
    assert left == NOTHING, left


def first_failure(out: str) -> str:
    """The first failed cell's report (later cells often fail only because of it)."""
    at = out.find("= FAILURES =")
    return out[at:at + 5000] + "\n...\n" if at >= 0 else ""
