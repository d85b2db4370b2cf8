"""Where a task's time goes: the phases of each task in a rolling update, per engine.

A lab (local or Docker-in-Docker; swarmlab's engine or real Docker Swarm) runs
`service create --replicas N swarmlab/web:1`, then `service update --image
swarmlab/web:2` with compare_swarm's UpdateConfig (parallelism 4, delay 1 s,
stop-first). A thread reads `GET /tasks` every 25 ms meanwhile, and each slot's
replacement is cut into phases, from the nodes' own status timestamps where there is
one (the nodes share the host's clock) and from the time a read first saw a change
where there is none (the desired state):

  stop      the old task desired shutdown (seen)  ->  its status `shutdown` (node)
  promote   the old task `shutdown` (node)         ->  the new task desired running (seen)
  start     the new task desired running (seen)    ->  its status `running` (node)
  report    the new task `running` (node)          ->  the API shows it running (seen)

The `service create` before it is cut the same way, per task:

  schedule  created (the task's CreatedAt)         ->  `assigned` (the scheduler's time)
  deliver   `assigned`                              ->  `preparing` (the node has it)

(The later states of a create pass too quickly for 25 ms reads to see each one.)

Prints each phase's median, 10th and 90th percentile over the N slots. "seen" times are
late by up to one poll (25 ms) plus one API call.

    python bench/task_timeline.py [--backend local|docker] [--engine swarmlab|docker-swarm]
                                  [--profile lab|swarm] [--replicas N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

import docker

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from compare_swarm import UPDATE, running  # noqa: E402 - the comparison's UpdateConfig and count
from swarmlab.lab import Lab  # noqa: E402
from swarmlab.runtime.dockerapi.spec import parse_timestamp as stamp  # noqa: E402

PHASES = ("stop", "promote", "start", "report")
CREATE = (("schedule", "new", "assigned"), ("deliver", "assigned", "preparing"))
POLL_S = 0.025


class Watcher(threading.Thread):
    """Reads the service's tasks every POLL_S; keeps, per task, when each desired
    state was first seen and each status's own timestamp."""

    def __init__(self, c, service: str) -> None:
        super().__init__(daemon=True)
        self.c, self.service = c, service
        self.tasks: dict[str, dict] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                now = time.time()
                for t in self.c.api.tasks(filters={"service": self.service}):
                    rec = self.tasks.setdefault(t["ID"], {
                        "slot": t.get("Slot"), "image": t["Spec"]["ContainerSpec"]["Image"],
                        "desired": {}, "state": {"new": stamp(t["CreatedAt"])}, "seen": {}})
                    rec["desired"].setdefault(t["DesiredState"], now)
                    st = t["Status"]["State"]
                    rec["state"].setdefault(st, stamp(t["Status"]["Timestamp"]))
                    rec["seen"].setdefault(st, now)
            except Exception:  # noqa: BLE001 - a read during a leader change: the next one
                pass
            time.sleep(POLL_S)


def phases(tasks: dict[str, dict], old: str, new: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {p: [] for p in PHASES}
    by_slot: dict[int, dict[str, dict]] = {}
    for rec in tasks.values():
        kind = "old" if rec["image"].startswith(old) else "new" if rec["image"].startswith(new) else ""
        if kind and rec["slot"] is not None:
            by_slot.setdefault(rec["slot"], {})[kind] = rec
    for pair in by_slot.values():
        o, n = pair.get("old"), pair.get("new")
        if not o or not n:
            continue
        try:
            out["stop"].append(o["state"]["shutdown"] - o["desired"]["shutdown"])
            out["promote"].append(n["desired"]["running"] - o["state"]["shutdown"])
            out["start"].append(n["state"]["running"] - n["desired"]["running"])
            out["report"].append(n["seen"]["running"] - n["state"]["running"])
        except KeyError:
            continue  # a transition fell between two reads
    return out


def create_phases(tasks: dict[str, dict]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {p: [] for p, _, _ in CREATE}
    for rec in tasks.values():
        for p, a, b in CREATE:
            if a in rec["state"] and b in rec["state"]:
                out[p].append(rec["state"][b] - rec["state"][a])
    return out


def show(got: dict[str, list[float]]) -> None:
    print(f"{'phase':10} {'n':>3} {'median':>8} {'p10':>7} {'p90':>7}")
    for p, v in got.items():
        v = sorted(v)
        if not v:
            print(f"{p:10} {0:>3}")
            continue
        q = statistics.quantiles(v, n=10) if len(v) > 1 else [v[0]] * 9
        print(f"{p:10} {len(v):>3} {statistics.median(v):>7.2f}s {q[0]:>6.2f}s {q[-1]:>6.2f}s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="local", choices=("local", "docker"))
    ap.add_argument("--engine", default="swarmlab", choices=("swarmlab", "docker-swarm"))
    ap.add_argument("--profile", default="lab", choices=("lab", "swarm"))
    ap.add_argument("--replicas", type=int, default=20)
    a = ap.parse_args(argv)
    name = f"tl{os.getpid() % 10000}"
    lab = Lab.up(name, backend=a.backend, engine=a.engine, managers=3, workers=2,
                 profile=a.profile, progress=print)
    try:
        c = lab.client()
        no_check = docker.types.Healthcheck(test=["NONE"])
        made = Watcher(c, "web")
        made.start()
        t0 = time.perf_counter()
        c.services.create("swarmlab/web:1", name="web", update_config=UPDATE,
                          mode=docker.types.ServiceMode("replicated", replicas=a.replicas),
                          healthcheck=no_check)
        lab.wait_for(lambda: len(running(c, "web")) == a.replicas, 300, f"{a.replicas} replicas")
        created = time.perf_counter() - t0
        made.stop.set()
        made.join()
        w = Watcher(c, "web")
        w.start()
        t0 = time.perf_counter()
        c.services.get("web").update(image="swarmlab/web:2", update_config=UPDATE,
                                     healthcheck=no_check)
        lab.wait_for(lambda: (c.services.get("web").attrs.get("UpdateStatus") or {})
                     .get("State") == "completed", 600, "the rolling update")
        took = time.perf_counter() - t0
        time.sleep(0.2)
        w.stop.set()
        w.join()
        got = phases(w.tasks, "swarmlab/web:1", "swarmlab/web:2")
        print(f"\n{a.backend} / {a.engine} / {a.profile}: {a.replicas} replicas running "
              f"in {created:.1f}s")
        show(create_phases(made.tasks))
        print(f"\nrolling update of {a.replicas} in {took:.1f}s (load {os.getloadavg()[0]:.1f})")
        show(got)
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
