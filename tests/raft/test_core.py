"""The pure core, one test per rule of the Raft paper (and of the extensions we use)."""
from __future__ import annotations

import ast
import pathlib
import random

import pytest

from swarmlab.raft import (
    Config, ConfChange, ConfChangeType, Entry, HardState, InitialState, Message, MessageType as MT,
    NotLeader, ProposalDropped, RaftNode, Role, Snapshot,
)

CORE_FILES = ["core.py", "log.py", "progress.py", "messages.py", "trace.py"]
FORBIDDEN = {"asyncio", "socket", "time", "os", "threading", "selectors", "subprocess", "io"}


def test_core_does_no_io_and_uses_no_global_random():
    root = pathlib.Path(__file__).parents[2] / "swarmlab" / "raft"
    for name in CORE_FILES:
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
                assert not FORBIDDEN & set(mods), f"{name} imports {mods}"
                assert "random" not in mods, f"{name} imports the random module"
            elif isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                assert top not in FORBIDDEN, f"{name} imports from {node.module}"
                if top == "random":
                    assert [a.name for a in node.names] == ["Random"], name


def new(id_: int, peers=(1, 2, 3), seed: int = 0, **kw) -> RaftNode:
    return RaftNode(Config(id=id_, **kw), random.Random(seed), peers=peers)


def drain(n: RaftNode) -> list[Message]:
    rd = n.ready()
    n.advance(rd)
    return rd.messages


def elect(n: RaftNode, voters=(2, 3)) -> None:
    """Make n leader by ticking it and answering its (pre-)votes."""
    for _ in range(2 * n.cfg.election_tick):
        n.tick()
    for t in (MT.PRE_VOTE_RESP, MT.VOTE_RESP):
        drain(n)
        for v in voters:
            n.step(Message(t, v, n.id, n.term + (1 if t is MT.PRE_VOTE_RESP else 0)))
    assert n.role is Role.LEADER
    drain(n)


def test_servers_start_as_followers():  # §5.2
    assert new(1).role is Role.FOLLOWER


def test_follower_campaigns_after_randomized_election_timeout():  # §5.2
    n = new(1, election_tick=10)
    assert 10 <= n.randomized_timeout < 20
    for _ in range(n.randomized_timeout - 1):
        n.tick()
    assert n.role is Role.FOLLOWER
    n.tick()
    assert n.role is Role.PRE_CANDIDATE
    msgs = drain(n)
    assert {m.type for m in msgs} == {MT.PRE_VOTE} and {m.dst for m in msgs} == {2, 3}
    assert n.term == 0, "pre-vote does not increment the term"


def test_timeouts_differ_by_seed():  # §5.2 randomized timeouts avoid split votes
    assert len({new(1, seed=s).randomized_timeout for s in range(20)}) > 3


def test_candidate_wins_with_majority_and_sends_empty_entry():  # §5.2, §5.4.2
    n = new(1)
    elect(n)
    assert n.term == 1 and n.leader == 1
    assert n.log.last_index() == 1 and n.log.entries[0].data == b""


def test_each_server_votes_for_at_most_one_candidate_per_term():  # §5.2
    n = new(3, check_quorum=False)
    n.step(Message(MT.VOTE, 1, 3, 5, log_term=0, index=0))
    n.step(Message(MT.VOTE, 2, 3, 5, log_term=0, index=0))
    out = drain(n)
    assert [(m.dst, m.reject) for m in out] == [(1, False), (2, True)]
    assert n.vote == 1 and n.term == 5


def test_vote_denied_to_candidate_with_less_up_to_date_log():  # §5.4.1
    n = RaftNode(Config(id=3), random.Random(0), InitialState(
        HardState(2, 0, 0), Snapshot(0, 0, (1, 2, 3)), [Entry(2, 1, b"x")]))
    n.step(Message(MT.VOTE, 1, 3, 3, log_term=1, index=5))
    assert drain(n)[-1].reject
    n.step(Message(MT.VOTE, 2, 3, 3, log_term=2, index=1))
    assert not drain(n)[-1].reject


def test_stale_term_messages_are_rejected():  # §5.1
    n = new(2)
    n.step(Message(MT.APP, 1, 2, 3, commit=0))
    drain(n)
    n.step(Message(MT.APP, 3, 2, 2, entries=(Entry(2, 1, b"stale"),)))
    out = drain(n)
    assert n.log.last_index() == 0
    assert out[0].term == 3, "the stale leader learns the newer term"


