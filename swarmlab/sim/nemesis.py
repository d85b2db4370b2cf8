"""Nemesis runs: client writes under random partitions, crashes, restarts, loss,
reordering and leadership transfers, with the invariant checkers on every step.

`python -m swarmlab.sim.nemesis --seeds 0:500` sweeps seeds; a failure prints
its seed and `--seeds 17:18 --verbose` replays it exactly.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass, field

from ..raft.messages import Entry, Snapshot
from .cluster import RaftSimCluster, SimConfig
from .invariants import InvariantViolation


class DigestMachine:
    """Applies entries into a running hash; snapshots every `every` entries."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.count = 0
        self.digest = ""
        self.index = 0
        self.acked: dict[int, bytes] = {}

    def restore(self, snap: Snapshot) -> None:
        doc = json.loads(snap.data) if snap.data else {"count": 0, "digest": ""}
        self.count, self.digest, self.index = doc["count"], doc["digest"], snap.index

    def apply(self, e: Entry) -> None:
        self.index = e.index
        if e.data:
            self.count += 1
            self.digest = hashlib.sha1(self.digest.encode() + e.data).hexdigest()[:16]
            self.acked[e.index] = e.data

    def snapshot(self) -> tuple[int, bytes] | None:
        if self.every and self.count and self.count % self.every == 0 and self.index:
            return self.index, json.dumps({"count": self.count, "digest": self.digest}).encode()
        return None


@dataclass
class NemesisResult:
    seed: int
    ok: bool
    error: str = ""
    acked: int = 0
    faults: list[str] = field(default_factory=list)
    elections: int = 0


