"""RaftScope's scenarios: replayable from a seed, and they show what they claim."""
from __future__ import annotations

from collections import defaultdict

import pytest

from swarmlab.scenarios import SCENARIOS, run

SEEDS = range(1, 9)


def key(events):
    return [(e.time, e.kind, e.node, e.term, tuple(sorted(e.fields.items()))) for e in events]


def states(r, state):
    return [e for e in r.events if e.kind == "state" and e.fields["state"] == state]


def assert_one_leader_per_term(r):
    leaders = defaultdict(set)
    for e in states(r, "leader"):
        leaders[e.term].add(e.node)
    assert all(len(v) == 1 for v in leaders.values()), dict(leaders)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_seed_same_trace(name):
    a, b = run(name, 3), run(name, 3)
    assert key(a.events) == key(b.events) and a.marks == b.marks and a.facts == b.facts
    assert key(run(name, 4).events) != key(a.events)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("seed", SEEDS)
def test_at_most_one_leader_per_term(name, seed):
    assert_one_leader_per_term(run(name, seed))


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(ValueError, match="kill-the-leader"):
        run("no-such-thing")


@pytest.mark.parametrize("seed", SEEDS)
def test_first_election_starts_all_followers_and_elects_in_term_1(seed):
    r = run("first-election", seed)
    first = [e for e in r.events if e.kind == "state"][: r.n]
    assert {e.fields["state"] for e in first} == {"follower"}
    assert [(e.node, e.term) for e in states(r, "leader")] == [(r.facts["leader"], 1)]


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_the_leader_elects_a_new_leader_in_a_higher_term(seed):
    r = run("kill-the-leader", seed)
    old, new = r.facts["old_leader"], r.facts["new_leader"]
    assert old != new
    t0 = r.facts["killed_at"]
    old_term = max(e.term for e in states(r, "leader") if e.node == old)
    after = [e for e in states(r, "leader") if e.time > t0]
    assert after[0].node == new and after[0].term > old_term
    # followers wait an election timeout (10 to 20 ticks of 50 ms) counted from the last
    # heartbeat they heard (at most 2 ticks before the crash), then campaign
    assert (10 - 2 - 1) * 0.05 <= after[0].time - t0 <= 2 * 20 * 0.05
    # the old leader comes back as a follower of the new term, and catches up
    assert r.final[old]["role"] == "follower" and r.final[old]["leader"] == new
    assert r.final[old]["commit"] == r.final[new]["commit"]


@pytest.mark.parametrize("seed", SEEDS)
def test_split_vote_has_a_term_with_candidates_and_no_leader(seed):
    r = run("split-vote", seed)
    t = r.facts["split_term"]
    candidates = {e.node for e in states(r, "candidate") if e.term == t}
    assert candidates == set(r.facts["survivors"])  # the aligned timers all fired
    assert not [e for e in states(r, "leader") if e.term == t]
    # every vote asked for in that term was refused: each candidate had voted for itself
    votes = [e for e in r.events if e.kind == "vote" and e.term == t]
    assert votes and not any(e.fields["granted"] for e in votes)
    # randomized timeouts break the tie in a later term
    later = [e for e in states(r, "leader") if e.term > t]
    assert later and later[0].node == r.facts["new_leader"]


@pytest.mark.parametrize("seed", SEEDS)
def test_partition_minority_loses_its_uncommitted_write(seed):
    r = run("partition-minority", seed)
    old, new = r.facts["old_leader"], r.facts["new_leader"]
    assert new in r.facts["majority"] and old in r.facts["minority"]
    stepped = [e for e in states(r, "follower")
               if e.node == old and e.fields.get("reason") == "check-quorum failed"]
    assert stepped, "the cut-off leader should step down (check-quorum)"
    lost_at = next(m.time for m in r.marks if "lost=1" in m.text)
    lost_index = next(e.fields["last"] for e in r.events
                      if e.kind == "append" and e.node == old and e.time >= lost_at)
    lost_term = next(e.term for e in r.events
                     if e.kind == "append" and e.node == old and e.time >= lost_at)
    # never committed in the old term by anybody
    assert not [e for e in r.events if e.kind == "commit" and e.term == lost_term
                and e.fields["index"] >= lost_index]
    # after healing every node has the majority's log
    finals = {(s["term"], s["last_index"], s["commit"]) for s in r.final.values()}
    assert len(finals) == 1 and r.final[old]["leader"] == new


