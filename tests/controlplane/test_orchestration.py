"""Orchestrators: scale, global, jobs, restart policy, availability, node failure, history."""
import dataclasses
from collections import Counter

from cp_harness import Harness, job, web
from swarmlab.objects import (
    SECOND_NS, ContainerSpec, Global, GlobalJob, NodeState, Placement, RestartCondition,
    RestartPolicy, ServiceMode, ServiceSpec, TaskSpec, TaskState,
)


def scale(h, ref, replicas):
    svc = h.service(ref)
    spec = dataclasses.replace(svc.spec, mode=ServiceMode(
        replicated=dataclasses.replace(svc.spec.mode.replicated, replicas=replicas)))
    h.manager.update_service(svc.id, svc.version.index, spec)


def test_scale_up_and_down_keeps_slots():
    h = Harness(workers=3)
    s = h.manager.create_service(web(replicas=3))
    h.run_until(lambda: len(h.running(s.id)) == 3)
    scale(h, s.id, 6)
    h.run_until(lambda: len(h.running(s.id)) == 6)
    assert sorted(t.slot for t in h.running(s.id)) == [1, 2, 3, 4, 5, 6]
    scale(h, s.id, 2)
    h.run_until(lambda: len(h.running(s.id)) == 2 and len(h.tasks(s.id)) == 2)
    assert len({t.slot for t in h.running(s.id)}) == 2
    assert h.service(s.id).update_status is None  # scaling is not a rolling update


def test_global_service_follows_nodes():
    h = Harness(workers=2)
    g = h.manager.create_service(ServiceSpec(name="agent", task_template=TaskSpec(
        container_spec=ContainerSpec(image="swarmlab/worker:1")), mode=ServiceMode(global_=Global())))
    h.run_until(lambda: len(h.running(g.id)) == 3)
    from swarmlab.objects import NodeRole
    node = h.manager.join(h.manager.join_token(NodeRole.WORKER), "w9")
    from cp_harness import FakeAgent
    h.agents[node.id] = FakeAgent(h, node.id)
    h.names["w9"] = node.id
    h.run_until(lambda: len(h.running(g.id)) == 4)
    h.set_availability("w1", "drain")
    h.run_until(lambda: len(h.running(g.id)) == 3)
    assert "w1" not in {h.node_name(t.node_id) for t in h.running(g.id)}
    per_node = Counter(t.node_id for t in h.tasks(g.id) if t.desired_state == TaskState.RUNNING)
    assert max(per_node.values()) == 1
    h.set_availability("w1", "active")
    h.run_until(lambda: len(h.running(g.id)) == 4)


def test_global_constraint_change_sheds_tasks():
    h = Harness(workers=2, labels={"w1": {"gpu": "yes"}})
    g = h.manager.create_service(ServiceSpec(name="gpu", task_template=TaskSpec(
        container_spec=ContainerSpec(image="x:1"),
        placement=Placement(constraints=("node.labels.gpu==yes",))),
        mode=ServiceMode(global_=Global())))
    h.run_until(lambda: len(h.running(g.id)) == 1)
    h.set_labels("w2", {"gpu": "yes"})
    h.run_until(lambda: len(h.running(g.id)) == 2)
    h.set_labels("w1", {})
    h.run_until(lambda: len(h.running(g.id)) == 1)
    assert h.node_name(h.running(g.id)[0].node_id) == "w2"


def test_drain_moves_tasks_and_pause_does_not():
    h = Harness(workers=3)
    s = h.manager.create_service(web(replicas=8))
    h.run_until(lambda: len(h.running(s.id)) == 8)
    on_w1 = {t.id for t in h.running(s.id) if h.node_name(t.node_id) == "w1"}
    h.set_availability("w1", "pause")
    h.run(3)
    assert {t.id for t in h.running(s.id) if h.node_name(t.node_id) == "w1"} == on_w1
    scale(h, s.id, 10)
    h.run_until(lambda: len(h.running(s.id)) == 10)
    assert {t.id for t in h.running(s.id) if h.node_name(t.node_id) == "w1"} == on_w1
    h.set_availability("w1", "drain")
    h.run_until(lambda: len(h.running(s.id)) == 10 and all(
        h.node_name(t.node_id) != "w1" for t in h.running(s.id)))
    old = [t for t in h.tasks(s.id) if t.id in on_w1]
    h.run_until(lambda: all(h.store.view().task(i).status.state == TaskState.SHUTDOWN
                            for i in on_w1))
    assert all(t.desired_state == TaskState.SHUTDOWN for t in old)


