"""MIT 6.5840 Lab 3D (log compaction), ported onto the simulator harness.

The harness built with `snapshots=True` plays 6.5840's `applierSnap`: each server
snapshots its applied state every 10 entries, and a restarted server starts from its
snapshot plus the log tail it persisted. Limits as in `raft/test_test.go`, in virtual time.
"""
import pytest

from sim6840 import MAX_LOG_SIZE, SNAPSHOT_INTERVAL, Config, seeds

pytestmark = pytest.mark.timeout(600)
SEEDS = seeds(1, 2)


def _snap_round(cfg, leader1, i, disconnect, crash):
    """One of snapcommon's 30 rounds; returns the leader to use next."""
    servers = cfg.n
    victim, sender = (leader1 + 1) % servers, leader1
    if i % 3 == 1:
        sender, victim = (leader1 + 1) % servers, leader1
    if disconnect:
        cfg.disconnect(victim)
        cfg.one(cfg.rand_int(), servers - 1, True)
    if crash:
        cfg.crash1(victim)
        cfg.one(cfg.rand_int(), servers - 1, True)
    # perhaps send enough to get a snapshot
    nn = SNAPSHOT_INTERVAL // 2 + cfg.rng.randrange(SNAPSHOT_INTERVAL)
    for _ in range(nn):
        cfg.start(sender, cfg.rand_int())
    # let the appliers catch up with the Start()s
    if not disconnect and not crash:
        # all followers catch up, so snapshots basic needs no InstallSnapshot
        cfg.one(cfg.rand_int(), servers, True)
    else:
        cfg.one(cfg.rand_int(), servers - 1, True)
    size = cfg.log_size()
    if size is not None and size >= MAX_LOG_SIZE:
        cfg.fail(f"log size too large: {size} bytes")
    if disconnect:
        # reconnect a follower, who may be behind and need a snapshot to catch up
        cfg.connect(victim)
        cfg.one(cfg.rand_int(), servers, True)
        leader1 = cfg.check_one_leader()
    if crash:
        cfg.start1(victim)
        cfg.connect(victim)
        cfg.one(cfg.rand_int(), servers, True)
        leader1 = cfg.check_one_leader()
    return leader1


def _snapcommon(seed, name, disconnect, reliable, crash):
    with Config(3, seed, reliable=reliable, snapshots=True) as cfg:
        cfg.begin(name)
        cfg.one(cfg.rand_int(), cfg.n, True)
        leader1 = cfg.check_one_leader()
        for i in range(30):
            leader1 = _snap_round(cfg, leader1, i, disconnect, crash)
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_snapshot_basic(seed):
    _snapcommon(seed, "Test (3D): snapshots basic", False, True, False)


@pytest.mark.parametrize("seed", SEEDS)
def test_snapshot_install(seed):
    _snapcommon(seed, "Test (3D): install snapshots (disconnect)", True, True, False)


@pytest.mark.parametrize("seed", SEEDS)
def test_snapshot_install_unreliable(seed):
    _snapcommon(seed, "Test (3D): install snapshots (disconnect+unreliable)",
                True, False, False)


@pytest.mark.parametrize("seed", SEEDS)
def test_snapshot_install_crash(seed):
    _snapcommon(seed, "Test (3D): install snapshots (crash)", False, True, True)


@pytest.mark.parametrize("seed", SEEDS)
def test_snapshot_install_uncrash(seed):
    _snapcommon(seed, "Test (3D): install snapshots (unreliable+crash)", False, False, True)


def _crash_and_revive_all(cfg):
    for i in range(cfg.n):
        cfg.crash1(i)
    for i in range(cfg.n):
        cfg.start1(i)
        cfg.connect(i)


@pytest.mark.parametrize("seed", SEEDS)
def test_snapshot_all_crash(seed):
    """Servers persist their snapshots and restart from the snapshot plus the log tail."""
    with Config(3, seed, snapshots=True) as cfg:
        servers = cfg.n
        cfg.begin("Test (3D): crash and restart all servers")
        cfg.one(cfg.rand_int(), servers, True)
        for _ in range(5):
            # perhaps enough to get a snapshot
            nn = SNAPSHOT_INTERVAL // 2 + cfg.rng.randrange(SNAPSHOT_INTERVAL)
            for _ in range(nn):
                cfg.one(cfg.rand_int(), servers, True)
            index1 = cfg.one(cfg.rand_int(), servers, True)
            _crash_and_revive_all(cfg)
            index2 = cfg.one(cfg.rand_int(), servers, True)
            if index2 < index1 + 1:
                cfg.fail(f"index decreased from {index1} to {index2}")
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_snapshot_init(seed):
    """Servers initialize their in-memory copy of the snapshot on restart, so later
    writes to persistent state don't lose it."""
    with Config(3, seed, snapshots=True) as cfg:
        servers = cfg.n
        cfg.begin("Test (3D): snapshot initialization after crash")
        cfg.one(cfg.rand_int(), servers, True)
        for _ in range(SNAPSHOT_INTERVAL + 1):  # enough ops to make a snapshot
            cfg.one(cfg.rand_int(), servers, True)
        _crash_and_revive_all(cfg)
        # a single op, to get something written back to persistent storage
        cfg.one(cfg.rand_int(), servers, True)
        _crash_and_revive_all(cfg)
        cfg.one(cfg.rand_int(), servers, True)  # another op to trigger a potential bug
        cfg.end()
