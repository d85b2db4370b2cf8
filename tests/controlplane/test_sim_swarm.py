"""The control plane whole in the simulator: 3 managers over Raft, fake agents, one seed."""
from __future__ import annotations

import os
from dataclasses import replace

import pytest

from swarmlab.objects import (
    ContainerSpec, NodeAvailability, Placement, Replicated, ServiceMode,
    ServiceSpec, TaskSpec, TaskState, UpdateConfig, UpdateState, from_json,
)
from swarmlab.sim.swarm import SwarmSim
from swarmlab.sim.swarm_nemesis import SwarmChecker, SwarmNemesis, sweep


def spec(name: str, replicas: int, image: str = "swarmlab/web:1", **kw) -> ServiceSpec:
    return ServiceSpec(name=name, mode=ServiceMode(replicated=Replicated(replicas=replicas)),
                       task_template=TaskSpec(container_spec=ContainerSpec(image=image),
                                              placement=kw.pop("placement", None)), **kw)


def service(sim: SwarmSim, name: str):
    return next(s for s in sim.view().services() if s.spec.name == name)


def test_same_seed_same_run():
    def run(seed):
        sim = SwarmSim(seed)
        sim.api().create_service(spec("web", 5))
        sim.run_for(3)
        return sorted((t.slot, sim.names[t.node_id], t.status.state.name)
                      for t in sim.view().all("task"))
    assert run(4) == run(4)


def test_converges_while_the_leader_is_killed_and_restarted():
    sim = SwarmSim(7)
    checker = SwarmChecker()
    sim.api().create_service(spec("web", 6))
    for round_ in range(3):
        leader = sim.managers[sim.wait_leader()].node_id
        sim.kill(leader)
        assert sim.run_until(lambda: sim.leader() is not None, 10), "no new leader"
        m = sim.api()
        s = service(sim, "web")
        m.update_service(s.id, s.version.index, replace(
            s.spec, mode=ServiceMode(replicated=Replicated(replicas=6 + round_))))
        ok = sim.run_until(lambda: (checker.check(sim) or True) and len(sim.running("web")) ==
                           6 + round_ and all(t.node_id != leader for t in sim.running("web")), 30)
        assert ok, f"round {round_}: did not converge without the dead leader"
        sim.restart(leader)
        sim.run_for(2)


def test_drain_moves_tasks_and_pause_does_not():
    sim = SwarmSim(11, workers=3)
    sim.api().create_service(spec("web", 6))
    assert sim.run_until(lambda: len(sim.running("web")) == 6, 20)
    w1, w2 = sim.node_id("worker1"), sim.node_id("worker2")
    on = lambda n: [t.id for t in sim.running("web") if t.node_id == n]  # noqa: E731
    before = on(w1)
    assert before
    node = sim.view().node(w1)
    sim.api().update_node(w1, node.version.index, replace(node.spec, availability=NodeAvailability.PAUSE))
    sim.run_for(3)
    assert on(w1) == before, "pause keeps the running tasks"
    node = sim.view().node(w2)
    kept = on(w2)
    sim.api().update_node(w2, node.version.index, replace(node.spec, availability=NodeAvailability.DRAIN))
    assert sim.run_until(lambda: not on(w2) and len(sim.running("web")) == 6, 20)
    assert kept, "worker2 had tasks to move"
    assert on(w1) == before, "a paused node takes no new tasks"


def test_rolling_update_12_by_3_in_4_batches_then_automatic_rollback():
    sim = SwarmSim(5, workers=3)
    uc = from_json(UpdateConfig, {"Parallelism": 3, "Delay": 0, "FailureAction": "rollback",
                                  "Monitor": 2_000_000_000})
    sim.api().create_service(spec("web", 12, update_config=uc))
    assert sim.run_until(lambda: len(sim.running("web")) == 12, 30)
    s = service(sim, "web")
    new = replace(s.spec, task_template=replace(
        s.spec.task_template, container_spec=ContainerSpec(image="swarmlab/web:2")))
    sim.api().update_service(s.id, s.version.index, new)
    assert sim.run_until(lambda: (service(sim, "web").update_status or None) is not None and
                         service(sim, "web").update_status.state == UpdateState.COMPLETED, 60)
    v2 = [t for t in sim.view().tasks(s.id) if t.spec.container_spec.image == "swarmlab/web:2"]
    batches = sorted({t.created_at for t in v2})
    assert len(v2) == 12 and len(batches) == 4, f"{len(v2)} new tasks in {len(batches)} batches"
    # now a version that fails: the update rolls itself back
    s = service(sim, "web")
    bad = replace(s.spec, task_template=replace(
        s.spec.task_template, container_spec=ContainerSpec(image="swarmlab/web:broken")))
    sim.api().update_service(s.id, s.version.index, bad)
    done = lambda: (st := service(sim, "web").update_status) is not None and \
        st.state == UpdateState.ROLLBACK_COMPLETED  # noqa: E731
    assert sim.run_until(done, 90), f"no automatic rollback: {service(sim, 'web').update_status}"
    assert sim.run_until(lambda: {t.spec.container_spec.image for t in sim.running("web")}
                         == {"swarmlab/web:2"} and len(sim.running("web")) == 12, 60)


def test_unschedulable_task_explains_why():
    sim = SwarmSim(3)
    sim.api().create_service(spec("east", 1, placement=Placement(
        constraints=("node.labels.dc==east",))))
    sim.run_for(2)
    tasks = sim.view().tasks(service(sim, "east").id)
    assert tasks and all(t.status.state == TaskState.PENDING for t in tasks)
    err = tasks[0].status.err
    assert err.startswith("no suitable node") and "node.labels.dc==east" in err, err


@pytest.mark.parametrize("seed", [1, 2])
def test_swarm_nemesis_seed(seed):
    r = SwarmNemesis(seed).run(15.0)
    assert r.ok, f"seed {seed}: {r.error}\n{r.ops[-10:]}"


@pytest.mark.slow
def test_swarm_nemesis_sweep():
    """CI sweeps at least 200 seeds (SWARMLAB_SWARM_SEEDS to change)."""
    n = int(os.environ.get("SWARMLAB_SWARM_SEEDS", "200"))
    assert sweep(range(2000, 2000 + n), duration=12.0) == 0
