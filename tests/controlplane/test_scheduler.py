"""Scheduling: filters, Docker's ranking, spread preferences, and explanations."""
from collections import Counter

import pytest

from cp_harness import Harness, web
from swarmlab.objects import (
    EndpointSpec, InvalidArgument, Placement, PlacementPreference, PortConfig, PublishMode,
    ResourceAmounts, Resources, SpreadOver, TaskState,
)


def placed(h, service_id):
    return Counter(h.node_name(t.node_id) for t in h.running(service_id))


def test_spreads_replicas_evenly():
    h = Harness(workers=3)
    s = h.manager.create_service(web(replicas=8))
    h.run_until(lambda: len(h.running(s.id)) == 8)
    assert sorted(placed(h, s.id).values()) == [2, 2, 2, 2]


def test_fewest_tasks_overall_breaks_ties():
    h = Harness(workers=2)
    a = h.manager.create_service(web("a", replicas=2))
    h.run_until(lambda: len(h.running(a.id)) == 2)
    busy = set(placed(h, a.id))
    b = h.manager.create_service(web("b", replicas=1))
    h.run_until(lambda: len(h.running(b.id)) == 1)
    assert set(placed(h, b.id)).isdisjoint(busy)


def test_constraints_select_nodes():
    h = Harness(workers=3, labels={"w1": {"dc": "east"}, "w2": {"dc": "east"},
                                   "w3": {"dc": "west"}})
    s = h.manager.create_service(web(replicas=4, placement=Placement(
        constraints=("node.labels.dc==east", "node.role!=manager"))))
    h.run_until(lambda: len(h.running(s.id)) == 4)
    assert placed(h, s.id) == Counter({"w1": 2, "w2": 2})
    by_host = h.manager.create_service(web("pin", replicas=2, placement=Placement(
        constraints=("node.hostname==w3",))))
    h.run_until(lambda: len(h.running(by_host.id)) == 2)
    assert placed(h, by_host.id) == Counter({"w3": 2})


def test_unschedulable_task_explains_why():
    h = Harness(workers=3, labels={"w3": {"dc": "east"}})
    h.set_availability("w3", "drain")
    s = h.manager.create_service(web(replicas=1, placement=Placement(
        constraints=("node.labels.dc==east",))))
    h.run(1)
    [task] = h.tasks(s.id)
    assert task.status.state == TaskState.PENDING
    assert task.status.message == "pending task scheduling"
    assert task.status.err == ("no suitable node (1 node not available for new tasks; "
                               "3 nodes not matching constraint node.labels.dc==east)")
    h.set_availability("w3", "active")
    h.run_until(lambda: len(h.running(s.id)) == 1)
    assert h.node_name(h.running(s.id)[0].node_id) == "w3"


def test_resources_and_max_replicas_and_host_ports():
    h = Harness(workers=1)
    big = Resources(reservations=ResourceAmounts(nano_cpus=3_000_000_000))
    s = h.manager.create_service(web("big", replicas=3, resources=big))
    h.run(2)
    assert len(h.running(s.id)) == 2  # 4 CPUs on each of 2 nodes
    pending = [t for t in h.tasks(s.id) if t.status.state == TaskState.PENDING]
    assert pending[0].status.err == "no suitable node (insufficient resources on 2 nodes)"

    m = h.manager.create_service(web("one-each", replicas=3, placement=Placement(max_replicas=1)))
    h.run(2)
    assert len(h.running(m.id)) == 2
    assert any(t.status.err == "no suitable node (max replicas per node limit exceed)"
               for t in h.tasks(m.id))

    spec = web("hostport", replicas=3)
    import dataclasses
    spec = dataclasses.replace(spec, endpoint_spec=EndpointSpec(ports=(
        PortConfig(target_port=80, published_port=8080, publish_mode=PublishMode.HOST),)))
    hp = h.manager.create_service(spec)
    h.run(2)
    assert len(h.running(hp.id)) == 2
    assert any(t.status.err == "no suitable node (host-mode port already in use on 2 nodes)"
               for t in h.tasks(hp.id))


def test_spread_preference_balances_label_values():
    h = Harness(workers=3, labels={"m1": {"zone": "a"}, "w1": {"zone": "a"},
                                   "w2": {"zone": "a"}, "w3": {"zone": "b"}})
    s = h.manager.create_service(web(replicas=4, placement=Placement(preferences=(
        PlacementPreference(SpreadOver("node.labels.zone")),))))
    h.run_until(lambda: len(h.running(s.id)) == 4)
    c = placed(h, s.id)
    assert c["w3"] == 2 and c["m1"] + c["w1"] + c["w2"] == 2


