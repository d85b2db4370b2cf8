"""MIT 6.5840 Lab 3B (log agreement), ported onto the simulator harness.

Same scenarios and limits as `raft/test_test.go` (10 s per agreement in `one()`, the RPC
byte and count budgets), measured in virtual time. Go's concurrent `Start()` goroutines
run back to back at one virtual instant, one of the interleavings Go allows.
"""
import pytest

from sim6840 import Config, seeds

pytestmark = pytest.mark.timeout(300)
SEEDS = seeds(1, 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_basic_agree(seed):
    with Config(3, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3B): basic agreement")
        for index in range(1, 4):
            nd, _ = cfg.n_committed(index)
            if nd > 0:
                cfg.fail("some have committed before Start()")
            xindex = cfg.one(index * 100, servers, False)
            if xindex != index:
                cfg.fail(f"got index {xindex} but expected {index}")
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_rpc_bytes(seed):
    """Counting RPC bytes: each command is sent to each peer just once."""
    with Config(3, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3B): RPC byte count")
        cfg.one(99, servers, False)
        bytes0 = cfg.bytes_total()
        sent = 0
        for index in range(2, 12):
            cmd = cfg.rand_string(5000)
            xindex = cfg.one(cmd, servers, False)
            if xindex != index:
                cfg.fail(f"got index {xindex} but expected {index}")
            sent += len(cmd)
        got = cfg.bytes_total() - bytes0
        expected = servers * sent
        if got > expected + 50000:
            cfg.fail(f"too many RPC bytes; got {got}, expected {expected}")
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_follower_failure(seed):
    """Progressive failure of followers."""
    with Config(3, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3B): test progressive failure of followers")
        cfg.one(101, servers, False)
        # disconnect one follower; the leader and the other should still agree.
        leader1 = cfg.check_one_leader()
        cfg.disconnect((leader1 + 1) % servers)
        cfg.one(102, servers - 1, False)
        cfg.sleep(cfg.election_timeout)
        cfg.one(103, servers - 1, False)
        # disconnect the remaining follower
        leader2 = cfg.check_one_leader()
        cfg.disconnect((leader2 + 1) % servers)
        cfg.disconnect((leader2 + 2) % servers)
        index, _, ok = cfg.start(leader2, 104)
        if not ok:
            cfg.fail("leader rejected Start()")
        if index != 4:
            cfg.fail(f"expected index 4, got {index}")
        cfg.sleep(2 * cfg.election_timeout)
        n, _ = cfg.n_committed(index)  # command 104 must not commit
        if n > 0:
            cfg.fail(f"{n} committed but no majority")
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_leader_failure(seed):
    """Failure of leaders."""
    with Config(3, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3B): test failure of leaders")
        cfg.one(101, servers, False)
        # disconnect the first leader; the remaining followers elect a new one.
        leader1 = cfg.check_one_leader()
        cfg.disconnect(leader1)
        cfg.one(102, servers - 1, False)
        cfg.sleep(cfg.election_timeout)
        cfg.one(103, servers - 1, False)
        # disconnect the new leader and submit a command to each server.
        leader2 = cfg.check_one_leader()
        cfg.disconnect(leader2)
        for i in range(servers):
            cfg.start(i, 104)
        cfg.sleep(2 * cfg.election_timeout)
        n, _ = cfg.n_committed(4)  # command 104 must not commit
        if n > 0:
            cfg.fail(f"{n} committed but no majority")
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_fail_agree(seed):
    """A follower participates after disconnect and re-connect."""
    with Config(3, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3B): agreement after follower reconnects")
        cfg.one(101, servers, False)
        leader = cfg.check_one_leader()
        cfg.disconnect((leader + 1) % servers)
        cfg.one(102, servers - 1, False)
        cfg.one(103, servers - 1, False)
        cfg.sleep(cfg.election_timeout)
        cfg.one(104, servers - 1, False)
        cfg.one(105, servers - 1, False)
        cfg.connect((leader + 1) % servers)
        # the full set keeps previous agreements and agrees on new commands.
        cfg.one(106, servers, True)
        cfg.sleep(cfg.election_timeout)
        cfg.one(107, servers, True)
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_fail_no_agree(seed):
    """No agreement if too many followers disconnect."""
    with Config(5, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3B): no agreement if too many followers disconnect")
        cfg.one(10, servers, False)
        leader = cfg.check_one_leader()  # 3 of 5 followers disconnect
        for k in (1, 2, 3):
            cfg.disconnect((leader + k) % servers)
        index, _, ok = cfg.start(leader, 20)
        if not ok:
            cfg.fail("leader rejected Start()")
        if index != 2:
            cfg.fail(f"expected index 2, got {index}")
        cfg.sleep(2 * cfg.election_timeout)
        n, _ = cfg.n_committed(index)
        if n > 0:
            cfg.fail(f"{n} committed but no majority")
        for k in (1, 2, 3):  # repair
            cfg.connect((leader + k) % servers)
        # the disconnected majority may have chosen a leader from among their own
        # ranks, forgetting index 2.
        leader2 = cfg.check_one_leader()
        index2, _, ok2 = cfg.start(leader2, 30)
        if not ok2:
            cfg.fail("leader2 rejected Start()")
        if not 2 <= index2 <= 3:
            cfg.fail(f"unexpected index {index2}")
        cfg.one(1000, servers, True)
        cfg.end()


def _concurrent_starts_try(cfg, iters=5):
    """One try of the concurrent-starts test: True on success, False if the term moved.
    Go's five `Start()` goroutines run here back to back at the same virtual instant."""
    leader = cfg.check_one_leader()
    _, term, ok = cfg.start(leader, 1)
    if not ok:
        return False  # leader moved on really quickly
    indexes = []
    for ii in range(iters):
        i, term1, ok = cfg.start(leader, 100 + ii)
        if term1 == term and ok:
            indexes.append(i)
    if any(cfg.state(j)[0] != term for j in range(cfg.n)):
        return False  # term changed -- can't expect low RPC counts
    cmds = []
    for index in indexes:
        cmd = cfg.wait(index, cfg.n, term)
        if not isinstance(cmd, int):
            cfg.fail(f"value {cmd!r} is not an int")
        if cmd == -1:
            return False  # peers moved on to later terms; Start()s may have failed
        cmds.append(cmd)
    for ii in range(iters):
        if 100 + ii not in cmds:
            cfg.fail(f"cmd {100 + ii} missing in {cmds}")
    return True


@pytest.mark.parametrize("seed", SEEDS)
def test_concurrent_starts(seed):
    with Config(3, seed) as cfg:
        cfg.begin("Test (3B): concurrent Start()s")
        for attempt in range(5):
            if attempt > 0:
                cfg.sleep(3)  # give the solution some time to settle
            if _concurrent_starts_try(cfg):
                break
        else:
            cfg.fail("term changed too often")
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_rejoin(seed):
    """Rejoin of a partitioned leader."""
    with Config(3, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3B): rejoin of partitioned leader")
        cfg.one(101, servers, True)
        # leader network failure; the old leader tries to agree on some entries
        leader1 = cfg.check_one_leader()
        cfg.disconnect(leader1)
        for cmd in (102, 103, 104):
            cfg.start(leader1, cmd)
        cfg.one(103, 2, True)  # new leader commits, also for index=2
        # new leader network failure; old leader connected again
        leader2 = cfg.check_one_leader()
        cfg.disconnect(leader2)
        cfg.connect(leader1)
        cfg.one(104, 2, True)
        cfg.connect(leader2)  # all together now
        cfg.one(105, servers, True)
        cfg.end()


def _partition(cfg, members):
    """Connect exactly `members`."""
    for i in range(cfg.n):
        cfg.disconnect(i)
    for i in members:
        cfg.connect(i)


@pytest.mark.parametrize("seed", SEEDS)
def test_backup(seed):
    """The leader backs up quickly over incorrect follower logs."""
    with Config(5, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3B): leader backs up quickly over incorrect follower logs")
        cfg.one(cfg.rand_int(), servers, True)
        # put leader and one follower in a partition
        leader1 = cfg.check_one_leader()
        for k in (2, 3, 4):
            cfg.disconnect((leader1 + k) % servers)
        for _ in range(50):  # lots of commands that won't commit
            cfg.start(leader1, cfg.rand_int())
        cfg.sleep(cfg.election_timeout / 2)
        cfg.disconnect((leader1 + 0) % servers)
        cfg.disconnect((leader1 + 1) % servers)
        for k in (2, 3, 4):  # allow the other partition to recover
            cfg.connect((leader1 + k) % servers)
        for _ in range(50):  # lots of successful commands to the new group
            cfg.one(cfg.rand_int(), 3, True)
        # now another partitioned leader and one follower
        leader2 = cfg.check_one_leader()
        other = (leader1 + 2) % servers
        if leader2 == other:
            other = (leader2 + 1) % servers
        cfg.disconnect(other)
        for _ in range(50):  # lots more commands that won't commit
            cfg.start(leader2, cfg.rand_int())
        cfg.sleep(cfg.election_timeout / 2)
        # bring the original leader back to life
        _partition(cfg, [(leader1 + 0) % servers, (leader1 + 1) % servers, other])
        for _ in range(50):  # lots of successful commands to the new group
            cfg.one(cfg.rand_int(), 3, True)
        for i in range(servers):  # now everyone
            cfg.connect(i)
        cfg.one(cfg.rand_int(), servers, True)
        cfg.end()


def _rpcs(cfg):
    return sum(cfg.rpc_count(j) for j in range(cfg.n))


def _count_try(cfg, iters=10):
    """One try of the RPC count test: the RPCs it took to agree on iters+1 commands in
    one term, or None if the term changed (try again)."""
    leader = cfg.check_one_leader()
    total1 = _rpcs(cfg)
    starti, term, ok = cfg.start(leader, 1)
    if not ok:
        return None  # leader moved on really quickly
    cmds = []
    for i in range(1, iters + 2):
        x = cfg.rng.randrange(1 << 31)
        cmds.append(x)
        index1, term1, ok = cfg.start(leader, x)
        if term1 != term or not ok:
            return None  # term changed while starting
        if starti + i != index1:
            cfg.fail(f"Start() failed: index {index1}, expected {starti + i}")
    for i in range(1, iters + 1):
        cmd = cfg.wait(starti + i, cfg.n, term)
        if cmd == -1:
            return None  # term changed -- try again
        if cmd != cmds[i - 1]:
            cfg.fail(f"wrong value {cmd} committed for index {starti + i}; expected {cmds}")
    total2 = _rpcs(cfg)
    if any(cfg.state(j)[0] != term for j in range(cfg.n)):
        return None  # term changed -- can't expect low RPC counts
    if total2 - total1 > (iters + 1 + 3) * 3:
        cfg.fail(f"too many RPCs ({total2 - total1}) for {iters} entries")
    return total2


@pytest.mark.parametrize("seed", SEEDS)
def test_count(seed):
    """RPC counts aren't too high."""
    with Config(3, seed) as cfg:
        cfg.begin("Test (3B): RPC counts aren't too high")
        cfg.check_one_leader()
        total1 = _rpcs(cfg)
        if total1 > 30 or total1 < 1:
            cfg.fail(f"too many or few RPCs ({total1}) to elect initial leader")
        for attempt in range(5):
            if attempt > 0:
                cfg.sleep(3)  # give the solution some time to settle
            total2 = _count_try(cfg)
            if total2 is not None:
                break
        else:
            cfg.fail("term changed too often")
        cfg.sleep(cfg.election_timeout)
        total3 = _rpcs(cfg)
        if total3 - total2 > 3 * 20:
            cfg.fail(f"too many RPCs ({total3 - total2}) for 1 second of idleness")
        cfg.end()
