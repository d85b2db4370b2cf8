"""The dispatcher: sessions, heartbeats per profile, assignments, forward-only reports."""
import ast
import dataclasses
import pathlib
import random

import pytest

from cp_harness import Harness, web
from swarmlab.clock import ManualClock
from swarmlab.objects import (
    SECOND_NS, NodeState, NotFound, SecretReference, SecretSpec,
    ConfigReference, ConfigSpec, TaskState, TaskStatus,
)
from swarmlab.dispatcher import LEADERSHIP_CHANGE, Dispatcher, SessionInvalid
from swarmlab.manager import Manager
from swarmlab.profiles import LAB, SWARM
from swarmlab.store import MemoryStore

import swarmlab

# the object model and the control plane; time reaches them only through an injected
# clock (swarmlab/clock.py, the one module that reads real time, stands outside)
CORE = ["objects", "store", "scheduler", "orchestrator", "dispatcher", "manager"]


def test_heartbeat_period_follows_the_timing_profile():
    store, clock = MemoryStore(), ManualClock()
    swarm = Dispatcher.for_profile(store, clock, random.Random(0), SWARM)
    lab = Dispatcher.for_profile(store, clock, random.Random(0), LAB)
    assert swarm.heartbeat_period_ns == 5 * SECOND_NS  # Docker's default
    assert lab.heartbeat_period_ns < swarm.heartbeat_period_ns
    m = Manager(store, clock, random.Random(0), profile=SWARM)
    assert m.dispatcher.heartbeat_period_ns == 5 * SECOND_NS


def test_unknown_node_cannot_register_and_a_stale_session_must_register_again():
    h = Harness(workers=1)
    with pytest.raises(NotFound, match="node nosuch not found"):
        h.manager.dispatcher.register("nosuch")
    w1 = h.names["w1"]
    with pytest.raises(SessionInvalid):
        h.manager.dispatcher.heartbeat(w1, "not-my-session")
    h.manager.dispatcher.reset()  # as a new leader would
    with pytest.raises(SessionInvalid):
        h.manager.dispatcher.heartbeat(w1, h.agents[w1].session)
    h.run(0.3)  # the fake agent finds out, registers again and carries on
    assert h.agents[w1].session
    assert h.manager.dispatcher.heartbeat(w1, h.agents[w1].session) > 0


def test_assignments_carry_only_what_the_node_needs():
    h = Harness(workers=2)
    sec = h.manager.create_secret(SecretSpec(name="db-pass", data="c2VjcmV0"))
    other = h.manager.create_secret(SecretSpec(name="unused", data="eA=="))
    cfg = h.manager.create_config(ConfigSpec(name="app.conf", data="eA=="))
    spec = web(replicas=1)
    c = dataclasses.replace(spec.task_template.container_spec,
                            secrets=(SecretReference(secret_id=sec.id, secret_name="db-pass"),),
                            configs=(ConfigReference(config_id=cfg.id, config_name="app.conf"),))
    spec = dataclasses.replace(spec, task_template=dataclasses.replace(
        spec.task_template, container_spec=c))
    s = h.manager.create_service(spec)
    h.run_until(lambda: len(h.running(s.id)) == 1)
    [task] = h.running(s.id)
    for nid, agent in h.agents.items():
        work = h.manager.dispatcher.assignments(nid, agent.session)
        if nid == task.node_id:
            assert [t.id for t in work.tasks] == [task.id]
            assert [x.id for x in work.secrets] == [sec.id] and [x.id for x in work.configs] == [cfg.id]
        else:
            assert work.tasks == [] and work.secrets == [] and work.configs == []
    assert other.id not in {x.id for x in work.secrets}


def test_status_reports_only_move_forward_and_only_for_own_tasks():
    h = Harness(workers=2)
    s = h.manager.create_service(web(replicas=1))
    h.run_until(lambda: len(h.running(s.id)) == 1)
    [task] = h.running(s.id)
    d = h.manager.dispatcher
    owner = h.agents[task.node_id]
    stranger = next(a for nid, a in h.agents.items() if nid != task.node_id)
    back = TaskStatus(timestamp=h.clock.now_ns(), state=TaskState.STARTING)
    assert d.update_task_status(owner.node_id, owner.session, [(task.id, back)]) == [task.id]
    fail = TaskStatus(timestamp=h.clock.now_ns(), state=TaskState.FAILED, err="boom")
    assert d.update_task_status(stranger.node_id, stranger.session, [(task.id, fail)]) == [task.id]
    assert h.store.view().task(task.id).status.state == TaskState.RUNNING
    assert d.update_task_status(owner.node_id, owner.session, [(task.id, fail)]) == []
    assert h.store.view().task(task.id).status.err == "boom"