@pytest.mark.parametrize("expr, message", [
    ("node.labels.dc=east", "constraint expected one operator from ==, !="),
    ("node.labels.dc==", "value '' is invalid"),
    ("==east", "key '' is invalid"),
])
def test_invalid_constraint_is_refused_with_no_state_change(expr, message):
    h = Harness(workers=1)
    before = h.store.snapshot()
    with pytest.raises(InvalidArgument, match=message):
        h.manager.create_service(web(placement=Placement(constraints=(expr,))))
    assert h.store.snapshot() == before


def test_ingress_ports_get_dockers_dynamic_range_and_conflicts_are_refused():
    import dataclasses
    h = Harness(workers=1)
    unnumbered = dataclasses.replace(web("a"), endpoint_spec=EndpointSpec(ports=(
        PortConfig(target_port=80),)))
    a = h.manager.create_service(unnumbered)
    b = h.manager.create_service(dataclasses.replace(unnumbered, name="b"))
    assert a.endpoint.ports[0].published_port == 30000
    assert b.endpoint.ports[0].published_port == 30001
    assert a.spec.endpoint_spec.ports[0].published_port == 0  # the user's spec is kept
    fixed = dataclasses.replace(web("c"), endpoint_spec=EndpointSpec(ports=(
        PortConfig(target_port=80, published_port=8080),)))
    c = h.manager.create_service(fixed)
    before = h.store.snapshot()
    with pytest.raises(InvalidArgument, match=(
            f"port '8080' is already in use by service 'c' \\({c.id}\\) as an ingress port")):
        h.manager.create_service(dataclasses.replace(fixed, name="d"))
    assert h.store.snapshot() == before


def test_constraint_keys_match_like_docker():
    from swarmlab.objects import (
        EngineDescription, Node, NodeDescription, NodePlatform, NodeRole, NodeSpec,
    )
    from swarmlab.scheduler import parse
    node = Node(id="abc123", spec=NodeSpec(role=NodeRole.MANAGER, labels={"dc": "East"}),
                description=NodeDescription(
                    hostname="node-1", platform=NodePlatform("x86_64", "linux"),
                    engine=EngineDescription(labels={"storage": "ssd"})))
    true = ["node.id==abc123", "node.hostname==NODE-1", "node.role==manager",
            "node.platform.os==linux", "node.platform.arch==x86_64", "node.labels.dc==east",
            "engine.labels.storage==ssd", "node.labels.missing!=x", "node.role!=worker"]
    false = ["node.hostname!=node-1", "node.labels.dc!=east", "node.labels.missing==x",
             "engine.labels.storage==hdd", "node.platform.os==windows"]
    assert all(parse(c).matches(node) for c in true)
    assert not any(parse(c).matches(node) for c in false)


def test_invalid_constraint_on_update_changes_nothing():
    import dataclasses
    h = Harness(workers=1)
    s = h.manager.create_service(web(replicas=1))
    h.run(0.5)
    svc = h.service(s.id)
    bad = dataclasses.replace(svc.spec, task_template=dataclasses.replace(
        svc.spec.task_template, placement=Placement(constraints=("node.labels.dc~east",))))
    before = h.store.snapshot()
    with pytest.raises(InvalidArgument, match="constraint expected one operator"):
        h.manager.update_service(s.id, svc.version.index, bad)
    assert h.store.snapshot() == before


def test_nodes_where_the_service_keeps_failing_go_last():
    from swarmlab.objects import (
        SECOND_NS, Node, NodeDescription, NodeState, NodeStatus, Service, Task, TaskStatus,
    )
    from swarmlab.scheduler import schedule
    from swarmlab.store import MemoryStore
    now = 1_000 * SECOND_NS
    store = MemoryStore()
    ready = NodeStatus(state=NodeState.READY)
    svc = Service(id="s1", spec=web("s"))
    busy_task = Task(id="other", service_id="s2", node_id="b", status=TaskStatus(
        state=TaskState.RUNNING))
    failed = [Task(id=f"f{i}", service_id="s1", node_id="a", slot=1, status=TaskStatus(
        timestamp=now - i * SECOND_NS, state=TaskState.FAILED)) for i in range(5)]
    pending = Task(id="p", service_id="s1", slot=1, spec=svc.spec.task_template)
    store.update(lambda tx: [tx.create(o) for o in (
        svc, Node(id="a", description=NodeDescription(hostname="a"), status=ready),
        Node(id="b", description=NodeDescription(hostname="b"), status=ready),
        busy_task, *failed, pending)])
    [placed] = schedule(store.view(), now)
    assert placed.node_id == "b"  # b is busier, but a is potentially faulty for s1
    [placed] = schedule(store.view(), now + 10 * 60 * SECOND_NS)
    assert placed.node_id == "a"  # the failures are old now: a is the emptier node