def test_follower_truncates_conflicting_suffix():  # §5.3
    n = RaftNode(Config(id=2), random.Random(0), InitialState(
        HardState(2, 0, 1), Snapshot(0, 0, (1, 2, 3)),
        [Entry(1, 1, b"a"), Entry(1, 2, b"b"), Entry(2, 3, b"c")]))
    n.step(Message(MT.APP, 1, 2, 3, log_term=1, index=1, commit=1,
                   entries=(Entry(3, 2, b"B"),)))
    rd = n.ready()
    assert [e.data for e in rd.entries] == [b"B"] and rd.entries[0].index == 2
    n.advance(rd)
    assert n.log.last_index() == 2 and n.log.term(2) == 3


def test_reject_carries_a_hint_to_skip_a_term():  # fast back-off
    n = RaftNode(Config(id=2), random.Random(0), InitialState(
        HardState(3, 0, 0), Snapshot(0, 0, (1, 2, 3)),
        [Entry(1, 1, b""), Entry(2, 2, b""), Entry(2, 3, b""), Entry(2, 4, b"")]))
    n.step(Message(MT.APP, 1, 2, 4, log_term=3, index=6))
    r = drain(n)[-1]
    assert r.reject and r.reject_hint == 4 and r.log_term == 2


def test_leader_commits_only_current_term_entries_by_counting():  # §5.4.2, Figure 8
    n = RaftNode(Config(id=1), random.Random(0), InitialState(
        HardState(2, 1, 0), Snapshot(0, 0, (1, 2, 3)), [Entry(2, 1, b"old")]))
    elect(n)  # term 3, appends its empty entry at 2
    n.step(Message(MT.APP_RESP, 2, 1, n.term, index=1))
    assert n.log.committed == 0, "an old-term entry is not committed by counting replicas"
    n.step(Message(MT.APP_RESP, 2, 1, n.term, index=2))
    assert n.log.committed == 2


def test_proposals_batch_into_one_append_per_follower():
    n = new(1)
    elect(n)
    for f in (2, 3):  # followers answer the probe: their progress moves to replicate
        n.step(Message(MT.APP_RESP, f, 1, n.term, index=n.log.last_index()))
    drain(n)
    for i in range(5):
        n.propose(b"cmd%d" % i)
    apps = [m for m in drain(n) if m.type is MT.APP]
    assert sorted(m.dst for m in apps) == [2, 3]
    assert all(len(m.entries) == 5 for m in apps)


def test_follower_refuses_proposals():
    with pytest.raises(NotLeader):
        new(2).propose(b"x")


def test_check_quorum_leader_steps_down_without_majority():  # thesis §6.2
    n = new(1)
    elect(n)
    for _ in range(2 * n.cfg.election_tick + 1):
        n.tick()
    assert n.role is Role.FOLLOWER


def test_pre_vote_partitioned_node_does_not_inflate_term():  # thesis §9.6
    n = new(3)
    for _ in range(200):
        n.tick()
    assert n.term == 0


def test_leader_lease_ignores_disruptive_votes():  # thesis §4.2.3
    n = new(2)
    n.step(Message(MT.APP, 1, 2, 1))
    drain(n)
    n.step(Message(MT.VOTE, 3, 2, 5, log_term=9, index=9))
    assert n.term == 1 and drain(n) == []


def test_transfer_leadership_sends_timeout_now_when_caught_up():  # thesis §3.10
    n = new(1)
    elect(n)
    n.step(Message(MT.APP_RESP, 2, 1, n.term, index=n.log.last_index()))
    drain(n)
    n.transfer_leadership(2)
    assert any(m.type is MT.TIMEOUT_NOW and m.dst == 2 for m in drain(n))
    with pytest.raises(ProposalDropped):
        n.propose(b"x")


def test_timeout_now_campaigns_past_the_lease():
    n = new(2)
    n.step(Message(MT.APP, 1, 2, 1))
    drain(n)
    n.step(Message(MT.TIMEOUT_NOW, 1, 2, 1))
    assert n.role is Role.CANDIDATE and n.term == 2
    votes = [m for m in drain(n) if m.type is MT.VOTE]
    assert votes and all(m.transfer for m in votes)


def test_one_membership_change_at_a_time():  # thesis §4.1
    n = new(1)
    elect(n)
    n.propose_conf_change(ConfChange(ConfChangeType.ADD_NODE, 4))
    with pytest.raises(ProposalDropped):
        n.propose_conf_change(ConfChange(ConfChangeType.ADD_NODE, 5))


def test_campaign_now_makes_a_lone_voter_leader_at_once():  # bootstrap / force-new-cluster
    n = RaftNode(Config(id=1, election_tick=10), random.Random(0), peers=(1,))
    n.campaign()
    assert n.role is Role.LEADER and n.term == 1
