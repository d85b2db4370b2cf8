"""Managers demoted and promoted again at once, on real node processes (local backend):
the moments the CLI walk-through hit in CI."""
from __future__ import annotations

import time

import docker

from test_walkthrough_api import WORKER_MSG, node_by_name, refuses

from swarmlab.lab import Lab


def test_a_manager_just_promoted_waits_for_the_leader_instead_of_failing(lab_factory):
    """A re-promoted manager learns the leader a moment after it starts Raft. Asked in
    that moment it waits for the leader, as swarmkit's managers do, rather than answering
    "The swarm does not have a leader" (the CLI walk-through hit this in CI)."""
    lab: Lab = lab_factory("promote", managers=3)
    c1 = lab.client("node1")
    for _ in range(3):
        n = node_by_name(c1, "node1")
        c1.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="worker"))
        lab.wait_for(lambda: refuses(c1), 10, "node1 to answer as a worker")
        other = lab.client(lab.wait_for(lambda: (l := lab.leader()) not in (None, "node1") and l,
                                        10, "a leader other than node1"))
        n = node_by_name(other, "node1")
        other.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="manager"))
        answers = []
        while True:  # worker refusals until node1 is a manager, then the answer itself
            try:
                answers.append(node_by_name(c1, "node1")["Spec"]["Role"])
                break
            except docker.errors.APIError as e:
                assert WORKER_MSG in str(e), f"after {len(answers)} refusals: {e}"
                answers.append("refused")
                assert len(answers) < 200, "node1 never answered as a manager"
                time.sleep(0.05)
        assert answers[-1] == "manager"


def test_a_manager_promoted_again_before_it_saw_its_demotion_rejoins_raft(lab_factory):
    """`node demote node1` then at once `node promote node1`: node1 may hear of both in one
    heartbeat answer, after the leader removed it from Raft. It must leave Raft and join
    again (swarmkit's ErrMemberRemoved), not wait for a leader that no longer talks to it."""
    lab: Lab = lab_factory("again", managers=3)
    c1 = lab.client("node1")
    for _ in range(4):
        n = node_by_name(c1, "node1")
        c1.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="worker"))
        leader = lab.wait_for(lambda: (l := lab.leader()) not in (None, "node1") and l, 10,
                              "a leader other than node1")
        other = lab.client(leader)
        lab.wait_for(lambda: "ManagerStatus" not in node_by_name(other, "node1"), 10,
                     "node1 out of Raft")
        n = node_by_name(other, "node1")
        other.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="manager"))
        lab.wait_for(lambda: "ManagerStatus" in node_by_name(other, "node1"), 15,
                     "node1 back in Raft")
        lab.wait_for(lambda: sum(1 for s in lab.raft_status()
                                 if s.get("State") in ("leader", "follower")) == 3, 15,
                     "3 managers following one leader")
        assert node_by_name(c1, "node1")["Spec"]["Role"] == "manager"
