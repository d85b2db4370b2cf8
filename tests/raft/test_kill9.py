"""kill -9 any manager process during writes: no acknowledged write is lost.

Three real manager processes with FileStorage (fsync) on 127.0.0.{1,2,3}. A
client writes continuously (pipelined) to whoever leads. Several rounds kill -9
the leader or a follower and restart it from its data directory; the last one
kills all three at once. At the end
every acknowledged write must sit at exactly its acknowledged index on every
server.
"""
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time

import pytest

from swarmlab.raft.shell.client import ClientError, RaftClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROUNDS = 6
WINDOW = 32


def free_peers(n):
    peers = {}
    for i in range(1, n + 1):
        with socket.socket() as s:
            s.bind((f"127.0.0.{i}", 0))
            peers[i] = (f"127.0.0.{i}", s.getsockname()[1])
    return peers


class Cluster:
    def __init__(self, peers, data_dir, extra=()):
        self.peers = peers
        self.spec = ",".join(f"{i}={h}:{p}" for i, (h, p) in peers.items())
        self.data_dir = data_dir
        self.extra = list(extra)
        self.procs: dict[int, subprocess.Popen] = {}

    def start(self, i):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", "swarmlab.raft.shell.server", "--id", str(i), "--peers", self.spec,
             "--data-dir", os.path.join(self.data_dir, f"n{i}"), "--storage", "file",
             "--snapshot-every", "2000", *self.extra], env=env)

    def kill9(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()


async def status(addr, timeout=0.5):
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


async def find_leader(peers, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sts = [s for s in await asyncio.gather(*(status(a) for a in peers.values())) if s]
        leaders = [s for s in sts if s["role"] == "leader"]
        if leaders:
            return max(leaders, key=lambda s: s["term"])["id"]
        await asyncio.sleep(0.05)
    raise AssertionError("no leader elected")


class Writer:
    """Writes b'k<seq>' with WINDOW requests in flight; remembers what was acknowledged."""

    def __init__(self, peers):
        self.peers = peers
        self.acked: dict[int, bytes] = {}
        self.seq = 0
        self.errors = 0

    async def run(self, stop: asyncio.Event):
        while not stop.is_set():
            try:
                lead = await find_leader(self.peers, timeout=2.0)
                client = await RaftClient.connect(self.peers[lead], 0.5)
            except (AssertionError, OSError, asyncio.TimeoutError):
                continue
            try:
                await self._pump(client, stop)
            except (OSError, ClientError, asyncio.TimeoutError):
                self.errors += 1
            finally:
                client.close()

    async def _pump(self, client, stop):
        inflight: dict[asyncio.Future, bytes] = {}
        try:
            while not stop.is_set():
                while len(inflight) < WINDOW:
                    self.seq += 1
                    data = b"k%08d" % self.seq
                    inflight[client.request("put", data)] = data
                done, _ = await asyncio.wait(inflight, timeout=1.0,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    raise asyncio.TimeoutError
                for f in done:
                    data = inflight.pop(f)
                    f.result()  # raises on error: reconnect
                    self.acked[f.result()] = data
        finally:
            for f, data in inflight.items():
                if f.done() and not f.cancelled() and f.exception() is None:
                    self.acked[f.result()] = data


async def read_all(addr, hi):
    c = await RaftClient.connect(addr, 2.0)
    try:
        return dict(await asyncio.wait_for(c.read(0, hi), 10.0))
    finally:
        c.close()


def test_kill9_loses_no_acknowledged_write(tmp_path):
    asyncio.run(_scenario(tmp_path, random.Random(int(os.environ.get("KILL9_SEED", "0")) or None)))


async def _scenario(tmp_path, rng):
    peers = free_peers(3)
    cluster = Cluster(peers, str(tmp_path))
    try:
        for i in peers:
            cluster.start(i)
        await find_leader(peers, timeout=20.0)
        writer, stop = Writer(peers), asyncio.Event()
        task = asyncio.create_task(writer.run(stop))
        kills = []
        for r in range(ROUNDS):
            await asyncio.sleep(rng.uniform(0.5, 1.2))
            lead = await find_leader(peers)
            victim = lead if r % 2 == 0 else rng.choice([i for i in peers if i != lead])
            before = len(writer.acked)
            cluster.kill9(victim)
            kills.append((victim, "leader" if victim == lead else "follower", before))
            await asyncio.sleep(rng.uniform(0.2, 0.8))
            cluster.start(victim)
        # finally the whole cluster at once: only the disks remember
        await asyncio.sleep(0.5)
        for i in peers:
            cluster.kill9(i)
        kills.append(("all", "cluster", len(writer.acked)))
        for i in peers:
            cluster.start(i)
        await find_leader(peers, timeout=20.0)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.wait_for(task, 15)
        assert len(writer.acked) > 200, (len(writer.acked), writer.errors, kills)
        top = max(writer.acked)
        await _wait_applied(peers, top)
        for i, addr in peers.items():
            items = await read_all(addr, top)
            lost = [(idx, d) for idx, d in writer.acked.items() if items.get(idx) != d]
            assert not lost, f"server {i} lost {len(lost)} acknowledged writes, e.g. {lost[:3]}"
        print(f"{len(writer.acked)} acknowledged writes survived kills {kills}")
    finally:
        cluster.stop_all()


async def _wait_applied(peers, index, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sts = await asyncio.gather(*(status(a) for a in peers.values()))
        if all(s and s["applied"] >= index for s in sts):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"servers did not all apply up to {index}: {sts}")