def test_node_that_misses_heartbeats_goes_down_and_its_tasks_move():
    h = Harness(workers=3)
    s = h.manager.create_service(web(replicas=6))
    h.run_until(lambda: len(h.running(s.id)) == 6)
    h.kill("w2")
    took = h.run_until(lambda: h.node("w2").status.state == NodeState.DOWN, timeout_s=10)
    assert 2.0 <= took <= 4.5  # lab profile: 1 s heartbeats, 3 missed
    assert h.node("w2").status.message == "heartbeat failure"
    w2 = h.names["w2"]
    h.run_until(lambda: len([t for t in h.running(s.id) if t.node_id != w2]) == 6)
    h.revive("w2")
    h.run_until(lambda: h.node("w2").status.state == NodeState.READY)
    h.run_until(lambda: not [t for t in h.tasks(s.id) if t.node_id == w2
                             and t.status.state == TaskState.RUNNING])


def test_restart_policy_any_with_delay():
    h = Harness(workers=1)
    policy = RestartPolicy(condition=RestartCondition.ANY, delay=2 * SECOND_NS)
    s = h.manager.create_service(web(replicas=1, image="x:exit0", restart_policy=policy))
    h.run_until(lambda: any(t.status.state == TaskState.COMPLETE for t in h.tasks(s.id)))
    done_at = h.clock.now_ns()
    h.run_until(lambda: any(t.status.state == TaskState.RUNNING for t in h.tasks(s.id)
                            if t.desired_state == TaskState.RUNNING))
    assert h.clock.now_ns() - done_at >= 2 * SECOND_NS  # waited the restart delay
    assert {t.slot for t in h.tasks(s.id)} == {1}


def test_restart_condition_on_failure_none_and_max_attempts():
    h = Harness(workers=1)
    on_failure = RestartPolicy(condition=RestartCondition.ON_FAILURE, delay=0)
    ok = h.manager.create_service(web("ok", replicas=1, image="x:exit0", restart_policy=on_failure))
    none = RestartPolicy(condition=RestartCondition.NONE)
    nr = h.manager.create_service(web("nr", replicas=1, image="x:broken", restart_policy=none))
    capped = RestartPolicy(condition=RestartCondition.ANY, delay=0, max_attempts=2)
    cp = h.manager.create_service(web("cp", replicas=1, image="x:broken", restart_policy=capped))
    h.run(20)
    assert [t.status.state for t in h.tasks(ok.id)] == [TaskState.COMPLETE]
    assert [t.status.state for t in h.tasks(nr.id)] == [TaskState.FAILED]
    states = [t.status.state for t in h.tasks(cp.id)]
    assert states == [TaskState.FAILED] * 3  # the first run and 2 restarts


def test_task_history_retention():
    h = Harness(workers=1)
    fast = RestartPolicy(delay=0)
    s = h.manager.create_service(web(replicas=1, image="x:broken", restart_policy=fast))
    h.run(30)
    tasks = h.tasks(s.id)
    assert len(tasks) == 5 and {t.slot for t in tasks} == {1}
    assert sum(t.desired_state == TaskState.RUNNING for t in tasks) == 1


def test_replicated_job_runs_to_total_completions():
    h = Harness(workers=2)
    j = h.manager.create_service(job("batch", total=5, concurrent=2))
    h.run_until(lambda: sum(t.status.state == TaskState.COMPLETE for t in h.tasks(j.id)) == 5)
    h.run(3)
    assert len(h.tasks(j.id)) == 5
    g = h.manager.create_service(ServiceSpec(name="gjob", task_template=TaskSpec(
        container_spec=ContainerSpec(image="x:exit0")), mode=ServiceMode(global_job=GlobalJob())))
    h.run_until(lambda: sum(t.status.state == TaskState.COMPLETE for t in h.tasks(g.id)) == 3)
    h.run(3)
    assert len(h.tasks(g.id)) == 3


