"""Raft benchmark: swarmlab managers vs PySyncObj, as separate local processes.

For 3 and 5 managers, with in-memory and with file storage, it measures
- committed writes/s: one client keeps WINDOW 64-byte writes in flight to the
  leader over TCP (pipelined); each write's commit latency is the time from
  sending it to its acknowledgement (sent once it is committed and applied);
- failover: kill -9 the leader, then time until a write sent to a survivor is
  acknowledged by a new leader; p50/p99 over the trials.
PySyncObj runs behind the same client protocol (a thin asyncio wrapper in its
process, see `pysyncobj_node`), so both are driven the same way.
Durability: "memory" keeps the log in memory; "file" is kill -9 durable
(PySyncObj's mmap journal, swarmlab's FileStorage without fsync); "file+fsync"
(swarmlab only: PySyncObj has no fsync) also survives power loss.

    python bench/raft_bench.py [--quick] [--sizes 3,5] [--write-docs]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from swarmlab.raft.shell.client import ClientError, RaftClient  # noqa: E402

ENTRY = b"x" * 64
STORAGES = {  # label -> (swarmlab server args, pysyncobj journal?)  None = not comparable
    "memory": (["--storage", "memory"], False),
    "file": (["--storage", "file", "--no-fsync"], True),
    "file+fsync": (["--storage", "file"], None),
}


def free_addrs(n: int) -> dict[int, tuple[str, int]]:
    out = {}
    for i in range(1, n + 1):
        with socket.socket() as s:
            s.bind((f"127.0.0.{i}", 0))
            out[i] = (f"127.0.0.{i}", s.getsockname()[1])
    return out


class Cluster:
    """N local processes of one system; `argv(i)` says how to start server i."""

    def __init__(self, system: str, n: int, storage: str, profile: str) -> None:
        self.system, self.n, self.storage = system, n, storage
        self.addrs = free_addrs(n)
        # PySyncObj listens on its own port; our wrapper takes client requests beside it.
        self.raft_addrs = free_addrs(n) if system == "pysyncobj" else self.addrs
        self.dir = tempfile.mkdtemp(prefix=f"raftbench-{system}-")
        self.profile = profile
        self.procs: dict[int, subprocess.Popen] = {}

    def argv(self, i: int) -> list[str]:
        spec = ",".join(f"{j}={h}:{p}" for j, (h, p) in self.raft_addrs.items())
        data = os.path.join(self.dir, f"n{i}")
        if self.system == "swarmlab":
            return [sys.executable, "-m", "swarmlab.raft.shell.server", "--id", str(i), "--peers", spec,
                    "--data-dir", data, "--profile", self.profile, *STORAGES[self.storage][0]]
        h, p = self.addrs[i]
        return [sys.executable, os.path.abspath(__file__), "--pysyncobj-node", "--id", str(i),
                "--peers", spec, "--client", f"{h}:{p}",
                "--journal", data if STORAGES[self.storage][1] else ""]

    def start(self, i: int) -> None:
        env = dict(os.environ, PYTHONPATH=ROOT)
        self.procs[i] = subprocess.Popen(self.argv(i), env=env, cwd=ROOT)

    def kill9(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()

    def close(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


async def status(addr, timeout: float = 0.5) -> dict | None:
    try:
        c = await RaftClient.connect(addr, timeout)
    except (OSError, asyncio.TimeoutError):
        return None
    try:
        return await asyncio.wait_for(c.status(), timeout)
    except (OSError, ClientError, asyncio.TimeoutError):
        return None
    finally:
        c.close()


async def wait_leader(cl: Cluster, timeout: float = 60.0, need: int | None = None) -> int:
    """The leader's id once one leads and `need` servers (default all) follow it."""
    need = need or cl.n
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sts = [s for s in await asyncio.gather(*(status(a) for a in cl.addrs.values())) if s]
        leads = {s["leader"] for s in sts if s["leader"]}
        if len(leads) == 1 and len(sts) >= need:
            lead = leads.pop()
            st = next((s for s in sts if s["id"] == lead), None)
            if st and st["role"] == "leader" and all(
                    s["applied"] >= st["commit"] - 1000 for s in sts):
                return lead
        await asyncio.sleep(0.05)
    brief = [{k: s.get(k) for k in ("id", "role", "term", "leader", "commit", "applied")}
             for s in sts]
    raise RuntimeError(f"{cl.system}: no stable leader within {timeout} s: {brief}")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def throughput(cl: Cluster, writes: int, window: int, max_s: float = 10.0) -> dict:
    """`writes` pipelined writes, or as many as `max_s` seconds allow."""
    lead = await wait_leader(cl)
    client = await RaftClient.connect(cl.addrs[lead])
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    done = loop.create_future()
    sent = errors = 0
    start = time.perf_counter()

    def send() -> None:
        nonlocal sent
        sent += 1
        t0 = time.perf_counter()
        client.request("put", ENTRY).add_done_callback(lambda f: acked(f, t0))

    def acked(f: asyncio.Future, t0: float) -> None:
        nonlocal errors
        now = time.perf_counter()
        errors += f.exception() is not None
        lat.append(now - t0)
        if sent < writes and now - start < max_s:
            send()
        elif len(lat) == sent and not done.done():
            done.set_result(None)

    for _ in range(min(window, writes)):
        send()
    try:
        await asyncio.wait_for(done, max_s + 30)
    except asyncio.TimeoutError:
        errors += sent - len(lat)  # never answered
    elapsed = time.perf_counter() - start
    client.close()
    # a failed write (e.g. the leader lost its lease on a starved machine) is not counted
    return {"wps": (sent - errors) / elapsed, "p50_ms": pct(lat, .5) * 1e3,
            "p99_ms": pct(lat, .99) * 1e3, "errors": errors}