class Nemesis:
    def __init__(self, seed: int, n: int = 5, snapshot_every: int = 25) -> None:
        self.seed = seed
        self.rng = random.Random(seed ^ 0x5EED)
        cfg = SimConfig(tick_s=0.05, heartbeat_tick=2, election_tick=10, count_bytes=False)
        self.sms: dict[int, DigestMachine] = {}
        self.snapshot_every = snapshot_every
        self.cluster = RaftSimCluster(n, seed, cfg, make_sm=self._make_sm)
        self.acked: dict[int, bytes] = {}  # index -> data acknowledged to the client
        self.pending: list[tuple[int, int, int, bytes]] = []  # (node, index, term, data)
        self.faults: list[str] = []
        self._next = 0

    def _make_sm(self, i: int) -> DigestMachine:
        sm = DigestMachine(self.snapshot_every)
        self.sms[i] = sm
        return sm

    def _client_write(self) -> None:
        for i in self.cluster.leaders():
            self._next += 1
            data = b"w%d" % self._next
            r = self.cluster.propose(i, data)
            if r:
                self.pending.append((i, r[0], r[1], data))

    def _collect_acks(self) -> None:
        """A write is acknowledged once its leader applied it at the index it promised."""
        still = []
        for node, index, term, data in self.pending:
            sm = self.cluster.servers[node].sm
            if sm is not None and self.sms[node] is sm and sm.acked.get(index) == data:
                self.acked[index] = data
            elif sm is not None and sm.index < index:
                still.append((node, index, term, data))
        self.pending = still

    def _fault(self) -> None:
        c, rng = self.cluster, self.rng
        ids = c.ids
        down = [i for i in ids if not c.servers[i].alive]
        choice = rng.random()
        if choice < 0.2:
            k = rng.randrange(1, len(ids))
            side = set(rng.sample(ids, k))
            c.net.partition(side)
            self.faults.append(f"partition {sorted(side)}")
        elif choice < 0.35:
            c.net.heal()
            self.faults.append("heal")
        elif choice < 0.5 and len(down) < len(ids) - 1:
            i = rng.choice([i for i in ids if c.servers[i].alive])
            c.crash(i)
            self.faults.append(f"crash {i}")
        elif choice < 0.7 and down:
            i = rng.choice(down)
            c.start(i)
            self.faults.append(f"restart {i}")
        elif choice < 0.8:
            c.net.loss = rng.choice([0.0, 0.05, 0.2, 0.4])
            self.faults.append(f"loss {c.net.loss}")
        elif choice < 0.88:
            c.net.long_reordering = not c.net.long_reordering
            self.faults.append(f"reorder {c.net.long_reordering}")
        else:
            leaders = c.leaders()
            if leaders:
                target = rng.choice(ids)
                c.with_node(leaders[0], lambda n: n.transfer_leadership(target))
                self.faults.append(f"transfer {leaders[0]}->{target}")

    def run(self, duration: float = 15.0, settle: float = 10.0) -> NemesisResult:
        c = self.cluster
        try:
            t_end = c.clock.now() + duration
            next_fault = c.clock.now() + self.rng.uniform(0.2, 1.0)
            while c.clock.now() < t_end:
                c.run_for(0.03)
                self._client_write()
                self._collect_acks()
                if c.clock.now() >= next_fault:
                    self._fault()
                    next_fault = c.clock.now() + self.rng.uniform(0.2, 1.0)
            self._settle(settle)
            return NemesisResult(self.seed, True, acked=len(self.acked), faults=self.faults,
                                 elections=len(c.checker.leaders) if c.checker else 0)
        except (InvariantViolation, AssertionError) as e:
            return NemesisResult(self.seed, False, f"{type(e).__name__}: {e}",
                                 len(self.acked), self.faults)

    def _settle(self, settle: float) -> None:
        """Faults stop: the cluster must elect, commit a new write everywhere, and keep
        every acknowledged write at its index."""
        c = self.cluster
        c.net.heal()
        c.net.long_reordering = False
        for i in c.ids:
            if not c.servers[i].alive:
                c.start(i)
        ok = c.run_until(lambda: len(c.leaders()) == 1, settle)
        assert ok, f"no single leader {settle}s after faults stopped"
        chk = c.checker
        assert chk is not None
        final: list[tuple[int, int]] = []  # (index, term) of the latest attempt

        def final_everywhere() -> bool:
            """Propose b"final" (again, if its leader lost its term) until all applied it."""
            leaders = c.leaders()
            if not leaders:
                return False
            node = c.servers[leaders[0]].node
            if not final or final[-1][1] != node.term:
                r = c.propose(leaders[0], b"final")  # None while a transfer holds proposals
                if r:
                    final.append(r)
                return False
            index = final[-1][0]
            return chk.applied.get(index, (0, b""))[1] == b"final" and all(
                s.sm and s.sm.index >= index for s in c.servers.values())
        assert c.run_until(final_everywhere, settle), \
            "a new write was not applied everywhere after faults stopped"
        self._collect_acks()
        c.check_logs()
        digests = {(s.sm.index, s.sm.digest) for s in c.servers.values() if s.sm}
        assert len(digests) == 1, f"state machines differ after settling: {digests}"
        for index, data in self.acked.items():
            got = chk.applied.get(index)
            assert got is not None and got[1] == data, f"acknowledged write at {index} lost"


def sweep(seeds: range, n: int = 5, duration: float = 15.0, verbose: bool = False) -> int:
    failed = 0
    t0 = time.time()
    for seed in seeds:
        r = Nemesis(seed, n).run(duration)
        if not r.ok:
            failed += 1
            print(f"seed {seed}: FAILED: {r.error}\n  faults: {'; '.join(r.faults[-12:])}")
        elif verbose:
            print(f"seed {seed}: ok, {r.acked} acknowledged writes, {r.elections} terms with "
                  f"a leader, {len(r.faults)} faults")
    print(f"{len(seeds) - failed} passed, {failed} failed ({len(seeds)} seeds, n={n}, "
          f"{duration:g}s virtual each, {time.time() - t0:.1f}s)")
    return failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="0:100", help="START:STOP range of seeds")
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--duration", type=float, default=15.0, help="virtual seconds of faults")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    lo, _, hi = a.seeds.partition(":")
    seeds = range(int(lo), int(hi or int(lo) + 1))
    return 1 if sweep(seeds, a.nodes, a.duration, a.verbose) else 0


if __name__ == "__main__":
    sys.exit(main())
