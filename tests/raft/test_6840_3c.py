"""MIT 6.5840 Lab 3C (persistence), ported onto the simulator harness.

Same scenarios, iteration counts and limits as `raft/test_test.go`, in virtual time.
`crash1`/`start1` are the harness's `crash`/`restart`: a restarted server sees only what
it persisted. Go's goroutines (the concurrent `one()` calls of unreliable agreement, the
churn clients) are generators on the tester's `Scheduler`: each runs until it sleeps, and
the one with the earliest wake-up time goes next, all on the same virtual clock.
"""
import pytest

from sim6840 import Config, Scheduler, seeds

pytestmark = pytest.mark.timeout(600)
SEEDS = seeds(1, 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_persist1(seed):
    with Config(3, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3C): basic persistence")
        cfg.one(11, servers, True)
        for i in range(servers):  # crash and re-start all
            cfg.start1(i)
        for i in range(servers):
            cfg.disconnect(i)
            cfg.connect(i)
        cfg.one(12, servers, True)
        leader1 = cfg.check_one_leader()
        cfg.disconnect(leader1)
        cfg.start1(leader1)
        cfg.connect(leader1)
        cfg.one(13, servers, True)
        leader2 = cfg.check_one_leader()
        cfg.disconnect(leader2)
        cfg.one(14, servers - 1, True)
        cfg.start1(leader2)
        cfg.connect(leader2)
        cfg.wait(4, servers, -1)  # wait for leader2 to join before killing i3
        i3 = (cfg.check_one_leader() + 1) % servers
        cfg.disconnect(i3)
        cfg.one(15, servers - 1, True)
        cfg.start1(i3)
        cfg.connect(i3)
        cfg.one(16, servers, True)
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_persist2(seed):
    with Config(5, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3C): more persistence")
        index = 1
        for _ in range(5):
            cfg.one(10 + index, servers, True)
            index += 1
            leader1 = cfg.check_one_leader()
            cfg.disconnect((leader1 + 1) % servers)
            cfg.disconnect((leader1 + 2) % servers)
            cfg.one(10 + index, servers - 2, True)
            index += 1
            for k in (0, 3, 4):
                cfg.disconnect((leader1 + k) % servers)
            cfg.start1((leader1 + 1) % servers)
            cfg.start1((leader1 + 2) % servers)
            cfg.connect((leader1 + 1) % servers)
            cfg.connect((leader1 + 2) % servers)
            cfg.sleep(cfg.election_timeout)
            cfg.start1((leader1 + 3) % servers)
            cfg.connect((leader1 + 3) % servers)
            cfg.one(10 + index, servers - 2, True)
            index += 1
            cfg.connect((leader1 + 4) % servers)
            cfg.connect((leader1 + 0) % servers)
        cfg.one(1000, servers, True)
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_persist3(seed):
    with Config(3, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3C): partitioned leader and one follower crash, leader restarts")
        cfg.one(101, 3, True)
        leader = cfg.check_one_leader()
        cfg.disconnect((leader + 2) % servers)
        cfg.one(102, 2, True)
        cfg.crash1((leader + 0) % servers)
        cfg.crash1((leader + 1) % servers)
        cfg.connect((leader + 2) % servers)
        cfg.start1((leader + 0) % servers)
        cfg.connect((leader + 0) % servers)
        cfg.one(103, 2, True)
        cfg.start1((leader + 1) % servers)
        cfg.connect((leader + 1) % servers)
        cfg.one(104, servers, True)
        cfg.end()


def _figure8_sleep(cfg):
    """Mostly a few ms; one time in ten up to half an election timeout."""
    if cfg.rng.randrange(1000) < 100:
        return cfg.rng.randrange(int(cfg.election_timeout * 1000) // 2) / 1000
    return cfg.rng.randrange(13) / 1000


@pytest.mark.parametrize("seed", SEEDS)
def test_figure8(seed):
    """Figure 8 of the extended Raft paper: each iteration asks a leader, if there is one,
    to append a command; the leader then crashes quickly with high probability (perhaps
    before committing) or after a while with low probability (most likely committing).
    If too few servers are up for a majority, perhaps restart one. A new leader may try
    to finish replicating entries that have not been committed yet."""
    with Config(5, seed) as cfg:
        servers = cfg.n
        cfg.begin("Test (3C): Figure 8")
        cfg.one(cfg.rand_int(), 1, True)
        nup = servers
        for _ in range(1000):
            leader = -1
            for i in range(servers):
                if cfg.alive[i] and cfg.start(i, cfg.rand_int())[2]:
                    leader = i
            cfg.sleep(_figure8_sleep(cfg))
            if leader != -1:
                cfg.crash1(leader)
                nup -= 1
            if nup < 3:
                s = cfg.rng.randrange(servers)
                if not cfg.alive[s]:
                    cfg.start1(s)
                    cfg.connect(s)
                    nup += 1
        for i in range(servers):
            if not cfg.alive[i]:
                cfg.start1(i)
                cfg.connect(i)
        cfg.one(cfg.rand_int(), servers, True)
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_unreliable_agree(seed):
    """Go runs four `one()` goroutines per iteration next to the main `one()`; here they
    are scheduler tasks that keep running while later iterations proceed."""
    with Config(5, seed, reliable=False) as cfg:
        servers = cfg.n
        cfg.begin("Test (3C): unreliable agreement")
        sched = Scheduler(cfg)

        def main():
            clients = []
            for iters in range(1, 50):
                for j in range(4):
                    clients.append(sched.go(cfg.one_gen(100 * iters + j, 1, True)))
                yield from cfg.one_gen(iters, 1, True)
            cfg.set_unreliable(False)
            yield from sched.join(clients)
            yield from cfg.one_gen(100, servers, True)

        sched.run(main())
        cfg.end()


@pytest.mark.parametrize("seed", SEEDS)
def test_figure8_unreliable(seed):
    with Config(5, seed, reliable=False) as cfg:
        servers = cfg.n
        cfg.begin("Test (3C): Figure 8 (unreliable)")
        cfg.one(cfg.rand_int() % 10000, 1, True)
        nup = servers
        for iters in range(1000):
            if iters == 200:
                cfg.set_long_reordering(True)
            leader = -1
            for i in range(servers):
                _, _, ok = cfg.start(i, cfg.rand_int() % 10000)
                if ok and cfg.connected[i]:
                    leader = i
            cfg.sleep(_figure8_sleep(cfg))
            if leader != -1 and cfg.rng.randrange(1000) < int(cfg.election_timeout * 1000) // 2:
                cfg.disconnect(leader)
                nup -= 1
            if nup < 3:
                s = cfg.rng.randrange(servers)
                if not cfg.connected[s]:
                    cfg.connect(s)
                    nup += 1
        for i in range(servers):
            if not cfg.connected[i]:
                cfg.connect(i)
        cfg.one(cfg.rand_int() % 10000, servers, True)
        cfg.end()


def _churn_client(cfg, me, stop):
    """A Go churn client: start a random value on every live server (one may be the leader),
    then poll a little while for it to commit; collect the values seen committed."""
    values = []
    while not stop[0]:
        x = cfg.rand_int()
        index, ok = -1, False
        for i in range(cfg.n):
            if cfg.alive[i]:
                index1, _, ok1 = cfg.start(i, x)
                if ok1:
                    index, ok = index1, True
        if not ok:
            yield (79 + me * 17) / 1000
            continue
        for to in (10, 20, 50, 100, 200):  # maybe it commits, maybe not; don't wait forever
            nd, cmd = cfg.n_committed(index)
            if nd > 0:
                if not isinstance(cmd, int):
                    cfg.fail("wrong command type")
                if cmd == x:
                    values.append(x)
                break
            yield to / 1000
    return values


def _churn_nemesis(cfg):
    """20 rounds of random disconnects, restarts and crashes, 0.7 election timeouts apart:
    often enough that things never settle, rarely enough that peers can keep up."""
    for _ in range(20):
        if cfg.rng.randrange(1000) < 200:
            cfg.disconnect(cfg.rng.randrange(cfg.n))
        if cfg.rng.randrange(1000) < 500:
            i = cfg.rng.randrange(cfg.n)
            if not cfg.alive[i]:
                cfg.start1(i)
            cfg.connect(i)
        if cfg.rng.randrange(1000) < 200:
            i = cfg.rng.randrange(cfg.n)
            if cfg.alive[i]:
                cfg.crash1(i)
        yield cfg.election_timeout * 7 / 10


def _churn(seed, unreliable):
    with Config(5, seed, reliable=not unreliable) as cfg:
        servers = cfg.n
        cfg.begin("Test (3C): unreliable churn" if unreliable else "Test (3C): churn")
        sched, stop = Scheduler(cfg), [False]

        def main():
            clients = [sched.go(_churn_client(cfg, me, stop)) for me in range(3)]
            yield from _churn_nemesis(cfg)
            yield cfg.election_timeout
            cfg.set_unreliable(False)
            for i in range(servers):
                if not cfg.alive[i]:
                    cfg.start1(i)
                cfg.connect(i)
            stop[0] = True
            return [v for vs in (yield from sched.join(clients)) for v in vs]

        values = sched.run(main())
        cfg.sleep(cfg.election_timeout)
        last_index = cfg.one(cfg.rand_int(), servers, True)
        really = [cfg.wait(index, servers, -1) for index in range(1, last_index + 1)]
        for v in really:
            if not isinstance(v, int):
                cfg.fail(f"not an int: {v!r}")
        missing = [v for v in values if v not in set(really)]
        if missing:
            cfg.fail(f"didn't find a value: {missing[:5]} (of {len(values)} committed)")
        print(f"  {len(values)} client values seen committed; log has {last_index} entries")
        cfg.end()
        return values, really, cfg.now, cfg.rpc_total(), cfg.bytes_total()


@pytest.mark.parametrize("seed", SEEDS)
def test_reliable_churn(seed):
    _churn(seed, unreliable=False)


@pytest.mark.parametrize("seed", SEEDS)
def test_unreliable_churn(seed):
    _churn(seed, unreliable=True)


def test_same_seed_replays_churn():
    """The port relies on determinism: a seed names one run, so a failure replays exactly."""
    assert _churn(3, unreliable=True) == _churn(3, unreliable=True)
