"""Docker's units read once: a compose file and a flag give the Engine API the same number."""
from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, strategies as st

from swarmlab import stack
from swarmlab.cli import build_parser
from swarmlab.cli._service_spec import create_spec
from swarmlab.stack._units import duration_ns, nano_cpus, ram_bytes
from swarmlab.units import format_duration, parse_cpus, parse_duration, ram_in_bytes

S = 1_000_000_000


def _flag_spec(flags: str) -> dict:
    args = build_parser().parse_args(f"service create {flags} nginx".split())
    return create_spec(args, lambda kind, names: {n: n for n in names})


def _compose_spec(resources: str) -> dict:
    text = textwrap.dedent("""\
        version: "3.8"
        services:
          web:
            image: nginx
            deploy:
              resources:
        """) + textwrap.indent(textwrap.dedent(resources), " " * 8)
    return stack.plan(stack.load(text, env={}), "s").services["s_web"]


def test_compose_cpus_finer_than_a_float_deploys_as_docker_reads_it():
    spec = _compose_spec("""\
        limits:
          cpus: "1.000000001"
          memory: 1.5GiB
        reservations:
          cpus: "0.25"
        """)
    resources = spec["TaskTemplate"]["Resources"]
    assert resources["Limits"] == {"NanoCPUs": 1_000_000_001, "MemoryBytes": 3 << 29}
    assert resources["Reservations"] == {"NanoCPUs": 250_000_000}


def test_the_limit_cpu_flag_and_compose_agree():
    flags = _flag_spec("--limit-cpu 1.000000001 --limit-memory 1.5GiB --reserve-cpu 0.25")
    compose = _compose_spec('limits: {cpus: "1.000000001", memory: 1.5GiB}\n'
                            'reservations: {cpus: "0.25"}\n')
    assert flags["TaskTemplate"]["Resources"] == compose["TaskTemplate"]["Resources"]


def test_a_compose_file_too_precise_for_docker_is_refused_in_docker_words():
    with pytest.raises(stack.ComposeError, match="value is too precise"):
        _compose_spec('limits: {cpus: "0.0000000001"}\n')


@pytest.mark.parametrize("text,nano", [
    ("0.5", 500_000_000), ("2", 2 * S), ("1.000000001", 1_000_000_001), ("1/4", 250_000_000),
    ("1e-9", 1), ("2.5E1", 25 * S), (".5", 500_000_000), ("-1", -S), ("+0.5", 500_000_000),
])
def test_cpus_are_exact_rationals_as_big_rat(text, nano):
    assert parse_cpus(text) == nano == nano_cpus(text)


@pytest.mark.parametrize("text,message", [
    ("0.0000000001", "value is too precise"), ("1/3", "value is too precise"),
    ("lots", "failed to parse lots as a rational number"),
    ("1/0", "failed to parse 1/0 as a rational number"),
    (" 1", "failed to parse  1 as a rational number"),
    ("1_0", "failed to parse 1_0 as a rational number"),
    ("1e9999999", "failed to parse 1e9999999 as a rational number"),
])
def test_cpus_refused_with_dockers_words(text, message):
    for parse in (parse_cpus, nano_cpus):
        with pytest.raises(ValueError, match=f"^{message}$"):
            parse(text)


def test_yaml_numbers_are_read_as_their_text():
    assert nano_cpus(0.5) == 500_000_000 and nano_cpus(2) == 2 * S and nano_cpus(1e-05) == 10_000
    assert ram_bytes(42) == 42


@pytest.mark.parametrize("text,ns", [
    ("1h2m3.5s", 3_723_500_000_000), ("0", 0), ("-0", 0), ("+5s", 5 * S), ("300us", 300_000),
    ("1.5h", 5400 * S), ("1.000000001s", S + 1), ("0.1ns", 0), ("2562047h47m16.854775807s", 2**63 - 1),
    ("-2562047h47m16.854775808s", -2**63),
])
def test_durations_are_gos(text, ns):
    assert parse_duration(text) == ns == duration_ns(text)


@pytest.mark.parametrize("text,message", [
    ("10", 'time: missing unit in duration "10"'),
    ("1.2.3s", 'time: missing unit in duration "1.2.3s"'),
    ("10 s", 'time: unknown unit " s" in duration "10 s"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("s", 'time: invalid duration "s"'), (".s", 'time: invalid duration ".s"'),
    ("-", 'time: invalid duration "-"'), ("", 'time: invalid duration ""'),
    ("2562047h47m16.854775808s", 'time: invalid duration "2562047h47m16.854775808s"'),
    ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
])
def test_bad_durations_use_gos_words_on_both_paths(text, message):
    for parse in (parse_duration, duration_ns):
        with pytest.raises(ValueError, match=f"^{message}$"):
            parse(text)


def test_flag_and_compose_durations_agree():
    flags = _flag_spec("--update-delay 1m30s --stop-grace-period 1.5s")
    text = textwrap.dedent("""\
        version: "3.8"
        services:
          web:
            image: nginx
            stop_grace_period: 1.5s
            deploy:
              update_config: {delay: 1m30s}
        """)
    compose = stack.plan(stack.load(text, env={}), "s").services["s_web"]
    assert flags["UpdateConfig"]["Delay"] == compose["UpdateConfig"]["Delay"] == 90 * S
    grace = "StopGracePeriod"
    assert flags["TaskTemplate"]["ContainerSpec"][grace] == \
        compose["TaskTemplate"]["ContainerSpec"][grace] == 3 * S // 2


@pytest.mark.parametrize("text,size", [
    ("512m", 512 << 20), ("1G", 1 << 30), ("1.5GiB", 3 << 29), ("100", 100), ("10 KB", 10 << 10),
    ("1.1k", 1126),
])
def test_sizes_are_go_units(text, size):
    assert ram_in_bytes(text) == size == ram_bytes(text)


@pytest.mark.parametrize("text", ["12XB", "lots", "1 gig", "-1m", "١m"])
def test_bad_sizes_are_refused_on_both_paths(text):
    for parse in (ram_in_bytes, ram_bytes):
        with pytest.raises(ValueError, match=f"^invalid size: '{text}'$"):
            parse(text)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_any_duration_round_trips_through_gos_text(ns):
    assert parse_duration(format_duration(ns)) == ns
