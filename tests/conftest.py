"""Fixtures shared by every test directory."""
from __future__ import annotations

import os
from typing import Callable

import pytest

# What this run must have (comma-separated: `docker`, `browser`). `.ci/run` sets both: a
# missing prerequisite then fails the run instead of skipping the tests that need it.
REQUIRED = {w.strip() for w in os.environ.get("SWARMLAB_TEST_REQUIRE", "").split(",") if w.strip()}


def missing(what: str, reason: str) -> None:
    """Skip for want of `what` (a student's laptop), or fail where the run requires it."""
    if what in REQUIRED:
        pytest.fail(f"{reason} (SWARMLAB_TEST_REQUIRE includes {what!r})", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def prerequisite() -> Callable[[str, str], None]:
    """`prerequisite(what, reason)`: skip, or fail if this run requires `what`."""
    return missing


@pytest.fixture(scope="session")
def docker_host():
    """The machine's Docker engine; the tests that need one skip where none answers (a
    student's laptop), and fail in CI, whose machine has one."""
    try:
        import docker
    except ImportError as exc:
        missing("docker", f"no docker package: {exc}")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001
        missing("docker", f"no Docker engine: {exc}")
    return client