def test_remove_service_removes_its_tasks():
    h = Harness(workers=2)
    s = h.manager.create_service(web(replicas=4))
    h.run_until(lambda: len(h.running(s.id)) == 4)
    h.manager.remove_service("web")
    h.run_until(lambda: not h.tasks(s.id))


def test_scale_down_keeps_replicas_spread():
    h = Harness(workers=3)
    s = h.manager.create_service(web(replicas=4))
    h.run_until(lambda: len(h.running(s.id)) == 4)
    h.set_availability("w1", "pause")
    scale(h, s.id, 8)  # w1 takes none of the 4 new ones
    h.run_until(lambda: len(h.running(s.id)) == 8)
    assert Counter(h.node_name(t.node_id) for t in h.running(s.id))["w1"] == 1
    scale(h, s.id, 4)
    h.run_until(lambda: len(h.tasks(s.id)) == 4)
    assert sorted(Counter(t.node_id for t in h.running(s.id)).values()) == [1, 1, 1, 1]


def test_global_service_rolling_update_keeps_one_task_per_node():
    from swarmlab.objects import UpdateConfig, UpdateState
    h = Harness(workers=3)
    spec = ServiceSpec(name="agent", task_template=TaskSpec(
        container_spec=ContainerSpec(image="x:1")), mode=ServiceMode(global_=Global()),
        update_config=UpdateConfig(parallelism=2, monitor=SECOND_NS))
    g = h.manager.create_service(spec)
    h.run_until(lambda: len(h.running(g.id)) == 4)
    svc = h.service(g.id)
    c = dataclasses.replace(svc.spec.task_template.container_spec, image="x:2")
    h.manager.update_service(g.id, svc.version.index, dataclasses.replace(
        svc.spec, task_template=dataclasses.replace(svc.spec.task_template, container_spec=c)))
    h.run_until(lambda: h.service(g.id).update_status.state == UpdateState.COMPLETED)
    running = h.running(g.id)
    assert {t.spec.container_spec.image for t in running} == {"x:2"}
    assert sorted(Counter(t.node_id for t in running).values()) == [1, 1, 1, 1]


def test_forcing_a_job_runs_it_again():
    h = Harness(workers=1)
    j = h.manager.create_service(job("batch", total=2, concurrent=2))
    h.run_until(lambda: sum(t.status.state == TaskState.COMPLETE for t in h.tasks(j.id)) == 2)
    svc = h.service(j.id)
    tt = dataclasses.replace(svc.spec.task_template, force_update=1)
    h.manager.update_service(j.id, svc.version.index, dataclasses.replace(svc.spec, task_template=tt))
    assert h.service(j.id).job_status.job_iteration.index == 1
    h.run_until(lambda: sum(t.status.state == TaskState.COMPLETE for t in h.tasks(j.id)) == 4)
    assert {t.job_iteration.index for t in h.tasks(j.id)} == {0, 1}


def test_a_delayed_restart_is_placed_while_it_waits_and_moved_off_a_drained_node():
    """swarmkit's order: the replacement (desired `ready`) is placed at once, so its node
    prepares it during the delay; if that node is drained meanwhile, it is replaced."""
    h = Harness(workers=2)
    policy = RestartPolicy(condition=RestartCondition.ANY, delay=30 * SECOND_NS)
    s = h.manager.create_service(web(replicas=1, image="x:exit0", restart_policy=policy))
    h.run_until(lambda: any(t.desired_state == TaskState.READY for t in h.tasks(s.id)))
    h.run(1)
    [waiting] = [t for t in h.tasks(s.id) if t.desired_state == TaskState.READY]
    assert waiting.node_id and TaskState.ASSIGNED <= waiting.status.state <= TaskState.READY
    h.set_availability(h.node_name(waiting.node_id), "drain")
    h.run(1)
    moved = [t for t in h.tasks(s.id) if t.desired_state <= TaskState.RUNNING]
    assert len(moved) == 1 and moved[0].id != waiting.id
    assert moved[0].node_id and moved[0].node_id != waiting.node_id
    assert [t.desired_state for t in h.tasks(s.id) if t.id == waiting.id] == [TaskState.SHUTDOWN]
