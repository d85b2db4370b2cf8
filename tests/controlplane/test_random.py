"""Seeded random operations and node failures, with the control plane's invariants checked
after every step. A failing seed prints itself and replays exactly."""
import dataclasses
import os
import random

import pytest

from cp_harness import Harness, web
from swarmlab.objects import (
    ContainerSpec, Global, NodeAvailability, NodeState, ServiceMode, ServiceSpec, TaskSpec,
    TaskState, UpdateConfig, UpdateOrder, SECOND_NS,
)
from swarmlab.orchestrator import InvariantChecker, converged

SEEDS = range(int(os.environ.get("SWARMLAB_CP_SEEDS", "30")))
STEPS = 200  # 20 s of virtual time per seed with faults, then up to 60 s to settle


def random_op(h, r: random.Random, names: list[str]) -> None:
    view = h.store.view()
    services = view.services()
    op = r.choice(["create", "scale", "update", "remove", "avail", "kill", "revive",
                   "failover", "nothing", "nothing"])
    if op == "create" and len(services) < 4:
        name = f"s{r.randrange(1000)}"
        if any(s.spec.name == name for s in services):
            return
        if r.random() < 0.25:
            spec = ServiceSpec(name=name, task_template=TaskSpec(
                container_spec=ContainerSpec(image="x:1")), mode=ServiceMode(global_=Global()))
        else:
            order = r.choice(list(UpdateOrder))
            spec = dataclasses.replace(web(name, replicas=r.randrange(0, 7)), update_config=
                                       UpdateConfig(parallelism=r.randrange(0, 3), order=order,
                                                    monitor=SECOND_NS))
        h.manager.create_service(spec)
    elif op == "scale" and services:
        svc = r.choice(services)
        if svc.spec.mode.replicated is not None:
            spec = dataclasses.replace(svc.spec, mode=ServiceMode(
                replicated=dataclasses.replace(svc.spec.mode.replicated,
                                               replicas=r.randrange(0, 8))))
            h.manager.update_service(svc.id, svc.version.index, spec)
    elif op == "update" and services:
        svc = r.choice(services)
        c = dataclasses.replace(svc.spec.task_template.container_spec,
                                image=f"x:{r.randrange(1, 4)}")
        spec = dataclasses.replace(svc.spec, task_template=dataclasses.replace(
            svc.spec.task_template, container_spec=c))
        h.manager.update_service(svc.id, svc.version.index, spec)
    elif op == "remove" and services:
        h.manager.remove_service(r.choice(services).id)
    elif op == "avail":
        name = r.choice(names[1:])
        h.set_availability(name, r.choice(["active", "active", "pause", "drain"]))
    elif op == "kill":
        h.kill(r.choice(names[1:]))
    elif op == "revive":
        h.revive(r.choice(names[1:]))
    elif op == "failover":
        h.failover(r.randrange(len(h.managers)))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_operations_keep_the_invariants(seed):
    r = random.Random(seed)
    # odd seeds: Raft commits a step later (the manager must wait for its writes)
    h = Harness(workers=4, seed=seed, replicas=2, asynchronous=seed % 2 == 1)
    names = ["m1", "w1", "w2", "w3", "w4"]
    check = InvariantChecker()
    for store in h.stores:
        check.watch(store)
    try:
        for _ in range(STEPS):
            if r.random() < 0.15:
                random_op(h, r, names)
            h.step()
            check.after_step(h.store.view())
            assert not check.violations, check.violations
        for name in names[1:]:  # faults stop: every node back, none drained
            h.revive(name)
            if h.node(name).spec.availability == NodeAvailability.DRAIN and r.random() < 0.5:
                h.set_availability(name, "active")
        h.run_until(lambda: all(n.status.state == NodeState.READY
                                for n in h.store.view().nodes()), timeout_s=10)
        h.run_until(lambda: converged(h.store.view()) and not check.settled(h.store.view()),
                    timeout_s=60)
        assert not check.after_step(h.store.view()) and not check.violations
        assert all(s.snapshot() == h.stores[0].snapshot() for s in h.stores)
    except AssertionError as exc:
        raise AssertionError(f"seed {seed}: {exc}") from exc


def test_the_checker_catches_what_it_looks_for():
    from swarmlab.objects import Node, NodeSpec, Service, Task, TaskStatus
    from swarmlab.store import MemoryStore
    store = MemoryStore()
    svc = Service(id="s1", spec=web("s"))
    running = TaskStatus(state=TaskState.RUNNING)
    store.update(lambda tx: [tx.create(svc), tx.create(Node(id="n1", spec=NodeSpec(
        availability=NodeAvailability.DRAIN)))])
    store.update(lambda tx: [tx.create(Task(id=f"t{i}", service_id="s1", slot=1, node_id="n1",
                                            status=running)) for i in (1, 2)])
    check = InvariantChecker()
    assert check.after_step(store.view()) == ["2 running tasks in slot ('s1', 1)"]
    problems = check.settled(store.view())
    assert "task t1 runs on drained node n1" in problems and len(problems) == 3
    assert not converged(store.view())
