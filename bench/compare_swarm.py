"""swarmlab against real Docker Swarm, on the same Docker-in-Docker lab, in one run.

Both engines get the same shape (3 managers + 2 workers, one DinD node container
each, tasks as containers of the nodes' own dockerd, the same lab images) and the
same steps, timed from the host through the Engine API:

  formation   swarm init on node1, 2 managers join, 2 workers join, until 5 ready
  20 replicas service create swarmlab/web:1 --replicas 20, until 20 running
  drain       node update --availability drain on the worker with most tasks,
              until 20 run again and none on it
  update      service update --image swarmlab/web:2 with UpdateConfig(parallelism=4,
              delay=1s, stop-first), until UpdateStatus says completed and 20 run v2
  failover    kill the leader's node container, until a write (service scale)
              succeeds on a surviving manager

    python bench/compare_swarm.py [--profiles lab,swarm] [--repeat N] [--image-healthcheck]

Three columns by default, each engine on a fresh lab, one after the other: swarmlab
with the `lab` Raft profile, swarmlab with the `swarm` profile (Docker's timings),
and real Docker Swarm. Prints one row per step: each swarmlab profile's time and its
ratio to real Swarm's, real Swarm's time, and the machine's load average around each
engine's run (the machine may be shared: compare the ratios within one run). With
`--repeat N` each engine runs N times, the order reversed every round (real, lab,
swarm, then swarm, lab, real, ...), so a load that drifts during the run weighs on all
of them alike; the table shows each step's median.

After the table, the CPU seconds each kind of process used on the machine during the
20-replica step (swarmlab's agents, the workloads, containerd-shim, dockerd, ...), per
engine: the same containers start on both, so it shows how much of the step is the
orchestrator's own work (real Swarm's swarmkit runs inside dockerd).

In the failover step each write attempt times out after 2 s on the client: a manager
that still forwards to the dead leader holds the request until then, on both engines.

Health checks are off for both engines by default (``--no-healthcheck``): the lab
images' check is ``python3 -m swarmlab.workloads.healthcheck`` every 2 s, and real
Docker starts an interpreter per probe (20 tasks: ten a second), which on a busy
2-core machine fails probes by timeout and restarts tasks, measuring the machine,
not the orchestrator. ``--image-healthcheck`` keeps the images' checks on both.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import docker

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from swarmlab.lab.dind import lab as docker_lab  # noqa: E402
from swarmlab.lab.dind import realswarm  # noqa: E402
from swarmlab.lab import Lab  # noqa: E402

REPLICAS = 20
UPDATE = docker.types.UpdateConfig(parallelism=4, delay=1_000_000_000, order="stop-first")
STEPS = ("formation", "20 replicas", "drain", "rolling update", "leader failover")


def running(c, name: str, image: str | None = None) -> list[dict]:
    return [t for t in c.api.tasks(filters={"service": name})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"
            and (image is None or t["Spec"]["ContainerSpec"]["Image"].startswith(image))]


def wait(pred, timeout: float, what: str, interval: float = 0.1) -> float:
    """Seconds until ``pred()`` is true (errors count as not yet: a node may be down)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            if pred():
                return time.perf_counter() - t0
        except Exception:  # noqa: BLE001
            pass
        time.sleep(interval)
    raise TimeoutError(f"{what} not done in {timeout:.0f}s")


def form(lab: Lab, engine: str) -> float:
    t0 = time.perf_counter()
    if engine == "swarmlab":
        lab._form_swarm(3, lambda line: None)
    else:
        realswarm.form(lab.record, 3, lambda line: None)
    return time.perf_counter() - t0