@pytest.mark.parametrize("seed", SEEDS)
def test_log_replication_commits_only_after_a_majority_appended(seed):
    r = run("log-replication", seed)
    leader, quorum = r.facts["leader"], r.n // 2 + 1
    appended = defaultdict(set)  # index -> nodes holding it
    for e in r.events:
        if e.kind == "append":
            for idx in range(e.fields["first"], e.fields["last"] + 1):
                appended[idx].add(e.node)
        if e.kind == "commit" and e.node == leader:
            assert len(appended[e.fields["index"]]) >= quorum
    # the follower cut off for a while catches up after reconnecting
    lag = r.final[r.facts["lagging"]]
    assert lag["commit"] == r.final[leader]["commit"] >= r.facts["writes"] + 1


def test_the_network_changes_are_traced():
    r = run("partition-minority", 1)
    net = [e.fields for e in r.events if e.kind == "net"]
    assert net == [{"action": "partition", "groups": [r.facts["minority"], r.facts["majority"]]},
                   {"action": "heal"}]
    r = run("log-replication", 1)
    assert [e.fields for e in r.events if e.kind == "net"] == [
        {"action": "disconnect", "node": r.facts["lagging"]},
        {"action": "connect", "node": r.facts["lagging"]}]
    assert r.tick_s == 0.05 and r.key == "log-replication" and r.end > 2


def test_split_vote_traces_the_aligned_timers():
    r = run("split-vote", 1)
    aligned = [e for e in r.events if e.kind == "timer" and e.fields.get("reason") == "aligned"]
    assert {e.node for e in aligned} == set(r.facts["survivors"])
    assert {e.fields["timeout"] for e in aligned} == {10}


def test_every_timer_reset_with_a_new_timeout_is_traced_once():
    """`timer` events come with term or role changes, never once per tick."""
    r = run("kill-the-leader", 1)
    timers = [e for e in r.events if e.kind == "timer"]
    states_ = [e for e in r.events if e.kind == "state" and e.fields["state"] != "pre-candidate"]
    assert all(10 <= e.fields["timeout"] < 20 for e in timers)
    assert len(timers) <= len(states_) + r.n


def test_rerun_without_faults_is_the_same_story():
    from swarmlab.scenarios import rerun
    a = run("kill-the-leader", 2)
    assert key(rerun(a, []).events) == key(a.events)


def test_rerun_keeps_the_story_up_to_the_fault_then_applies_it():
    from swarmlab.scenarios import Fault, rerun
    a = run("kill-the-leader", 1)
    leader = next(e.node for e in a.events if e.kind == "state" and e.fields["state"] == "leader")
    follower = next(i for i in range(1, a.n + 1) if i != leader)
    t = 1.0
    b = rerun(a, [Fault(t, "crash", follower)])
    assert key([e for e in b.events if e.time < t]) == key([e for e in a.events if e.time < t])
    assert [e.time for e in b.events if e.kind == "crash"] == [t]
    # the stopped follower answers nothing from then on; the others go on
    assert not [e for e in b.events if e.node == follower and e.time > t]
    assert follower not in b.final and b.final[leader]["role"] == "leader"
    assert b.end >= max(a.end, t + 4.0) - 1e-6 and b.faults == (Fault(t, "crash", follower),)
    assert any(m.text == f"you stopped node{follower}" for m in b.marks)
    # restarted, it rejoins: it follows the leader again and catches up
    c = rerun(b, [Fault(2.0, "restart", follower)])
    assert key([e for e in c.events if e.time < 2.0]) == key([e for e in b.events if e.time < 2.0])
    assert c.final[follower]["role"] == "follower" and c.final[follower]["leader"] == leader
    assert c.final[follower]["commit"] == c.final[leader]["commit"]


def test_rerun_drops_a_message():
    from swarmlab.scenarios import Fault, rerun
    a = run("first-election", 1)
    vote = next(e for e in a.events if e.kind == "send" and e.fields["type"] == "VOTE")
    b = rerun(a, [Fault(vote.time, "drop", vote.node, vote.fields["dst"], "VOTE")])
    drops = [e for e in b.events if e.kind == "net" and e.fields["action"] == "drop"]
    assert [(d.fields["src"], d.fields["dst"], d.fields["type"]) for d in drops] == [
        (vote.node, vote.fields["dst"], "VOTE")]
    # the voter never saw that request
    assert not [e for e in b.events if e.kind == "vote" and e.node == vote.fields["dst"]
                and e.term == vote.term and e.fields["to"] == vote.node]
