"""swarmlab sends what the real docker CLI sends, and prints what it prints.

golden/docker_cli.json was recorded by record_docker_golden.py from docker 28.2.2
talking to the EngineAPIDouble (a server-side test double); here the same command
lines run through `swarmlab` against fresh doubles seeded the same way, in the same
order. Only the program name differs in the output (`swarmlab swarm join ...`).
"""
import contextlib
import datetime as dt
import io
import json
import re
import shlex
import time

import pytest

from swarmlab.cli import _tasks, main

from .engine_double import EngineAPIDouble
from .record_docker_golden import GOLDEN, SCENARIOS, changes

GOLDEN_DOC = json.loads(GOLDEN.read_text())
RECORDED, SEEDED_AT = GOLDEN_DOC["scenarios"], GOLDEN_DOC["seeded_at"]
TRUE, FALSE = {"true", "True", "1"}, {"false", "False", "0"}
CASES = [(name, i) for name in RECORDED for i in range(len(RECORDED[name]))]
IDS = [f"{name}: {RECORDED[name][i]['command'][:60]}" for name, i in CASES]


def normalize_query(query: dict) -> dict:
    """Go's and requests' spellings of booleans differ; a false flag may be omitted."""
    out = {}
    for key, value in query.items():
        value = True if value in TRUE else False if value in FALSE else value
        if value is not False:
            out[key] = value
    return out


def sort_env(value):
    """docker builds `--env-add` results from a Go map: their order is random."""
    if isinstance(value, dict):
        return {k: sorted(v) if k == "Env" else sort_env(v) for k, v in value.items()}
    return value


def normalize(requests: list[dict]) -> list[dict]:
    return [{"method": r["method"], "path": r["path"], "query": normalize_query(r["query"]),
             "json": sort_env(r["json"])} for r in requests]


def as_swarmlab(text: str) -> str:
    return re.sub(r"\bdocker (swarm|service|node|secret|config|stack)\b", r"swarmlab \1", text)


def drop_zero(value):
    """Docker's CLI re-encodes inspect output through Go structs, which adds zero
    values (`"ForceUpdate": 0`) and trims zeros off nanoseconds; swarmlab prints the
    daemon's JSON as it came."""
    if isinstance(value, dict):
        return {k: drop_zero(v) for k, v in value.items() if v not in (0, "", {}, [], False, None)}
    if isinstance(value, list):
        return [drop_zero(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"\.0+Z$", "Z", value)
    return value


def _run(double, line):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--host", double.url, *shlex.split(line)])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def replay():
    """Every recorded line through swarmlab, in order, on a fresh double per scenario,
    with the CLI's clock running from the moment the recording was seeded."""
    results = {}
    start = time.time()
    patch = pytest.MonkeyPatch()
    patch.setattr(_tasks, "utcnow", lambda: dt.datetime.fromtimestamp(
        SEEDED_AT + time.time() - start, dt.timezone.utc))
    for name, (seeder, _) in SCENARIOS.items():
        double = EngineAPIDouble(node_id="n1aaaaaaaaaaaaaaaaaaaaaaa").start()
        seeder(double, SEEDED_AT)
        try:
            for entry in RECORDED[name]:
                double.requests.clear()
                outcome = _run(double, entry["command"])
                results.setdefault(name, []).append((entry, outcome, changes(double.requests)))
        finally:
            double.stop()
    patch.undo()
    return results


_AGO = re.compile(r"(Less than a second|About an? \w+|\d+ \w+) ago")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_same_requests_as_docker(replay, case):
    entry, _, sent = replay[case[0]][case[1]]
    assert normalize(sent) == normalize(entry["requests"]), entry["command"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_same_output_as_docker(replay, case):
    entry, (code, out, err), _ = replay[case[0]][case[1]]
    assert code == entry["exit"], err
    assert err == as_swarmlab(entry["stderr"])
    expected = as_swarmlab(entry["stdout"])
    # "About a minute ago" vs "2 minutes ago": the replay's clock runs in real time, and a
    # loaded machine replays slower than the recording; the wording itself is tested apart
    out, expected = (_AGO.sub("<when> ago", x) for x in (out, expected))
    if expected.startswith(("[\n    {", "[{")):
        assert drop_zero(json.loads(out)) == drop_zero(json.loads(expected))
    else:
        assert out == expected
