"""Swarm-level nemesis: user operations under node kills and partitions, with the
control plane's invariants checked after every reconcile step.

Invariants (issue 3): no two running tasks in one slot; a global service has at
most one running task per node; once a drain has settled no task runs on the
drained node; task states only move forward; and when faults stop, every
service converges to its desired replicas. Raft's own checkers run underneath.

    python -m swarmlab.sim.swarm_nemesis --seeds 0:200
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace

from ..objects import (
    ContainerSpec, Global, NodeAvailability, NodeState, Replicated, ServiceMode, ServiceSpec,
    TaskSpec, TaskState,
)
from ..raft.core import NotLeader, ProposalDropped
from ..store import ProposalNotApplied
from .invariants import InvariantViolation
from .swarm import SwarmSim


class SwarmInvariantViolation(AssertionError):
    pass


@dataclass
class SwarmChecker:
    states: dict[str, TaskState] = field(default_factory=dict)  # task -> last state seen
    drained_since: dict[str, float] = field(default_factory=dict)

    def check(self, sim: SwarmSim, settle_s: float = 6.0) -> None:
        mgr = sim.leader()
        if mgr is None:
            return
        view = sim.managers[mgr].store.view()
        nodes = {n.id: n for n in view.nodes()}
        running: dict[tuple, list[str]] = {}
        for t in view.all("task"):
            prev = self.states.get(t.id)
            if prev is not None and t.status.state < prev:
                raise SwarmInvariantViolation(
                    f"task {t.id} moved back from {prev.name} to {t.status.state.name}")
            self.states[t.id] = t.status.state
            if t.status.state != TaskState.RUNNING or t.desired_state != TaskState.RUNNING:
                continue
            key = (t.service_id, t.slot) if t.slot else (t.service_id, t.node_id)
            running.setdefault(key, []).append(t.id)
            node = nodes.get(t.node_id)
            if node and node.spec.availability == NodeAvailability.DRAIN:
                since = self.drained_since.setdefault(node.id, sim.now())
                if sim.now() - since > settle_s and node.status.state == NodeState.READY:
                    raise SwarmInvariantViolation(
                        f"task {t.id} still runs on drained node {node.description.hostname}")
        for key, ids in running.items():
            if len(ids) > 1:
                what = "slot" if isinstance(key[1], int) else "node (global service)"
                raise SwarmInvariantViolation(f"two running tasks in one {what}: {ids}")
        for nid, node in nodes.items():
            if node.spec.availability != NodeAvailability.DRAIN:
                self.drained_since.pop(nid, None)


def web(name: str, replicas: int | None = None, image: str = "swarmlab/web:1") -> ServiceSpec:
    mode = ServiceMode(global_=Global()) if replicas is None else \
        ServiceMode(replicated=Replicated(replicas=replicas))
    return ServiceSpec(name=name, mode=mode,
                       task_template=TaskSpec(container_spec=ContainerSpec(image=image)))


@dataclass
class SwarmNemesisResult:
    seed: int
    ok: bool
    error: str = ""
    ops: list[str] = field(default_factory=list)


class SwarmNemesis:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed ^ 0xC0FFEE)
        self.sim = SwarmSim(seed, managers=3, workers=3)
        self.checker = SwarmChecker()
        self.ops: list[str] = []
        self.down: set[str] = set()

    def _user_op(self) -> None:
        sim, rng = self.sim, self.rng
        leader = sim.leader()
        if leader is None:
            return
        m = sim.managers[leader].manager
        view = sim.managers[leader].store.view()
        services = {s.spec.name: s for s in view.services()}
        choice = rng.random()
        try:
            if choice < 0.3 and "web" in services:
                s = services["web"]
                n = rng.randrange(0, 8)
                spec = replace(s.spec, mode=ServiceMode(replicated=Replicated(replicas=n)))
                m.update_service(s.id, s.version.index, spec)
                self.ops.append(f"scale web={n}")
            elif choice < 0.45 and "web" in services:
                s = services["web"]
                image = rng.choice(["swarmlab/web:1", "swarmlab/web:2"])
                cs = replace(s.spec.task_template.container_spec, image=image)
                spec = replace(s.spec, task_template=replace(s.spec.task_template,
                                                             container_spec=cs))
                m.update_service(s.id, s.version.index, spec)
                self.ops.append(f"update web {image}")
            elif choice < 0.7:
                node = rng.choice(view.nodes())
                avail = rng.choice(list(NodeAvailability))
                m.update_node(node.id, node.version.index, replace(node.spec, availability=avail))
                self.ops.append(f"availability {node.description.hostname} {avail.value}")
            elif "glob" not in services:
                m.create_service(web("glob"))
                self.ops.append("create glob (global)")
            else:
                m.remove_service(services["glob"].id)
                self.ops.append("rm glob")
        except (NotLeader, ProposalDropped, ProposalNotApplied) as e:
            self.ops.append(f"(refused: {type(e).__name__})")

    def _fault(self) -> None:
        sim, rng = self.sim, self.rng
        ids = sorted(sim.agents)
        choice = rng.random()
        live_managers = [a for a in ids if sim.agents[a].rid in sim.managers
                         and a not in self.down]
        if choice < 0.3:
            victim = rng.choice([a for a in ids if a not in self.down])
            if sim.agents[victim].rid in sim.managers and len(live_managers) <= 2:
                return  # at most one manager down at a time: the swarm keeps its quorum
            sim.kill(victim)
            self.down.add(victim)
            self.ops.append(f"kill {sim.names[victim]}")
        elif choice < 0.55 and self.down:
            victim = rng.choice(sorted(self.down))
            sim.restart(victim)
            self.down.discard(victim)
            self.ops.append(f"restart {sim.names[victim]}")
        elif choice < 0.75:
            side = rng.sample(ids, rng.randrange(1, 3))
            sim.partition(*side)
            self.ops.append(f"partition {[sim.names[s] for s in side]}")
        else:
            sim.heal()
            self.ops.append("heal")

    def run(self, duration: float = 20.0) -> SwarmNemesisResult:
        sim = self.sim
        try:
            sim.api().create_service(web("web", 4))
            t_end = sim.now() + duration
            while sim.now() < t_end:
                sim.run_for(0.1)
                self.checker.check(sim)
                r = self.rng.random()
                if r < 0.08:
                    self._user_op()
                elif r < 0.13:
                    self._fault()
            self._settle()
            return SwarmNemesisResult(self.seed, True, ops=self.ops)
        except (SwarmInvariantViolation, InvariantViolation, AssertionError) as e:
            return SwarmNemesisResult(self.seed, False, f"{type(e).__name__}: {e}", self.ops)

    def _settle(self) -> None:
        """Faults stop: every service must converge, and stay within the invariants."""
        sim = self.sim
        sim.heal()
        for a in sorted(self.down):
            sim.restart(a)
        self.down.clear()
        sim.wait_leader(10)

        why: list[str] = []

        def converged() -> bool:
            why.clear()
            self.checker.check(sim)
            view = sim.view()
            nodes = view.nodes()
            eligible = [n for n in nodes if n.status.state == NodeState.READY
                        and n.spec.availability == NodeAvailability.ACTIVE]
            for s in view.services():
                run = [t for t in view.tasks(s.id) if t.status.state == TaskState.RUNNING
                       and t.desired_state == TaskState.RUNNING]
                if s.spec.mode.replicated is not None:
                    want = s.spec.mode.replicated.replicas if eligible else 0
                    if len(run) != want:
                        why.append(f"{s.spec.name}: {len(run)} running, {want} wanted")
                else:  # one task per active node; a paused node keeps what it had
                    per_node = Counter(t.node_id for t in run)
                    paused = {n.id for n in nodes if n.spec.availability == NodeAvailability.PAUSE}
                    if any(per_node[n.id] != 1 for n in eligible) or any(
                            c > 1 or (nid not in paused and nid not in {n.id for n in eligible})
                            for nid, c in per_node.items()):
                        why.append(f"{s.spec.name}: global tasks {dict(per_node)} on "
                                   f"{len(eligible)} active nodes")
            why.extend(f"{n.description.hostname} {n.status.state.value}" for n in nodes
                       if n.status.state != NodeState.READY)
            return not why
        assert sim.run_until(converged, 40.0, step=0.1), \
            f"services did not converge after faults stopped: {why} ({sim.describe()})"


def sweep(seeds: range, duration: float = 20.0, verbose: bool = False) -> int:
    failed = 0
    t0 = time.time()
    for seed in seeds:
        r = SwarmNemesis(seed).run(duration)
        if not r.ok:
            failed += 1
            print(f"seed {seed}: FAILED: {r.error}\n  last ops: {'; '.join(r.ops[-12:])}")
        elif verbose:
            print(f"seed {seed}: ok ({len(r.ops)} operations and faults)")
    print(f"{len(seeds) - failed} passed, {failed} failed ({len(seeds)} seeds, "
          f"{duration:g}s virtual each, {time.time() - t0:.1f}s)")
    return failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="0:50")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    lo, _, hi = a.seeds.partition(":")
    return 1 if sweep(range(int(lo), int(hi or int(lo) + 1)), a.duration, a.verbose) else 0


if __name__ == "__main__":
    sys.exit(main())
