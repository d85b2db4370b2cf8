"""Labs of real node processes for the stack tests (local backend), one per test module."""
from __future__ import annotations

import os

import pytest

from swarmlab.lab import Lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("SWARMLAB_HOME")
    os.environ["SWARMLAB_HOME"] = str(home)
    lab = Lab.up("stk", managers=1, workers=2)
    try:
        yield lab
    finally:
        lab.down()
        if old is None:
            os.environ.pop("SWARMLAB_HOME", None)
        else:
            os.environ["SWARMLAB_HOME"] = old
        leftover = [p for p in os.listdir("/proc") if p.isdigit() and _is_agent(p, str(home))]
        assert not leftover, f"node processes left running: {leftover}"


@pytest.fixture
def client(lab):
    c = lab.client()
    yield c
    for svc in c.api.services():  # a failed test must not leak into the next one
        c.api.remove_service(svc["ID"])
    for s in c.api.secrets():
        c.api.remove_secret(s["ID"])
    for cfg in c.api.configs():
        c.api.remove_config(cfg["ID"])


def _is_agent(pid: str, home: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return "swarmlab.node" in cmd and home in cmd
