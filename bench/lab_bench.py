"""Lab benchmarks on the embedded backend (real node processes on loopback).

Prints: `lab up` time for 5 nodes (with and without forming the swarm), time until
20 replicas run, time until a drained node's tasks run elsewhere, leader failover
seen through the API (kill -9 the leader's node, time until a service update is
accepted), and memory per node process. Targets (issue 4): 5-node lab up under
3 s, failover under 1.5 s.

    python bench/lab_bench.py [--trials N] [--profile lab|swarm]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import docker


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def running(c, name: str) -> int:
    return sum(1 for t in c.api.tasks(filters={"service": name})
               if t["Status"]["State"] == "running" and t["DesiredState"] == "running")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_once(Lab, profile: str, trial: int) -> dict[str, float]:
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    lab = Lab.up(f"bench-nodes-{trial}", nodes=5, profile=profile)
    out["lab up, 5 nodes (s)"] = time.perf_counter() - t0
    lab.down()
    t0 = time.perf_counter()
    lab = Lab.up(f"bench-{trial}", managers=3, workers=2, profile=profile)
    out["lab up, 3 managers + 2 workers, swarm formed (s)"] = time.perf_counter() - t0
    try:
        c = lab.client()
        t0 = time.perf_counter()
        c.services.create("swarmlab/web:1", name="web",
                          mode=docker.types.ServiceMode("replicated", replicas=20))
        lab.wait_for(lambda: running(c, "web") == 20, 120, "20 replicas")
        out["20 replicas running (s)"] = time.perf_counter() - t0
        node_pids = [n.pid for n in lab.record.nodes]
        out["memory per node process (MiB)"] = statistics.mean(
            rss_kib(p) for p in node_pids) / 1024
        victim = "node5"
        n = next(x for x in c.api.nodes() if x["Description"]["Hostname"] == victim)
        on_victim = sum(1 for t in c.api.tasks(filters={"service": "web", "node": n["ID"]})
                        if t["DesiredState"] == "running")
        t0 = time.perf_counter()
        c.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Availability="drain"))

        def drained() -> bool:
            tasks = [t for t in c.api.tasks(filters={"service": "web"})
                     if t["DesiredState"] == "running"]
            return (running(c, "web") == 20 and not any(t.get("NodeID") == n["ID"] for t in tasks))
        lab.wait_for(drained, 60, "drain")
        out[f"drain: {on_victim} tasks running elsewhere (s)"] = time.perf_counter() - t0
        leader = lab.leader()
        lab.kill(leader)
        t0 = time.perf_counter()

        def write_ok() -> bool:
            cc = lab.client(next(m for m in ("node1", "node2", "node3") if m != leader))
            svc = cc.services.get("web")
            svc.update(labels={"failover": str(t0)})
            return True
        lab.wait_for(write_ok, 30, "a write after failover", interval=0.02)
        out["leader failover through the API (s)"] = time.perf_counter() - t0
    finally:
        lab.down()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--profile", default="lab")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["SWARMLAB_HOME"] = home
        from swarmlab.lab import Lab
        results: dict[str, list[float]] = {}
        for trial in range(a.trials):
            for k, v in bench_once(Lab, a.profile, trial).items():
                results.setdefault(k.split(":")[0] if k.startswith("drain") else k, []).append(v)
            print(f"trial {trial + 1}/{a.trials} done", file=sys.stderr)
    targets = {"lab up, 5 nodes (s)": 3.0, "leader failover through the API (s)": 1.5}
    print(f"\nswarmlab lab bench ({a.profile} profile, {a.trials} trials, {os.cpu_count()} cores)")
    print(f"{'measure':55} {'median':>8} {'max':>8}  target")
    for k, vs in results.items():
        t = targets.get(k)
        verdict = "" if t is None else f"< {t:g}  ratio {statistics.median(vs) / t:.2f}"
        print(f"{k:55} {statistics.median(vs):8.2f} {max(vs):8.2f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