def test_batched_reports_are_committed_together_by_the_next_tick():
    """The agent's managers queue reports (a heartbeat never waits for Raft): every
    node's reports become one store write at the next tick, with the same rules."""
    h = Harness(workers=2, replicas=2)
    s = h.manager.create_service(web(replicas=2))
    h.run_until(lambda: len(h.running(s.id)) == 2)
    d = h.manager.dispatcher
    d.batch_status = True
    tasks = h.running(s.id)
    index = h.store.index
    fails = {}
    for t in tasks:
        agent = h.agents[t.node_id]
        fails[t.id] = TaskStatus(timestamp=h.clock.now_ns(), state=TaskState.FAILED, err="boom")
        assert d.update_task_status(agent.node_id, agent.session, [(t.id, fails[t.id])]) == []
    assert h.store.index == index  # queued, not written
    assert all(h.store.view().task(t.id).status.state == TaskState.RUNNING for t in tasks)
    stranger = next(a for nid, a in h.agents.items() if nid != tasks[0].node_id)
    back = TaskStatus(timestamp=h.clock.now_ns(), state=TaskState.STARTING)
    d.update_task_status(stranger.node_id, stranger.session, [("nosuch", back)])
    assert d.flush_task_status() == ["nosuch"]
    assert h.store.index == index + 1  # one write for both nodes' reports
    assert all(h.store.view().task(t.id).status.err == "boom" for t in tasks)
    assert d.flush_task_status() == []  # nothing queued any more


def test_a_leader_change_gives_nodes_a_grace_period():
    h = Harness(workers=2, replicas=2)
    h.run(1)
    h.kill("w1")
    h.failover(1)
    h.step()
    w1 = h.node("w1")
    assert w1.status.state == NodeState.UNKNOWN  # not marked down at once
    assert w1.status.message == LEADERSHIP_CHANGE
    h.run_until(lambda: h.node("w2").status.state == NodeState.READY, timeout_s=2)
    h.run_until(lambda: h.node("w1").status.state == NodeState.DOWN, timeout_s=5)
    assert h.node("w2").status.state == NodeState.READY


def _imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_cores_use_no_wall_clock_threads_or_global_randomness():
    root = pathlib.Path(swarmlab.__file__).parent
    for pkg in CORE:
        paths = list((root / pkg).glob("*.py"))
        assert paths, f"no package {pkg}: the layout moved, update CORE"
        for path in paths:
            text = path.read_text()
            bad = _imports(path) & {"asyncio", "threading", "socket", "subprocess", "time"}
            assert not bad, f"{path.name} imports {bad}"
            assert "random.random(" not in text and "random.choice(" not in text, path
            assert "time.time" not in text and "datetime.now" not in text, path


def test_a_tick_that_loses_leadership_mid_write_reports_and_goes_on():
    h = Harness(workers=1)
    h.run(0.5)  # the nodes registered again after the first leader's reset: ready

    class Refusing:
        def propose(self, command):
            raise RuntimeError("not the leader (leader is 2)")
    h.store.proposer = Refusing()
    h.manager._leading = False  # as if just elected: reset() must write, and fails
    report = h.manager.tick()
    assert "not the leader" in report.errors["dispatcher"]
    h.store.proposer = h.stores[1].proposer if len(h.stores) > 1 else _local(h)
    report = h.manager.tick()
    assert not report.errors


def _local(h):
    from swarmlab.store import LocalProposer
    return LocalProposer(h.store)


def test_a_batched_report_equal_to_the_stored_status_is_not_queued():
    """An agent repeats every task's status in each heartbeat: only a status that differs
    from the store's is queued, so an idle node's heartbeat wakes no tick."""
    h = Harness(workers=1, replicas=1)
    s = h.manager.create_service(web(replicas=1))
    h.run_until(lambda: len(h.running(s.id)) == 1)
    d = h.manager.dispatcher
    d.batch_status = True
    (t,) = h.running(s.id)
    agent = h.agents[t.node_id]
    assert d.update_task_status(agent.node_id, agent.session, [(t.id, t.status)]) == []
    assert not d.reports_queued
    failed = TaskStatus(timestamp=h.clock.now_ns(), state=TaskState.FAILED, err="boom")
    d.update_task_status(agent.node_id, agent.session, [(t.id, failed)])
    assert d.reports_queued
    d.update_task_status(agent.node_id, agent.session, [(t.id, t.status)])  # the latest report of a queued task replaces it
    assert d.reports_queued
    d.flush_task_status()
    assert not d.reports_queued


def test_a_report_without_a_time_gets_the_managers_and_keeps_it_when_repeated():
    """A node that finds a task lost after a restart reports it at once; a status with no
    time would be Docker's zero time, "Failed 56 years ago" in `service ps`."""
    h = Harness(workers=2)
    s = h.manager.create_service(web(replicas=1))
    h.run_until(lambda: len(h.running(s.id)) == 1)
    [task] = h.running(s.id)
    d, owner = h.manager.dispatcher, h.agents[task.node_id]
    h.clock.advance(5 * SECOND_NS)
    lost = TaskStatus(state=TaskState.FAILED, message="lost", err="task: the node restarted")
    assert d.update_task_status(owner.node_id, owner.session, [(task.id, lost)]) == []
    stored = h.store.view().task(task.id).status
    assert stored.state == TaskState.FAILED and stored.timestamp == h.clock.now_ns()
    version = h.store.view().task(task.id).version
    h.clock.advance(SECOND_NS)
    assert d.update_task_status(owner.node_id, owner.session, [(task.id, lost)]) == []
    assert h.store.view().task(task.id).status.timestamp == stored.timestamp
    assert h.store.view().task(task.id).version == version  # no write for a repeat
