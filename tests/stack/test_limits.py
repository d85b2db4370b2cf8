"""Compose files are bounded (issue 18): hostile files are refused fast, in little memory.

Each file of `fuzz_corpus.HOSTILE` is small and would make a naive loader huge or slow
(merge keys over aliases, billion laughs, 20,000 `[`, a secret of /dev/zero, ...). They
are loaded in a child process under an address-space ceiling, timed one by one, and
each one's peak allocation measured with tracemalloc. Valid files at the limits load.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from swarmlab import stack
from swarmlab.stack import ComposeError, _convert, _interpolate, _yaml

from .fuzz_corpus import HOSTILE, HOSTILE_ENV

CEILING = 1 << 30  # address space of the child: a blow-up is a MemoryError, not a dead machine
SECONDS = 1.0      # each file, measured without tracemalloc
PEAK = 32 << 20    # each file's peak allocation, with tracemalloc

_CHILD = textwrap.dedent("""
    import json, resource, sys, time, tracemalloc
    resource.setrlimit(resource.RLIMIT_AS, ({ceiling}, {ceiling}))
    sys.setrecursionlimit(1000)
    from swarmlab import stack
    from tests.stack.fuzz_corpus import hostile, HOSTILE_ENV

    def load(text):
        try:
            stack.load(text, env=HOSTILE_ENV)
        except stack.ComposeError as err:
            return ["ComposeError", err.file, err.line, str(err)]
        except BaseException as err:
            return [type(err).__name__, "", 0, repr(err)[:300]]
        return ["accepted", "", 0, ""]

    out = {{}}
    for label, text, _ in hostile():
        load(text)  # warm: the schema validators are built on first use
        start = time.perf_counter()
        outcome = load(text)
        seconds = time.perf_counter() - start
        tracemalloc.start()
        load(text)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[label] = [seconds, peak, *outcome]
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def measured() -> dict:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-c", _CHILD.format(ceiling=CEILING)], cwd=root,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(150)
@pytest.mark.parametrize("label", sorted(HOSTILE))
def test_hostile_file_is_refused_fast_in_bounded_memory(measured, label):
    seconds, peak, kind, file, line, text = measured[label]
    words = HOSTILE[label][1]
    assert kind == "ComposeError", f"{label}: {kind} {text}"
    assert file == "<string>" and line >= 1 and words in text, f"{label}: {text}"
    assert seconds < SECONDS, f"{label} took {seconds:.2f}s"
    assert peak < PEAK, f"{label} peaked at {peak >> 20} MiB"


def refused(text: str, env: dict | None = None) -> ComposeError:
    with pytest.raises(ComposeError) as e:
        stack.load(text, env=env or {})
    return e.value


BASE = 'version: "3.8"\nservices:\n  web:\n    image: swarmlab/web:1\n'


def _nested(depth: int, flow: bool) -> str:
    if flow:
        return BASE + "    x-deep: " + "[" * depth + "1" + "]" * depth + "\n"
    body = "".join(" " * (4 + i) + "- \n" for i in range(0))  # (block lists: one line)
    return BASE + "    x-deep:\n      " + "- " * depth + "1\n" + body


@pytest.mark.parametrize("flow", [True, False])
def test_nesting_up_to_the_limit_loads_and_one_more_is_refused(flow):
    # root mapping, services, web, x-deep's lists: the deepest list is at level 3 + depth
    ok = _yaml.MAX_DEPTH - 3
    project = stack.load(_nested(ok, flow), env={})
    value = project.services["web"]["x-deep"]
    for _ in range(ok):
        value = value[0]
    assert value == 1
    err = refused(_nested(ok + 1, flow))
    assert err.message == f"yaml: exceeded max depth of {_yaml.MAX_DEPTH}" and err.line >= 5


def test_nesting_through_aliases_is_counted():
    lines = ['version: "3.8"', "x-d0: &d0 [x]"]
    # x-dN holds N + 1 lists, under the root mapping: N + 2 levels
    last = _yaml.MAX_DEPTH - 2
    lines += [f"x-d{i}: &d{i} [*d{i - 1}]" for i in range(1, last + 1)]
    assert stack.load("\n".join(lines) + "\nservices: {}\n", env={})
    lines.append(f"x-d{last + 1}: [*d{last}]")
    err = refused("\n".join(lines) + "\nservices: {}\n")
    assert "exceeded max depth" in err.message and err.key.startswith(f"x-d{last + 1}[0]")
    assert err.line == last + 3


