"""Fixtures for the Docker backend: images (built once, cached), a 2-node DinD lab.

Every lab a test starts is pruned by label in a finalizer, so nothing is left
behind when a test fails; the finalizer also checks that nothing was.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import time

import pytest

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

MEASURED: dict[str, str] = {}


def measure(key: str, value: str) -> None:
    MEASURED[key] = value
    print(f"MEASURE {key}: {value}")


@pytest.fixture(name="measure", scope="session")
def measure_fixture():
    return measure


@pytest.fixture(scope="session")
def images(docker_host):
    from swarmlab.images import build_all
    started = time.monotonic()
    report = build_all(progress=lambda line: print(f"images: {line}"))
    measure("image build (this run)", f"{time.monotonic() - started:.1f}s, "
            f"{len(report.built)} built, {len(report.cached)} cached")
    return report


def new_lab_name(prefix: str = "t") -> str:
    return f"{prefix}{secrets.token_hex(3)}"


@pytest.fixture
def lab_pruner(docker_host):
    """Hands out lab names; prunes each at teardown and checks nothing is left."""
    from swarmlab.lab.dind import leftovers, prune
    labs: list[str] = []

    def _new(prefix: str = "t") -> str:
        labs.append(new_lab_name(prefix))
        return labs[-1]

    yield _new
    for lab in labs:
        prune(lab)
        assert leftovers(lab) == {"containers": [], "networks": [], "volumes": []}


@pytest.fixture(scope="module")
def two_nodes(images, docker_host):
    from swarmlab.lab.dind import distribute, leftovers, prune, start_nodes
    lab = new_lab_name("m")
    try:
        started = time.monotonic()
        nodes = start_nodes(lab, ["node1", "node2"], progress=print)
        measure("2 nodes started in parallel", f"{time.monotonic() - started:.1f}s "
                f"(each {', '.join(f'{n.start_s:.1f}s' for n in nodes)}; "
                f"{nodes[0].security.describe()})")
        started = time.monotonic()
        distribute(nodes, progress=print)
        measure("workload images loaded into 2 nodes", f"{time.monotonic() - started:.1f}s")
        yield nodes
    finally:
        prune(lab)
        assert leftovers(lab) == {"containers": [], "networks": [], "volumes": []}


@contextlib.contextmanager
def docker_lab(home, prefix: str, what: str, **up):
    """A docker-backend lab for a test module, with its own SWARMLAB_HOME: brought down and
    pruned by label whatever happens, then checked that no container, network or volume
    is left. `what` names the start-up time in the measurements."""
    from swarmlab.lab.dind import leftovers, prune
    from swarmlab.lab import Lab

    old_home = os.environ.get("SWARMLAB_HOME")
    os.environ["SWARMLAB_HOME"] = str(home)
    name = new_lab_name(prefix)
    try:
        started = time.monotonic()
        lab = Lab.up(name, backend="docker", progress=print, **up)
        measure(what, f"{time.monotonic() - started:.1f}s")
        yield lab
    finally:
        try:
            Lab.attach(name).down()
        except Exception:  # noqa: BLE001 - up failed half-way: prune below still cleans
            pass
        prune(name)
        if old_home is None:
            os.environ.pop("SWARMLAB_HOME", None)
        else:
            os.environ["SWARMLAB_HOME"] = old_home
        assert leftovers(name) == {"containers": [], "networks": [], "volumes": []}


@pytest.fixture(name="docker_lab", scope="session")
def docker_lab_fixture(images, docker_host):
    return docker_lab


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("swarmlab docker measurements")
        for key, value in MEASURED.items():
            terminalreporter.write_line(f"{key}: {value}")
