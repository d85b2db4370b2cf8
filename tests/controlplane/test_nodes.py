"""Node operations with Docker's rules and texts; join tokens; a leader change."""
import dataclasses
import re

import pytest

from cp_harness import FakeAgent, Harness, web
from swarmlab.objects import (
    FailedPrecondition, InvalidArgument, NodeRole, NodeState, NotFound, Reachability,
    SequenceError, TaskState, UpdateState, UpdateConfig, SECOND_NS,
)
from swarmlab.manager import LocalMembership

TOKEN = re.compile(r"^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$")


def with_membership(h):
    m = LocalMembership({h.m1})
    h.manager.membership = m
    return m


def test_promote_and_demote_go_through_raft_membership():
    h = Harness(workers=2)
    m = with_membership(h)
    h.manager.promote("w1")
    h.run(0.5)
    w1 = h.node("w1")
    assert w1.spec.role == NodeRole.MANAGER and ("add", w1.id) in m.log
    assert w1.manager_status.reachability == Reachability.REACHABLE
    assert not w1.manager_status.leader and h.node("m1").manager_status.leader
    h.manager.demote("w1")
    h.run(0.5)
    assert h.node("w1").manager_status is None and ("remove", w1.id) in m.log


def test_demoting_the_last_manager_is_refused():
    h = Harness(workers=1)
    before = h.store.snapshot()
    with pytest.raises(FailedPrecondition,
                       match="^attempting to demote the last manager of the swarm$"):
        h.manager.demote("m1")
    assert h.store.snapshot() == before


def test_demote_that_would_lose_quorum_is_refused():
    h = Harness(workers=3)
    with_membership(h)
    h.manager.promote("w1")
    h.manager.promote("w2")
    h.run(0.5)
    h.kill("w1")
    h.run_until(lambda: h.node("w1").status.state == NodeState.DOWN)
    with pytest.raises(FailedPrecondition, match="this would result in a loss of quorum"):
        h.manager.demote("w2")
    h.manager.demote("w1")  # an unreachable member can go: m1 and w2 stay a majority


def test_demoting_the_leader_moves_leadership_first():
    h = Harness(workers=2)
    m = with_membership(h)
    h.manager.promote("w1")
    h.run(0.5)
    h.manager.demote("m1")
    h.run(0.3)
    assert ("transfer", h.names["w1"]) in m.log
    assert h.node("m1").manager_status is not None  # the next leader removes it


def test_node_rm_rules():
    h = Harness(workers=2)
    s = h.manager.create_service(web(replicas=4))
    h.run_until(lambda: len(h.running(s.id)) == 4)
    m1, w1 = h.node("m1"), h.node("w1")
    with pytest.raises(FailedPrecondition, match=(
            f"^node {m1.id} is a cluster manager and is a member of the raft cluster. "
            "It must be demoted to worker before removal$")):
        h.manager.remove_node("m1", force=True)
    with pytest.raises(FailedPrecondition, match=f"^node {w1.id} is not down and can't be removed$"):
        h.manager.remove_node("w1")
    on_w1 = [t.id for t in h.running(s.id) if t.node_id == w1.id]
    h.manager.remove_node("w1", force=True)
    assert h.store.view().node(w1.id) is None
    for tid in on_w1:
        t = h.store.view().task(tid)
        assert t.status.state == TaskState.ORPHANED
        assert t.status.message == "Task belonged to a node that has been deleted"
    h.agents[w1.id].alive = False
    h.run_until(lambda: len(h.running(s.id)) == 4)
    h.kill("w2")
    h.run_until(lambda: h.node("w2").status.state == NodeState.DOWN)
    w2 = h.node("w2")
    h.manager.remove_node("w2")  # a down node needs no force
    # both IDs are kept in the cluster object (swarmkit's BlacklistedCertificates), with
    # the expiry their certificates would have at most: every manager refuses them
    cluster = h.store.view().cluster()
    assert set(cluster.blacklisted_certificates) == {w1.id, w2.id}
    assert all(e["Expiry"] > 0 for e in cluster.blacklisted_certificates.values())


def test_unknown_node_or_service_is_refused_with_no_state_change():
    h = Harness(workers=1)
    before = h.store.snapshot()
    with pytest.raises(NotFound, match="^node nosuch not found$"):
        h.manager.remove_node("nosuch")
    with pytest.raises(NotFound, match="^service nosuch not found$"):
        h.manager.update_service("nosuch", 1, web())
    with pytest.raises(NotFound):
        h.manager.remove_service("nosuch")
    node = h.node("w1")
    with pytest.raises(SequenceError, match="update out of sequence"):
        h.manager.update_node(node.id, node.version.index + 5, node.spec)
    assert h.store.snapshot() == before


def test_node_labels_and_lookup_by_hostname():
    h = Harness(workers=1)
    h.set_labels("w1", {"dc": "east", "disk": "ssd"})
    assert h.store.view().lookup("node", "w1").spec.labels == {"dc": "east", "disk": "ssd"}


def test_join_tokens():
    h = Harness(workers=0)
    worker, manager = h.manager.join_token("worker"), h.manager.join_token("manager")
    assert TOKEN.match(worker) and TOKEN.match(manager) and worker != manager
    assert worker.split("-")[2] == manager.split("-")[2]  # the same CA digest
    rotated = h.manager.rotate_join_token("worker")
    assert rotated != worker and h.manager.join_token("manager") == manager
    before = h.store.snapshot()
    with pytest.raises(InvalidArgument,
                       match="^A valid join token is necessary to join this cluster$"):
        h.manager.join(worker, "late")
    assert h.store.snapshot() == before
    m = with_membership(h)
    node = h.manager.join(manager, "m2")
    assert node.spec.role == NodeRole.MANAGER
    h.agents[node.id] = FakeAgent(h, node.id)
    h.run(0.3)
    assert ("add", node.id) in m.log and h.store.view().node(node.id).manager_status is not None


def test_a_new_leader_resumes_a_rolling_update_and_keeps_converging():
    h = Harness(workers=3, replicas=3)
    spec = dataclasses.replace(web(replicas=6), update_config=UpdateConfig(
        parallelism=2, delay=SECOND_NS, monitor=SECOND_NS))
    s = h.manager.create_service(spec)
    h.run_until(lambda: len(h.running(s.id)) == 6)
    svc = h.service(s.id)
    c = dataclasses.replace(svc.spec.task_template.container_spec, image="swarmlab/web:2")
    h.manager.update_service(s.id, svc.version.index, dataclasses.replace(
        svc.spec, task_template=dataclasses.replace(svc.spec.task_template, container_spec=c)))
    h.run_until(lambda: any(t.spec.container_spec.image == "swarmlab/web:2"
                            and t.status.state == TaskState.RUNNING for t in h.tasks(s.id)))
    h.failover(1)
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.COMPLETED,
                timeout_s=60)
    assert {t.spec.container_spec.image for t in h.running(s.id)} == {"swarmlab/web:2"}
    assert len(h.running(s.id)) == 6
    assert h.stores[0].snapshot() == h.stores[1].snapshot() == h.stores[2].snapshot()
    h.kill("w3")  # the new leader's dispatcher still marks nodes down
    h.run_until(lambda: h.node("w3").status.state == NodeState.DOWN)
    h.run_until(lambda: len([t for t in h.running(s.id) if t.node_id != h.names["w3"]]) == 6)