def test_recursive_anchors_are_refused_with_yaml_v2s_words():
    err = refused('version: "3.8"\nservices: {}\nx-a: &a\n  b: *a\n')
    assert (err.line, err.message) == (4, "yaml: anchor 'a' value contains itself")
    err = refused('version: "3.8"\nservices: {}\nx-a: &a\n  b:\n    <<: *a\n')
    assert (err.line, err.message) == (5, "yaml: anchor 'a' value contains itself")


def test_merge_keys_mean_what_they_meant():
    """First source wins, the mapping's own keys win over all; a key given twice by the
    mapping itself is still an error; marks point at where a merged key is written."""
    project = stack.load(textwrap.dedent("""
        version: "3.8"
        x-base: &base
          image: swarmlab/web:1
          environment: {A: "1", B: "2"}
          deploy: {replicas: 2}
        x-more: &more {labels: {a: b}, image: swarmlab/kv:1}
        services:
          web:
            <<: [*base, *more]
            deploy: {replicas: 3}
          kv:
            <<: *more
            image: swarmlab/kv:2
    """).lstrip(), env={})
    assert project.services["web"] == {"image": "swarmlab/web:1", "environment": {"A": "1", "B": "2"},
                                       "deploy": {"replicas": 3}, "labels": {"a": "b"}}
    assert project.services["kv"] == {"labels": {"a": "b"}, "image": "swarmlab/kv:2"}
    assert project.line("services", "web", "environment") == 4
    err = refused(BASE.replace("web:\n", "web:\n    <<: {hostname: h}\n") + "    image: b\n")
    assert err.message == 'mapping key "image" already defined at line 5'
    err = refused(BASE + "    <<: [1]\n")
    assert err.message == "yaml: map merge requires map or sequence of maps as the value"