async def median_run(cl: Cluster, args) -> dict:
    """The median of `args.repeat` throughput runs (the machine is shared: runs vary)."""
    runs = sorted([await throughput(cl, args.writes, args.window) for _ in range(args.repeat)],
                  key=lambda r: r["wps"])
    return runs[len(runs) // 2]


async def failover_once(cl: Cluster) -> float:
    lead = await wait_leader(cl)
    await asyncio.sleep(0.3)
    survivors = [i for i in cl.addrs if i != lead]
    clients = {}
    for i in survivors:
        clients[i] = await RaftClient.connect(cl.addrs[i])
    t0 = time.perf_counter()
    cl.kill9(lead)
    try:
        return await _first_ack(clients, t0)
    finally:
        for c in clients.values():
            c.close()
        cl.start(lead)


async def _first_ack(clients: dict, t0: float, limit_s: float = 20.0) -> float:
    """Send a write to each survivor every 5 ms; the first acknowledgement ends the outage."""
    won = asyncio.get_running_loop().create_future()

    def acked(f: asyncio.Future) -> None:
        if not f.cancelled() and f.exception() is None and not won.done():
            won.set_result(time.perf_counter() - t0)

    while time.perf_counter() - t0 < limit_s:
        for c in clients.values():
            c.request("put", ENTRY).add_done_callback(acked)
        try:
            return await asyncio.wait_for(asyncio.shield(won), 0.005)
        except asyncio.TimeoutError:
            continue
    raise RuntimeError("no write committed after the leader was killed")


async def run_config(system: str, n: int, storage: str, args) -> dict:
    cl = Cluster(system, n, storage, args.profile)
    try:
        for i in cl.addrs:
            cl.start(i)
        await wait_leader(cl, 60)
        res = {"system": system, "n": n, "storage": storage}
        res.update(await median_run(cl, args))
        fo, failed = [], 0
        for _ in range(args.trials):
            try:
                fo.append(await failover_once(cl))
            except RuntimeError as e:  # reported, not fatal: the other configs still run
                failed += 1
                print(f"  {system} n={n} {storage}: failover trial failed: {e}", flush=True)
                if failed == 3:
                    break
        res.update(fo_p50_ms=pct(fo, .5) * 1e3, fo_p99_ms=pct(fo, .99) * 1e3, trials=len(fo),
                   failed_trials=failed)
        print(_row(res), flush=True)
        return res
    finally:
        cl.close()


def _row(r: dict) -> str:
    return (f"| {r['system']:<9} | {r['n']} | {r['storage']:<10} | {r['wps']:>9,.0f} | "
            f"{r['p50_ms']:>6.1f} | {r['p99_ms']:>6.1f} | {r['fo_p50_ms']:>7.0f} | "
            f"{r['fo_p99_ms']:>7.0f} |" + (f" {r['errors']} writes failed" if r["errors"] else "")
            + (f" {r['failed_trials']} trials failed" if r["failed_trials"] else ""))


HEAD = ("| system    | n | storage    | writes/s  | p50 ms | p99 ms | fo p50 ms | fo p99 ms |\n"
        "|-----------|---|------------|-----------|--------|--------|-----------|-----------|")


def ratios(results: list[dict]) -> list[str]:
    out = ["| n | storage | throughput ratio | p99 latency ratio | failover p99 ratio |",
           "|---|---------|------------------|-------------------|--------------------|"]
    for r in results:
        if r["system"] != "swarmlab":
            continue
        o = next((x for x in results if x["system"] == "pysyncobj" and x["n"] == r["n"]
                  and x["storage"] == r["storage"]), None)
        if o:
            out.append(f"| {r['n']} | {r['storage']} | {r['wps'] / o['wps']:.2f} | "
                       f"{r['p99_ms'] / o['p99_ms']:.2f} | {r['fo_p99_ms'] / o['fo_p99_ms']:.2f} |")
    return out


async def bench(args) -> list[dict]:
    results = []
    print(HEAD, flush=True)
    for n in args.sizes:
        for storage in args.storages:
            for system in args.systems:
                if system == "pysyncobj" and STORAGES[storage][1] is None:
                    continue
                results.append(await run_config(system, n, storage, args))
    return results


def main(argv: list[str] | None = None) -> None:
    if argv is None and "--pysyncobj-node" in sys.argv:
        return pysyncobj_node(sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run (fewer writes and trials)")
    ap.add_argument("--sizes", default="3,5")
    ap.add_argument("--storages", default=",".join(STORAGES))
    ap.add_argument("--systems", default="swarmlab,pysyncobj")
    ap.add_argument("--writes", type=int, default=None)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None, help="throughput runs per config (median)")
    ap.add_argument("--profile", default="lab")
    ap.add_argument("--write-docs", action="store_true", help="put the tables in docs/raft-shell.md")
    args = ap.parse_args(argv)
    args.sizes = [int(x) for x in args.sizes.split(",")]
    args.storages = args.storages.split(",")
    args.systems = args.systems.split(",")
    args.writes = args.writes or (5000 if args.quick else 40000)
    args.trials = args.trials or (5 if args.quick else 20)
    args.repeat = args.repeat or (1 if args.quick else 3)
    print(f"# up to {args.writes} writes (10 s) of {len(ENTRY)} bytes, window {args.window}, "
          f"median of {args.repeat} runs, {args.trials} failover trials, '{args.profile}' profile, {os.cpu_count()} CPUs")
    results = asyncio.run(bench(args))
    table = "\n".join(ratios(results))
    print("\nratios (swarmlab / PySyncObj):\n" + table)
    refs = []
    if "pysyncobj" in args.systems:
        for n in args.sizes:
            refs.append(f"PySyncObj in-process, no client, fire-and-forget (its best case), "
                        f"n={n}: {pysyncobj_in_process(n, args.writes)}")
            print(refs[-1], flush=True)
    if args.write_docs:
        _write_docs(args, results, refs)


def _write_docs(args, results: list[dict], refs: list[str]) -> None:
    path = os.path.join(ROOT, "docs", "raft-shell.md")
    with open(path) as f:
        text = f.read()
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    block = "\n".join([begin, f"Measured {time.strftime('%Y-%m-%d')} with `python bench/raft_bench.py"
                       f"{' --quick' if args.quick else ''}` (up to {args.writes} writes or 10 s, window "
                       f"{args.window}, median of {args.repeat} runs; {args.trials} failover "
                       f"trials; {os.cpu_count()} CPUs shared with other work):", "",
                       HEAD, *(_row(r) for r in results), "", *ratios(results), "",
                       *(f"- {r}" for r in refs), end])
    if begin in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text += "\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


# -- PySyncObj behind the same client protocol ---------------------------------------------
def pysyncobj_node(argv: list[str]) -> None:
    """One PySyncObj process. Its Raft runs in PySyncObj's own thread (autoTick);
    `_PySyncObjFront` answers swarmlab client frames (put, status) on an asyncio loop."""
    from swarmlab.raft.shell.conn import parse_peers

    ap = argparse.ArgumentParser()
    ap.add_argument("--pysyncobj-node", action="store_true")
    ap.add_argument("--id", type=int)
    ap.add_argument("--peers")
    ap.add_argument("--client")
    ap.add_argument("--journal", default="")
    ap.add_argument("--self-load", type=int, default=0)
    args = ap.parse_args(argv)
    peers = {i: f"{h}:{p}" for i, (h, p) in parse_peers(args.peers).items()}
    obj = _pysyncobj_log(peers[args.id], [a for i, a in peers.items() if i != args.id],
                         args.journal)
    if args.self_load:
        return _self_load(obj, args.self_load)
    front = _PySyncObjFront(obj, args.id, {a: i for i, a in peers.items()})
    asyncio.run(front.serve(args.client))


def _pysyncobj_log(me: str, others: list[str], journal: str):
    from pysyncobj import SyncObj, SyncObjConf, replicated

    class Log(SyncObj):
        def __init__(self) -> None:
            conf = SyncObjConf(journalFile=journal + ".journal" if journal else None,
                               fullDumpFile=journal + ".dump" if journal else None)
            super().__init__(me, others, conf)
            self.items: list[bytes] = []

        @replicated
        def put(self, data: bytes) -> int:
            self.items.append(data)
            return len(self.items)

    return Log()


class _PySyncObjFront:
    """Client frames in, PySyncObj calls out; answers come back from PySyncObj's thread
    and are batched into one frame per connection per event-loop wakeup."""

    def __init__(self, obj, my_id: int, ids: dict[str, int]) -> None:
        self.obj, self.id, self.ids = obj, my_id, ids
        self.outbox: list = []
        self.lock = threading.Lock()
        self.scheduled = False

    async def serve(self, addr: str) -> None:
        from swarmlab.raft.shell.conn import Conn
        self.loop = asyncio.get_running_loop()
        h, _, p = addr.rpartition(":")
        await self.loop.create_server(lambda: Conn(self.on_frame), h, int(p))
        await asyncio.Event().wait()

    def answer(self, conn, ans: list) -> None:  # any thread
        with self.lock:
            self.outbox.append((conn, ans))
            wake, self.scheduled = not self.scheduled, True
        if wake:
            self.loop.call_soon_threadsafe(self.flush)

    def flush(self) -> None:
        from swarmlab.raft.shell.codec import FrameKind, encode_value, frame
        with self.lock:
            batch, self.outbox, self.scheduled = self.outbox, [], False
        by_conn: dict = {}
        for conn, ans in batch:
            by_conn.setdefault(conn, []).append(ans)
        for conn, answers in by_conn.items():
            conn.write(frame(FrameKind.CLIENT_RESP, encode_value(answers)))

    def on_frame(self, conn, kind, body: bytes) -> None:
        from swarmlab.raft.shell.codec import decode_value
        obj = self.obj
        for rid, op, arg in decode_value(body):
            if op == "status":
                st = obj.getStatus()
                lead = self.ids.get(st["leader"].id if st["leader"] else None, 0)
                self.answer(conn, [rid, True, {
                    "id": self.id, "role": "leader" if st["state"] == 2 else "follower",
                    "leader": lead, "term": st["raft_term"], "commit": st["commit_idx"],
                    "applied": st["last_applied"]}])
            elif obj._getLeader() is None:
                self.answer(conn, [rid, False, {"error": "not leader", "leader": 0}])
            else:
                obj.put(arg, callback=lambda res, err, rid=rid: self.answer(
                    conn, [rid, True, res] if err == 0 else [rid, False, {"error": str(err)}]))


def _self_load(obj, n: int) -> None:
    """PySyncObj's best case: the leader's own thread submits n writes without waiting
    for answers (no client, no acknowledgements); the rate at which they are applied."""
    end = time.monotonic() + 30
    while obj._getLeader() is None and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.5)
    if obj._isLeader():
        t0 = time.perf_counter()
        for _ in range(n):
            obj.put(ENTRY)
        while len(obj.items) < n and time.perf_counter() - t0 < 30:
            time.sleep(0.001)
        done = len(obj.items)
        print(f"SELF_LOAD {done / (time.perf_counter() - t0):.0f} "
              f"{'' if done >= n else f'(only {done} of {n} applied in 30 s)'}", flush=True)
    time.sleep(300)


def pysyncobj_in_process(n: int, writes: int) -> str:
    cl = Cluster("pysyncobj", n, "memory", "lab")
    try:
        for i in cl.addrs:
            argv = cl.argv(i) + ["--self-load", str(writes)]
            cl.procs[i] = subprocess.Popen(argv, env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT,
                                           stdout=subprocess.PIPE, text=True)
        import selectors
        sel = selectors.DefaultSelector()
        for p in cl.procs.values():
            sel.register(p.stdout, selectors.EVENT_READ)
        end = time.monotonic() + 150
        while time.monotonic() < end:
            for key, _ in sel.select(timeout=1.0):
                line = key.fileobj.readline()
                if line.startswith("SELF_LOAD"):
                    _, wps, *note = line.split(maxsplit=2)
                    return f"{float(wps):,.0f} writes/s {' '.join(note).strip()}"
        raise RuntimeError("PySyncObj in-process load did not finish")
    finally:
        cl.close()


if __name__ == "__main__":
    main()
