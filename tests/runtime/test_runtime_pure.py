"""Pure parts of the runtime: the address plan, the health rules, file targets."""
from __future__ import annotations

import ipaddress

import pytest

from swarmlab.net import AddressPool, node_network
from swarmlab.runtime import HealthCheck, TaskRejected, TaskState
from swarmlab.net.addresses import AddressPoolExhausted, task_port
from swarmlab.runtime.files import config_path, secret_path
from swarmlab.runtime.health import HealthPolicy, probe_argv


def test_each_node_owns_a_16_with_vips_first_then_tasks():
    assert node_network(1) == ipaddress.IPv4Network("127.101.0.0/16")
    tasks, vips = AddressPool.for_tasks(1), AddressPool.for_vips(1)
    assert tasks.allocate("t1") == "127.101.1.1"
    assert vips.allocate("www") == "127.101.0.1"
    with pytest.raises(ValueError):
        node_network(155)


def test_addresses_are_not_reused_at_once_and_skip_0_and_255():
    pool = AddressPool(ipaddress.IPv4Address("127.1.0.254"), ipaddress.IPv4Address("127.1.1.2"))
    assert [pool.allocate(k) for k in "abc"] == ["127.1.0.254", "127.1.1.1", "127.1.1.2"]
    assert pool.allocate("a") == "127.1.0.254"  # same key, same address
    with pytest.raises(AddressPoolExhausted):
        pool.allocate("d")
    pool.release("a")
    pool.release("c")
    assert pool.allocate("e") == "127.1.0.254"  # walks on from c, wraps to the free one
    assert pool.allocate("f") == "127.1.1.2"
    assert len(pool) == 3


def test_low_ports_are_remapped_without_privilege():
    assert task_port(80, privileged=True) == 80
    assert task_port(80, privileged=False) == 10080
    assert task_port(8080, privileged=False) == 8080


def check(retries=3, start=0.0) -> HealthCheck:
    return HealthCheck(("CMD", "true"), interval_s=1, timeout_s=1, retries=retries, start_period_s=start)


def test_health_needs_retries_failures_in_a_row():
    policy = HealthPolicy(check(retries=3), started_at=0.0)
    assert policy.status == "starting"
    assert [policy.record(t, False, "no") for t in (1, 2)] == ["starting", "starting"]
    assert policy.record(3, True, "ok") == "healthy" and policy.failing_streak == 0
    assert [policy.record(t, False, "no") for t in (4, 5, 6)] == ["healthy", "healthy", "unhealthy"]
    assert policy.state().failing_streak == 3 and len(policy.state().log) == 5


def test_failures_during_start_period_do_not_count_but_a_success_does():
    policy = HealthPolicy(check(retries=1, start=10.0), started_at=0.0)
    assert policy.record(5, False, "not yet") == "starting" and policy.failing_streak == 0
    assert policy.record(10, False, "no") == "unhealthy"
    early = HealthPolicy(check(retries=1, start=10.0), started_at=0.0)
    assert early.record(2, True, "ok") == "healthy"
    assert early.record(3, False, "no") == "unhealthy"  # once healthy, the start period is over


def test_health_test_forms():
    assert probe_argv(("CMD", "curl", "-f", "x")) == ["curl", "-f", "x"]
    assert probe_argv(("CMD-SHELL", "curl -f x || exit 1")) == ["/bin/sh", "-c", "curl -f x || exit 1"]
    assert HealthCheck(("NONE",)).disabled
    with pytest.raises(ValueError):
        probe_argv(("SHELL", "x"))


def test_file_targets_stay_inside_the_task_view():
    assert str(secret_path("password")) == "run/secrets/password"
    assert str(secret_path("/etc/app/key")) == "etc/app/key"
    assert str(config_path("/app.conf")) == "app.conf"
    for bad in ("../x", "/run/../../etc/passwd", ""):
        with pytest.raises(TaskRejected):
            secret_path(bad)


def test_task_states_are_ordered_and_named_as_docker():
    from swarmlab.objects import TaskState as ObjectModelTaskState
    assert TaskState is ObjectModelTaskState  # one TaskState, the object model's
    assert TaskState.PREPARING < TaskState.RUNNING < TaskState.COMPLETE < TaskState.REJECTED
    assert TaskState.RUNNING.value == "running" and TaskState.FAILED.terminal
    assert not TaskState.RUNNING.terminal


def test_the_lab_images_check_is_recognised_for_the_in_process_probe():
    import sys

    from swarmlab.runtime.images import builtin_http_check
    assert builtin_http_check(("CMD", "python3", "-m", "swarmlab.workloads.healthcheck")) == "/health"
    assert builtin_http_check(("CMD", sys.executable, "-m", "swarmlab.workloads.healthcheck", "/ok")) == "/ok"
    assert builtin_http_check(("CMD-SHELL", "python3 -m swarmlab.workloads.healthcheck")) is None
    assert builtin_http_check(("CMD", "curl", "-f", "http://localhost/")) is None


def test_start_interval_applies_only_while_starting_in_the_start_period():
    c = HealthCheck(("CMD", "true"), interval_s=30, retries=3, start_period_s=10, start_interval_s=0.5)
    policy = HealthPolicy(c, started_at=100.0)
    assert policy.next_delay(101) == 0.5
    assert policy.next_delay(111) == 30  # start period over
    policy.record(102, True, "ok")
    assert policy.next_delay(103) == 30  # healthy: the normal interval
    assert HealthPolicy(check(), started_at=0).next_delay(0) == 1  # no start interval


def test_the_task_root_is_known_to_be_on_tmpfs():
    from pathlib import Path

    from swarmlab.runtime.process.executor import SHM_ROOT, filesystem_type
    assert filesystem_type(SHM_ROOT / "x" / "y") == "tmpfs"
    assert filesystem_type(Path("/proc/self")) == "proc"