def run_engine(engine: str, profile: str, say, healthcheck: bool) -> dict[str, float]:
    name = f"cmp{os.getpid() % 10000}{engine[:2]}{profile[:1]}"
    out: dict[str, float] = {}
    lab = Lab.up(name, backend="docker", engine=engine, nodes=5, profile=profile, progress=say)
    extra = {} if healthcheck else {"healthcheck": docker.types.Healthcheck(test=["NONE"])}
    out["load before"] = os.getloadavg()[0]
    try:
        out["formation"] = form(lab, engine)
        say(f"{engine}/{profile}: formation {out['formation']:.1f}s")
        c = docker_lab.client(lab.record)  # the leader's
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        try:
            c.services.create("swarmlab/web:1", name="web", update_config=UPDATE,
                              mode=docker.types.ServiceMode("replicated", replicas=REPLICAS),
                              **extra)
        except docker.errors.NotFound:
            pass  # created; docker-py's read right after it met a manager not caught up yet
        wait(lambda: len(running(c, "web")) == REPLICAS, 300, "20 replicas")
        out["20 replicas"] = time.perf_counter() - t0
        out["cpu"] = cpu_delta(cpu0, cpu_seconds())
        say(f"{engine}/{profile}: 20 replicas {out['20 replicas']:.1f}s")
        out["drain"] = drain(c)
        say(f"{engine}/{profile}: drain {out['drain']:.1f}s")
        t0 = time.perf_counter()
        wait(lambda: c.services.get("web").update(image="swarmlab/web:2", update_config=UPDATE,
                                                  **extra) or True, 30, "the update accepted")
        wait(lambda: (c.services.get("web").attrs.get("UpdateStatus") or {}).get("State")
             == "completed" and len(running(c, "web", "swarmlab/web:2")) == REPLICAS,
             600, "rolling update")
        out["rolling update"] = time.perf_counter() - t0
        say(f"{engine}/{profile}: rolling update {out['rolling update']:.1f}s")
        out["leader failover"] = failover(lab, c)
        say(f"{engine}/{profile}: leader failover {out['leader failover']:.1f}s")
        out["load after"] = os.getloadavg()[0]
    finally:
        lab.down()
    return out


# Who used the machine's CPU during the 20-replica step, by process kind: the same
# containers start on both engines, so this shows how much of the step is the
# orchestrator's own work (swarmlab's agents; for real Swarm, swarmkit runs in dockerd).
CPU_KINDS = (("swarmlab.node", "swarmlab agents"), ("swarmlab.workloads", "workloads"),
             ("containerd-shim", "containerd-shim"), ("dockerd", "dockerd"),
             ("containerd", "containerd"), ("runc", "runc"))


def cpu_seconds() -> dict[str, tuple[str, float]]:
    """Every process's kind and CPU seconds (its own and its reaped children's)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        kind = next((k for pat, k in CPU_KINDS if pat in cmd), "other")
        out[pid] = (kind, sum(int(x) for x in fields[11:15]) / tick)
    return out


def cpu_delta(before: dict, after: dict) -> dict[str, float]:
    kinds: dict[str, float] = {}
    for pid, (kind, t) in after.items():
        kinds[kind] = kinds.get(kind, 0.0) + t - before.get(pid, (kind, 0.0))[1]
    return kinds


def drain(c) -> float:
    tasks = running(c, "web")
    counts: dict[str, int] = {}
    for t in tasks:
        counts[t["NodeID"]] = counts.get(t["NodeID"], 0) + 1
    workers = {n["ID"] for n in c.api.nodes() if n["Spec"]["Role"] == "worker"}
    target = max(workers, key=lambda i: counts.get(i, 0))
    n = c.api.inspect_node(target)
    t0 = time.perf_counter()
    c.api.update_node(target, n["Version"]["Index"], dict(n["Spec"], Availability="drain"))
    wait(lambda: len(r := running(c, "web")) == REPLICAS
         and all(t["NodeID"] != target for t in r), 300, "drain")
    return time.perf_counter() - t0


def failover(lab: Lab, c) -> float:
    leader = docker_lab.leader(lab.record)
    survivor = next(m for m in ("node1", "node2", "node3") if m != leader)
    sc = docker_lab.client(lab.record, survivor)
    sc.api.timeout = 2
    t0 = time.perf_counter()
    lab.kill(leader)
    replicas = [REPLICAS - 1]

    def write() -> bool:
        sc.services.get("web").scale(replicas[0])
        return True
    wait(write, 120, "a write after the leader died", interval=0.05)
    return time.perf_counter() - t0


def medians(runs: list[dict]) -> dict:
    """Per step, the median of the runs that measured it; every run's load and error."""
    out: dict = {"loads": [(r.get("load before", 0), r.get("load after", 0)) for r in runs],
                 "errors": [r["error"] for r in runs if "error" in r]}
    cpus = [r["cpu"] for r in runs if "cpu" in r]
    if cpus:
        out["cpu"] = {k: statistics.median(c.get(k, 0.0) for c in cpus)
                      for k in sorted({k for c in cpus for k in c})}
    for step in STEPS:
        got = [r[step] for r in runs if step in r]
        if got:
            out[step] = statistics.median(got)
    return out