def test_merge_work_is_counted_as_it_would_be_copied():
    lines = ['version: "3.8"', "x-m0: &m0 {a: 1, b: 2}"]
    lines += [f"x-m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, 11)]
    assert stack.load("\n".join(lines) + "\nservices: {}\n", env={})  # 2^11 entries copied
    lines += [f"x-m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(11, 16)]
    err = refused("\n".join(lines) + "\nservices: {}\n")
    assert "once merge keys are expanded" in err.message


def test_scalars_files_and_nodes_at_their_limits(tmp_path):
    big = "a" * _yaml.MAX_SCALAR
    assert stack.load(BASE + f"    x-big: {big}\n", env={}).services["web"]["x-big"] == big
    assert "scalar too long" in refused(BASE + f"    x-big: {big}a\n").message
    path = tmp_path / "big.yml"
    path.write_text(BASE + "#" * _yaml.MAX_FILE_BYTES + "\n")
    err = refused(str(path))
    assert (err.file, err.line, err.message) == (str(path), 1, f"file too large: more than {_yaml.MAX_FILE_BYTES} bytes")
    assert refused("/dev/zero").message.startswith("file too large")
    keys = "".join(f"  k{i}: {i}\n" for i in range(_yaml.MAX_NODES // 2 - 10))
    assert stack.load(BASE + "x-many:\n" + keys, env={})
    assert "document too large" in refused(BASE + "x-many:\n" + keys + "".join(
        f"  j{i}: {i}\n" for i in range(20))).message


def test_interpolation_is_bounded():
    env = {"BIG": "x" * 100_000}
    assert stack.load(BASE + "    environment:\n      A: ${BIG}${BIG}\n", env=env)
    err = refused(BASE + "    environment:\n" + "".join(f"      V{i}: ${{BIG}}\n" for i in range(20)), env)
    assert err.line == 16 and err.key == "services.web.environment.V10"
    assert err.message.endswith(f"come to more than {_interpolate.MAX_INTERPOLATED} characters")


def test_stack_size_limits(tmp_path):
    many = 'version: "3.8"\nservices:\n' + "".join(f"  s{i}: {{image: a}}\n" for i in range(_convert.MAX_SERVICES))
    assert len(stack.load(many, env={}).services) == _convert.MAX_SERVICES
    err = refused(many + "  one-more: {image: a}\n")
    assert (err.line, err.key) == (2, "services") and err.message == (
        f"too many services: {_convert.MAX_SERVICES + 1}; a stack has at most "
        f"{_convert.MAX_SERVICES} in swarmlab")
    (tmp_path / "a.yml").write_text(many)
    (tmp_path / "b.yml").write_text('version: "3.8"\nservices:\n  extra: {image: a}\n')
    assert "too many services" in refused([str(tmp_path / "a.yml"), str(tmp_path / "b.yml")]).message
    assert stack.load(BASE + f"    deploy: {{replicas: {_convert.MAX_REPLICAS}}}\n", env={})
    err = refused(BASE + "    deploy:\n      replicas: ${N}\n", {"N": str(_convert.MAX_REPLICAS + 1)})
    assert err.line == 6 and "swarmlab's limit for one service" in err.message
    assert stack.load(BASE + '    ports: ["9000-9099:9000-9099"]\n', env={})
    err = refused(BASE + '    ports: ["9000-9099:9000-9099", "80"]\n')
    assert err.key == "services.web.ports[1]" and "too many ports" in err.message


def test_secret_and_config_files_at_swarmkits_limits(tmp_path):
    for kind, limit in (("secrets", _convert.MAX_SECRET_BYTES), ("configs", _convert.MAX_CONFIG_BYTES)):
        (tmp_path / "ok").write_bytes(b"x" * (limit - 1))
        (tmp_path / "big").write_bytes(b"x" * limit)
        text = BASE + f"    {kind}: [s]\n{kind}:\n  s:\n    file: ./FILE\n"
        assert stack.load(str(_write(tmp_path, text.replace("FILE", "ok"))), env={})
        err = refused(str(_write(tmp_path, text.replace("FILE", "big"))))
        assert err.line == 8 and err.message.endswith(
            f"{kind[:-1]} data must be larger than 0 and less than {limit} bytes")


def _write(tmp_path, text: str):
    path = tmp_path / "stack.yml"
    path.write_text(text)
    return path


def test_the_pure_python_loader_reads_the_same(monkeypatch):
    """Without libyaml the composer alone enforces the limits, and the data is the same."""
    texts = [stack.sample_path(n).read_text() for n in ("vote", "metrics")]
    with_c = [_yaml.parse(t, "f")[0] for t in texts]
    monkeypatch.setattr(_yaml, "_CParser", None)
    monkeypatch.setattr(_yaml, "_LOADERS", [_yaml._Loader])
    assert [_yaml.parse(t, "f")[0] for t in texts] == with_c
    for label in ("merge-bomb", "alias-bomb", "deep-flow-seq", "deep-block-map", "many-keys",
                  "self-alias", "huge-quoted-scalar"):
        make, words = HOSTILE[label]
        assert words in refused(make()).message, label


def test_long_values_cost_linear_time():
    import time
    start = time.perf_counter()
    project = stack.load(BASE + '    stop_grace_period: "' + "1h" * 50_000 + '"\n', env={})
    assert time.perf_counter() - start < SECONDS
    assert stack.plan(project, "s").services["s_web"]["TaskTemplate"]["ContainerSpec"][
        "StopGracePeriod"] == 50_000 * 3600 * 10**9


class _Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"the swarm was asked for {name}")


@pytest.mark.parametrize("label", sorted(HOSTILE))
def test_deploying_a_hostile_file_asks_the_swarm_nothing(label, tmp_path):
    path = tmp_path / "hostile.yml"
    path.write_text(HOSTILE[label][0]())
    lines: list[str] = []
    with pytest.raises(ComposeError) as e:
        stack.deploy(_Untouchable(), str(path), "h", lines.append, env=HOSTILE_ENV)
    assert e.value.file == str(path) and HOSTILE[label][1] in e.value.message
    assert lines == []


def test_characters_no_yaml_reader_takes_are_compose_errors():
    err = refused(BASE + "    x-a: \x00\n")
    assert err.line == 5 and err.message.startswith("yaml: unacceptable character #x0000")
    err = refused(BASE + "    x-a: \ud800\n")
    assert (err.line, err.message) == (5, "yaml: invalid Unicode character #xd800")
