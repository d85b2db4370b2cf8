"""The MIT 6.5840 Raft tester's helpers (its `config.go`), ported onto `RaftHarness`.

Theory of operation:
- The Go tester sleeps in real time and runs client goroutines. Here every sleep is
  `RaftHarness.run_for` on the simulator's virtual clock, so the limits the course uses
  (a leader within 5 s, 10 s per agreement, RPC counts per second) are virtual seconds and
  a test replays exactly from its seed.
- Helpers that wait are generators (`*_gen`) that yield how many seconds they sleep. The
  same code then runs alone (`Config.drive`) or interleaved with other "goroutines" in a
  `Scheduler`, which always resumes the task whose wake-up time is earliest (ties in spawn
  order). A goroutine's Go statements between two sleeps run atomically here, which is one
  of the interleavings the Go scheduler may pick, so the tests keep their meaning.
- Only the harness API fixed by issue 2 is used. The tester keeps its own view of which
  servers are connected and alive, as 6.5840's `cfg.connected` and `cfg.rafts[i] != nil`.
- The test's own random choices (victims, commands, sleeps) come from a `random.Random`
  derived from the seed, separate from the simulator's, as 6.5840 uses `math/rand`.
"""
from __future__ import annotations

import heapq
import os
import random
import string
from collections.abc import Generator, Iterable
from typing import Any

from swarmlab.sim.harness import RaftHarness

SNAPSHOT_INTERVAL = 10  # 6.5840's SnapShotInterval: the harness snapshots every 10 entries
MAX_LOG_SIZE = 2000  # 6.5840's MAXLOGSIZE, bytes of persisted Raft state besides the snapshot

Sleeps = Generator[float, None, Any]  # a helper that yields the seconds it sleeps


def seeds(*default: int) -> list[int]:
    """The seeds to parametrize a test with: `default`, or those named by the environment
    variable SWARMLAB_6840_SEEDS ("7", "1,5,9" or a range "1-200") for longer sweeps."""
    spec = os.environ.get("SWARMLAB_6840_SEEDS", "").strip()
    if not spec:
        return list(default)
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


class LabFailure(AssertionError):
    """A 6.5840 `t.Fatalf`."""


