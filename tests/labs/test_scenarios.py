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