def table(results: dict[str, dict], profiles: list[str]) -> str:
    real = results["docker-swarm"]
    head = "| step | " + " | ".join(f"swarmlab ({p}) | ratio" for p in profiles) + " | real Swarm |"
    rule = "|---" * (2 + 2 * len(profiles)) + "|"
    rows = [head, rule]
    for step in STEPS:
        cells = []
        for p in profiles:
            mine = results[f"swarmlab/{p}"].get(step)
            ratio = mine / real[step] if mine is not None and step in real else None
            cells += [_s(mine), "-" if ratio is None else f"{ratio:.2f}"]
        rows.append(f"| {step} | " + " | ".join(cells) + f" | {_s(real.get(step))} |")
    loads = [f"{k}: " + ", ".join(f"{a:.1f} -> {b:.1f}" for a, b in r["loads"])
             for k, r in results.items()]
    loads += [f"{k} failed: {e}" for k, r in results.items() for e in r["errors"]]
    kinds = [k for _, k in CPU_KINDS] + ["other"]
    cpu = ["", "CPU seconds used on the machine during the 20-replica step (by process kind):", "",
           "| engine | " + " | ".join(kinds) + " | all |", "|---" * (len(kinds) + 2) + "|"]
    for key, r in results.items():
        if "cpu" in r:
            cpu.append(f"| {key} | " + " | ".join(f"{r['cpu'].get(k, 0.0):.1f}" for k in kinds)
                       + f" | {sum(r['cpu'].values()):.1f} |")
    return ("\n".join(rows) + "\n" + "\n".join(cpu)
            + "\n\nload average (1 min) before -> after: " + "; ".join(loads))


def _s(seconds: float | None) -> str:
    return "failed" if seconds is None else f"{seconds:.1f} s"


def measured(engine: str, profile: str, say, hc: bool) -> dict:
    """One engine's figures; a failure is reported in the table, not a lost run."""
    try:
        return run_engine(engine, profile, say, hc)
    except Exception as exc:  # noqa: BLE001
        say(f"{engine}/{profile} failed: {exc}")
        return {"error": str(exc).splitlines()[0][:160]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", default="lab,swarm",
                    help="swarmlab profiles to measure: lab,swarm (default), lab or swarm")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per engine, in alternating order; the table shows medians")
    ap.add_argument("--image-healthcheck", action="store_true",
                    help="keep the images' health checks (default: none, on both engines)")
    args = ap.parse_args(argv)
    profiles = [p for p in args.profiles.split(",") if p]
    unknown = sorted(set(profiles) - {"lab", "swarm"})
    if unknown or not profiles:
        ap.error(f"--profiles: unknown profile {', '.join(unknown) or '(none)'}; choose lab, swarm")
    os.environ.setdefault("SWARMLAB_HOME", tempfile.mkdtemp(prefix="swarmlab-cmp-"))

    def say(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)
    if args.repeat < 1:
        ap.error("--repeat: at least 1")
    hc = args.image_healthcheck
    engines = [("docker-swarm", "lab")] + [("swarmlab", p) for p in profiles]
    runs: dict[str, list[dict]] = {}
    for round_ in range(args.repeat):
        for engine, profile in engines if round_ % 2 == 0 else engines[::-1]:
            key = "docker-swarm" if engine == "docker-swarm" else f"swarmlab/{profile}"
            runs.setdefault(key, []).append(measured(engine, profile, say, hc))
    results = {k: medians(v) for k, v in runs.items()}
    print(f"compare_swarm {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
          f"healthchecks {'on' if hc else 'off'}, {args.repeat} run(s) per engine"
          f"{' (medians)' if args.repeat > 1 else ''}\n")
    print(table(results, profiles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