class Config:
    """6.5840's `config`: a cluster under test plus the checks the lab's tests call."""

    def __init__(self, n: int, seed: int, reliable: bool = True,
                 snapshots: bool = False) -> None:
        self.h = RaftHarness(n, seed, reliable=reliable, snapshots=snapshots)
        self.n, self.seed = n, seed
        self.rng = random.Random(f"6.5840 tester {seed}")
        self.connected = [True] * n
        self.alive = [True] * n
        self.now = 0.0  # virtual seconds since the cluster was made
        self.election_timeout = float(self.h.election_timeout)
        self._t0 = self._rpcs0 = self._bytes0 = 0
        self.description = ""

    # -- begin/end, failures carry the seed -----------------------------------------------
    def __enter__(self) -> Config:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None:
            exc.add_note(f"6.5840 test {self.description!r}: seed={self.seed}, "
                         f"virtual time {self.now:.3f}s")

    def begin(self, description: str) -> None:
        self.description = description
        print(f"{description} ... (seed={self.seed})")
        self._t0, self._rpcs0, self._bytes0 = self.now, self.h.rpc_total(), self.h.bytes_total()

    def end(self) -> None:
        print(f"  ... Passed -- {self.now - self._t0:5.1f}s virtual  {self.n} peers "
              f"{self.h.rpc_total() - self._rpcs0:5d} rpcs "
              f"{self.h.bytes_total() - self._bytes0:8d} bytes")

    def fail(self, msg: str) -> None:
        raise LabFailure(f"{msg} [seed={self.seed}, virtual time {self.now:.3f}s]")

    # -- time -------------------------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.h.run_for(seconds)
            self.now += seconds

    def drive(self, gen: Sleeps) -> Any:
        """Run a waiting helper alone: its sleeps become virtual time."""
        try:
            while True:
                self.sleep(next(gen))
        except StopIteration as stop:
            return stop.value

    # -- servers and the network ---------------------------------------------------------
    def start(self, i: int, command: Any) -> tuple[int, int, bool]:
        """`cfg.rafts[i].Start(cmd)`; a crashed server (nil in Go) is never the leader."""
        if not self.alive[i]:
            return -1, -1, False
        return self.h.start(i, command)

    def state(self, i: int) -> tuple[int, bool]:
        return self.h.state(i)

    def connect(self, i: int) -> None:
        self.connected[i] = True
        if self.alive[i]:
            self.h.connect(i)

    def disconnect(self, i: int) -> None:
        self.connected[i] = False
        if self.alive[i]:
            self.h.disconnect(i)

    def crash1(self, i: int) -> None:
        """Shut a server down, keeping what it persisted (it is also disconnected)."""
        self.disconnect(i)
        if self.alive[i]:
            self.h.crash(i)
            self.alive[i] = False

    def start1(self, i: int) -> None:
        """(Re)start a server from what it persisted; like Go it stays disconnected."""
        self.crash1(i)
        self.h.restart(i)
        self.alive[i] = True
        self.h.disconnect(i)

    def set_unreliable(self, unreliable: bool) -> None:
        self.h.set_reliable(not unreliable)

    def set_long_reordering(self, flag: bool) -> None:
        self.h.set_long_reordering(flag)

    def rpc_count(self, i: int) -> int:
        return self.h.rpc_count(i)

    def rpc_total(self) -> int:
        return self.h.rpc_total()

    def bytes_total(self) -> int:
        return self.h.bytes_total()

    def rand_int(self) -> int:
        """Go's `rand.Int()` as a command: a non-negative int (31 bits keep encodings small)."""
        return self.rng.randrange(1 << 31)

    def rand_string(self, n: int) -> str:
        return "".join(self.rng.choices(string.ascii_letters + string.digits + "-_", k=n))

    # -- checks -----------------------------------------------------------------------------
    def check_one_leader_gen(self) -> Sleeps:
        """One connected server claims leadership in the newest term; retry for ~5 s."""
        for _ in range(10):
            yield (450 + self.rng.randrange(100)) / 1000
            leaders: dict[int, list[int]] = {}
            for i in range(self.n):
                if self.connected[i] and self.alive[i]:
                    term, is_leader = self.state(i)
                    if is_leader:
                        leaders.setdefault(term, []).append(i)
            for term, ids in leaders.items():
                if len(ids) > 1:
                    self.fail(f"term {term} has {len(ids)} (>1) leaders: {ids}")
            if leaders:
                return leaders[max(leaders)][0]
        self.fail("expected one leader, got none")

    def check_one_leader(self) -> int:
        return self.drive(self.check_one_leader_gen())

    def check_terms(self) -> int:
        term = -1
        for i in range(self.n):
            if self.connected[i] and self.alive[i]:
                xterm, _ = self.state(i)
                if term == -1:
                    term = xterm
                elif term != xterm:
                    self.fail(f"servers disagree on term: {term} vs {xterm} (server {i})")
        return term

    def check_no_leader(self) -> None:
        for i in range(self.n):
            if self.connected[i] and self.alive[i] and self.state(i)[1]:
                self.fail(f"expected no leader among connected servers, but {i} claims to be")

    def n_committed(self, index: int) -> tuple[int, Any]:
        """How many servers applied `index` (the harness raises if they disagree)."""
        return self.h.n_committed(index)

    def wait_gen(self, index: int, n: int, start_term: int) -> Sleeps:
        """Wait for `n` servers to apply `index`; -1 if some term passed `start_term`."""
        to = 0.010
        for _ in range(30):
            if self.n_committed(index)[0] >= n:
                break
            yield to
            if to < 1.0:
                to *= 2
            if start_term > -1 and any(
                    self.state(i)[0] > start_term for i in range(self.n) if self.alive[i]):
                return -1  # someone moved on: the command may never commit
        nd, cmd = self.n_committed(index)
        if nd < n:
            self.fail(f"only {nd} decided for index {index}; wanted {n}")
        return cmd

    def wait(self, index: int, n: int, start_term: int) -> Any:
        return self.drive(self.wait_gen(index, n, start_term))

    def one_gen(self, cmd: Any, expected_servers: int, retry: bool) -> Sleeps:
        """A complete agreement within 10 s: find a leader, start `cmd`, and see it
        applied by `expected_servers` at the index the leader gave. Returns the index."""
        t0, starts = self.now, 0
        while self.now - t0 < 10:
            index = -1
            for _ in range(self.n):  # try all the servers, maybe one is the leader
                starts = (starts + 1) % self.n
                if self.connected[starts]:
                    index1, _, ok = self.start(starts, cmd)
                    if ok:
                        index = index1
                        break
            if index == -1:
                yield 0.050
                continue
            t1 = self.now  # somebody accepted our command; wait a while for agreement
            while self.now - t1 < 2:
                nd, cmd1 = self.n_committed(index)
                if nd > 0 and nd >= expected_servers and cmd1 == cmd:
                    return index
                yield 0.020
            if not retry:
                self.fail(f"one({cmd!r:.40}) failed to reach agreement")
        self.fail(f"one({cmd!r:.40}) failed to reach agreement")

    def one(self, cmd: Any, expected_servers: int, retry: bool) -> int:
        return self.drive(self.one_gen(cmd, expected_servers, retry))

    def log_size(self) -> int | None:
        """Largest persisted Raft state (log + term/vote) over the servers, if the harness
        reports it; 6.5840's `cfg.LogSize()`."""
        for name in ("log_size", "raft_state_size"):
            fn = getattr(self.h, name, None)
            if fn is not None:
                try:
                    return max(fn(i) for i in range(self.n))
                except TypeError:
                    return fn()
        return None


class Task:
    def __init__(self, gen: Sleeps) -> None:
        self.gen, self.done, self.result = gen, False, None


class Scheduler:
    """Cooperative goroutines on the tester's virtual clock."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._queue: list[tuple[float, int, Task]] = []
        self._seq = 0

    def go(self, gen: Sleeps) -> Task:
        task = Task(gen)
        self._push(self.cfg.now, task)
        return task

    def _push(self, wake: float, task: Task) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (wake, self._seq, task))

    def run(self, main: Sleeps) -> Any:
        """Run `main` and every spawned task until `main` returns; its value is returned.
        A failure in any task fails the test at once, as `t.Fatalf` in a goroutine does."""
        top = self.go(main)
        while not top.done:
            wake, _, task = heapq.heappop(self._queue)
            self.cfg.sleep(wake - self.cfg.now)
            try:
                self._push(self.cfg.now + next(task.gen), task)
            except StopIteration as stop:
                task.done, task.result = True, stop.value
        return top.result

    @staticmethod
    def join(tasks: Iterable[Task], poll: float = 0.010) -> Sleeps:
        """`wg.Wait()` from inside a task: poll until all `tasks` have returned."""
        tasks = list(tasks)
        while not all(t.done for t in tasks):
            yield poll
        return [t.result for t in tasks]
