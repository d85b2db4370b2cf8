"""Fixtures shared by every test directory."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def docker_host():
    """The machine's Docker engine; the tests that need one skip where none answers (a
    student's laptop), never in CI, whose machine has one."""
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no Docker engine: {exc}")
    return client
