"""A docker-backend lab's life cycle beyond the walk-through: an owner that crashes
leaves its lab to `lab prune`. (The course walk-through on DinD nodes is
tests/integration/test_walkthrough_api.py, parametrized by backend.)
"""
from __future__ import annotations

import os
import secrets

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

docker = pytest.importorskip("docker")


CRASHING_OWNER = """
import sys, time
from swarmlab.lab import Lab
Lab.up(sys.argv[1], backend="docker", nodes=1)
print("up", flush=True)
time.sleep(600)
"""


def test_prune_removes_what_a_crashed_owner_left(docker_host, images, tmp_path, monkeypatch):
    """An interpreter killed with SIGKILL runs no atexit: its lab stays until `lab prune`,
    which finds it by its owner label and removes containers, network, volume, record."""
    import signal
    import subprocess
    import sys

    from swarmlab.lab.dind.lab import DindBackend, stale_labs
    from swarmlab.lab.dind import leftovers, prune
    from swarmlab.lab import registry
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "home"))
    name = f"P{secrets.token_hex(3)}"
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_OWNER, name], stdout=subprocess.PIPE,
                            text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__)))))
    try:
        assert proc.stdout.readline().strip() == "up"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        left = leftovers(name)
        assert len(left["containers"]) == 1 and left["networks"] and left["volumes"]
        assert name in stale_labs()
        DindBackend().prune(print)
        assert leftovers(name) == {"containers": [], "networks": [], "volumes": []}
        assert name not in [r.name for r in registry.list_labs()]
    finally:
        proc.kill()
        prune(name)
