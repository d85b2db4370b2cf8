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
    assert_no_leftovers(lab_home)


@pytest.fixture
def no_leftovers():
    return assert_no_leftovers


def assert_no_leftovers(home) -> None:
    """No node process of this test's labs may outlive it (forked nodes keep the
    launcher's command line, so look at their environment)."""
    leftover = [p for p in os.listdir("/proc") if p.isdigit() and _runs_in(p, str(home))]
    for p in leftover:  # do not let one failure leak into the next tests
        try:
            os.kill(int(p), 9)
        except OSError:
            pass
    assert not leftover, f"node processes left running: {leftover}"


def _runs_in(pid: str, home: str) -> bool:
    if int(pid) == os.getpid():
        return False
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
    except OSError:
        return False
    return f"SWARMLAB_HOME={home}".encode() + b"\0" in env + b"\0"
