"""Labs of real node processes for the integration tests (local backend)."""
from __future__ import annotations

import os

import pytest

from swarmlab.lab import Lab


@pytest.fixture
def lab_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def lab_factory(lab_home):
    labs: list[Lab] = []

    def make(name: str = "t", **kw) -> Lab:
        lab = Lab.up(name, **kw)
        labs.append(lab)
        return lab
    yield make
    for lab in labs:
        lab.down()
    leftover = [p for p in os.listdir("/proc") if p.isdigit() and _is_agent(p, str(lab_home))]
    assert not leftover, f"node processes left running: {leftover}"


def _is_agent(pid: str, home: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return "swarmlab.agent" in cmd and home in cmd
