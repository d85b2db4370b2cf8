"""swarmlab sends what the real docker CLI sends, and prints what it prints.

golden/docker_cli.json was recorded by record_docker_golden.py from docker 28.2.2
talking to the EngineAPIDouble; here the same command lines run through `swarmlab`
against a fresh double seeded the same way, in the same order.
"""
import json
import pathlib
import shlex

import pytest

from swarmlab.cli import main

from .engine_double import EngineAPIDouble
from .record_docker_golden import GOLDEN, changes, seed

RECORDED = json.loads(GOLDEN.read_text())["commands"]
TRUE, FALSE = {"true", "True", "1"}, {"false", "False", "0"}


def normalize_query(query: dict) -> dict:
    """Go's and requests' spellings of booleans differ; a false flag may be omitted."""
    out = {}
    for key, value in query.items():
        value = True if value in TRUE else False if value in FALSE else value
        if value is not False:
            out[key] = value
    return out


def normalize(requests: list[dict]) -> list[dict]:
    return [{"method": r["method"], "path": r["path"], "query": normalize_query(r["query"]),
             "json": r["json"]} for r in requests]


@pytest.fixture(scope="module")
def replay():
    """Run every recorded line through swarmlab, in order, on one double."""
    double = EngineAPIDouble(node_id="n1aaaaaaaaaaaaaaaaaaaaaaa").start()
    seed(double)
    results = []
    try:
        for entry in RECORDED:
            double.requests.clear()
            results.append((entry, double.requests[:] if False else None))
            code = _run(double, entry["command"])
            results[-1] = (entry, code, changes(double.requests))
    finally:
        double.stop()
    return results


def _run(double, line):
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--host", double.url, *shlex.split(line)])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("index", range(len(RECORDED)), ids=[c["command"][:50] for c in RECORDED])
def test_same_requests_as_docker(replay, index):
    entry, (code, out, err), sent = replay[index]
    assert normalize(sent) == normalize(entry["requests"]), entry["command"]


@pytest.mark.parametrize("index", range(len(RECORDED)), ids=[c["command"][:50] for c in RECORDED])
def test_same_output_as_docker(replay, index):
    entry, (code, out, err), sent = replay[index]
    assert code == entry["exit"], err
    assert out == entry["stdout"].replace("docker swarm", "swarmlab swarm")
