"""MIT 6.5840 Lab 3A (leader election), ported onto the simulator harness.

Same scenarios and limits as `raft/test_test.go`, measured in virtual time: each
`check_one_leader` gives a cluster about 5 virtual seconds to settle on one leader.
"""
import pytest

from sim6840 import Config, seeds

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("seed", seeds(1, 2, 3))
def test_initial_election(seed):
    with Config(3, seed) as cfg:
        cfg.begin("Test (3A): initial election")
        cfg.check_one_leader()
        # sleep a bit to avoid racing with followers learning of the election,
        # then check that all peers agree on the term.
        cfg.sleep(0.050)
        term1 = cfg.check_terms()
        if term1 < 1:
            cfg.fail(f"term is {term1}, but should be at least 1")
        # does the leader+term stay the same if there is no network failure?
        cfg.sleep(2 * cfg.election_timeout)
        term2 = cfg.check_terms()
        if term1 != term2:
            print("warning: term changed even though there were no failures")
        cfg.check_one_leader()  # there should still be a leader
        cfg.end()


@pytest.mark.parametrize("seed", seeds(1, 2, 3))
def test_re_election(seed):
    with Config(3, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3A): election after network failure")
        leader1 = cfg.check_one_leader()
        # if the leader disconnects, a new one should be elected.
        cfg.disconnect(leader1)
        cfg.check_one_leader()
        # if the old leader rejoins, that shouldn't disturb the new leader,
        # and the old leader should switch to follower.
        cfg.connect(leader1)
        leader2 = cfg.check_one_leader()
        # if there's no quorum, no new leader should be elected.
        cfg.disconnect(leader2)
        cfg.disconnect((leader2 + 1) % servers)
        cfg.sleep(2 * cfg.election_timeout)
        cfg.check_no_leader()  # the one connected server must not think it leads
        # if a quorum arises, it should elect a leader.
        cfg.connect((leader2 + 1) % servers)
        cfg.check_one_leader()
        # re-join of last node shouldn't prevent leader from existing.
        cfg.connect(leader2)
        cfg.check_one_leader()
        cfg.end()


@pytest.mark.parametrize("seed", seeds(1, 2, 3))
def test_many_elections(seed):
    with Config(7, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3A): multiple elections")
        cfg.check_one_leader()
        for _ in range(1, 10):
            # disconnect three nodes (picked with replacement, as in Go)
            i1, i2, i3 = (cfg.rng.randrange(servers) for _ in range(3))
            cfg.disconnect(i1)
            cfg.disconnect(i2)
            cfg.disconnect(i3)
            # either the current leader should still be alive,
            # or the remaining four should elect a new one.
            cfg.check_one_leader()
            cfg.connect(i1)
            cfg.connect(i2)
            cfg.connect(i3)
        cfg.check_one_leader()
        cfg.end()
