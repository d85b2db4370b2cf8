"""The asyncio/TCP shell: three managers in one event loop on loopback, real time."""
import asyncio
import os
import socket

import pytest

from swarmlab.raft.shell.codec import HEADER, FrameKind, encode_value, frame, message_frame
from swarmlab.raft.shell.file_storage import FileStorage
from swarmlab.profiles import LAB
from swarmlab.raft.messages import Entry, Message, MessageType as MT
from swarmlab.raft.shell.server import RaftServer
from swarmlab.raft.storage import MemoryStorage
from swarmlab.raft.shell.client import ClientError, NotLeaderError, RaftClient
from swarmlab.raft.shell.conn import parse_peers

pytestmark = pytest.mark.timeout(60)


def free_peers(n):
    peers = {}
    for i in range(1, n + 1):
        host = f"127.0.0.{i}"
        with socket.socket() as s:
            s.bind((host, 0))
            peers[i] = (host, s.getsockname()[1])
    return peers


async def wait_for(pred, timeout=5.0, step=0.02):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        v = await pred()
        if v:
            return v
        await asyncio.sleep(step)
    raise AssertionError("condition not reached in time")


async def status(addr):
    c = await RaftClient.connect(addr)
    try:
        return await c.status()
    finally:
        c.close()


async def leader_of(servers):
    async def find():
        leaders = [s.id for s in servers.values() if s.node.is_leader]
        return leaders[0] if len(leaders) == 1 else None
    return await wait_for(find)


async def start_cluster(peers, storage_for, **kw):
    servers = {i: RaftServer(i, peers, storage_for(i), LAB, seed=i, **kw) for i in peers}
    for s in servers.values():
        await s.start()
    return servers


async def stop(servers):
    for s in servers.values():
        await s.close()


def test_parse_peers():
    assert parse_peers("1=127.0.0.1:7001, 2=127.0.0.2:7002") == {
        1: ("127.0.0.1", 7001), 2: ("127.0.0.2", 7002)}


def test_writes_commit_everywhere_and_followers_redirect():
    async def main():
        peers = free_peers(3)
        servers = await start_cluster(peers, lambda i: MemoryStorage())
        try:
            lead = await leader_of(servers)
            c = await RaftClient.connect(peers[lead])
            idxs = await asyncio.gather(*(c.put(b"w%d" % i) for i in range(300)))
            assert sorted(idxs) == list(range(idxs[0], idxs[0] + 300))
            st = await c.status()
            assert st["role"] == "leader" and st["commit"] >= idxs[-1] and st["applied"] >= idxs[-1]
            c.close()
            follower = next(i for i in peers if i != lead)
            f = await RaftClient.connect(peers[follower])
            with pytest.raises(NotLeaderError) as e:
                await f.put(b"no")
            assert e.value.leader_address == peers[lead]
            async def caught_up():
                return all(s.node.log.applied >= idxs[-1] for s in servers.values())
            await wait_for(caught_up)
            items = await f.read(0, 10**9)
            assert [d for i, d in items if i in set(idxs)] == [b"w%d" % i for i in range(300)]
            f.close()
        finally:
            await stop(servers)
    asyncio.run(main())


def test_malformed_frames_are_dropped_and_the_node_lives_on():
    async def main():
        peers = free_peers(3)
        servers = await start_cluster(peers, lambda i: MemoryStorage())
        try:
            lead = await leader_of(servers)
            victim = next(i for i in peers if i != lead)
            # a peer-looking connection sending garbage bodies, a lie about src, then a bad header
            r, w = await asyncio.open_connection(*peers[victim])
            w.write(frame(FrameKind.HELLO, encode_value(lead)))
            w.write(frame(FrameKind.RAFT, b"\xc1garbage"))
            w.write(frame(FrameKind.RAFT, encode_value([5, 1, 2])))
            other = next(i for i in peers if i not in (lead, victim))
            w.write(message_frame(Message(MT.HEARTBEAT, other, victim, 99)))
            w.write(frame(FrameKind.CLIENT_REQ, b""))  # wrong kind for a peer
            w.write(b"XX" + bytes(HEADER.size))
            await w.drain()
            assert await r.read() == b""  # closed by the node after the bad header
            w.close()
            r, w = await asyncio.open_connection(*peers[victim])
            w.write(HEADER.pack(b"SR", 1, FrameKind.RAFT, 1 << 30))  # oversized
            await w.drain()
            assert await r.read() == b""
            w.close()
            assert servers[victim].transport.bad_frames >= 4
            assert servers[victim].node.term < 99  # the forged message never reached the core
            c = await RaftClient.connect(peers[lead])
            await c.put(b"still alive")
            c.close()
            st = await status(peers[victim])
            assert st["leader"] == lead
            with pytest.raises(ClientError):
                c = await RaftClient.connect(peers[victim])
                await c.request("bogus-op", None)
            c.close()
        finally:
            await stop(servers)
    asyncio.run(main())


def test_restart_from_file_storage_with_snapshots(tmp_path):
    async def main():
        peers = free_peers(3)
        store = lambda i: FileStorage(tmp_path / f"n{i}")
        servers = await start_cluster(peers, store, snapshot_every=50)
        try:
            lead = await leader_of(servers)
            c = await RaftClient.connect(peers[lead])
            idxs = await asyncio.gather(*(c.put(b"a%d" % i) for i in range(220)))
            c.close()
            async def caught_up():
                return all(s.node.log.applied >= max(idxs) for s in servers.values())
            await wait_for(caught_up)
            assert all(s.node.log.snapshot.index >= 150 for s in servers.values())
            assert os.path.exists(tmp_path / f"n{lead}" / "snapshot")
        finally:
            await stop(servers)
        # everyone restarts from disk: the log, the snapshot and the applied state come back
        servers = await start_cluster(peers, store, snapshot_every=50)
        try:
            lead = await leader_of(servers)
            c = await RaftClient.connect(peers[lead])
            new = await c.put(b"after restart")
            assert new > max(idxs)
            items = dict(await c.read(0, new))
            assert [items[i] for i in idxs] == [b"a%d" % i for i in range(220)]
            assert items[new] == b"after restart"
            c.close()
        finally:
            await stop(servers)
    asyncio.run(main())


def test_a_follower_far_behind_gets_a_snapshot(tmp_path):
    async def main():
        peers = free_peers(3)
        servers = await start_cluster(peers, lambda i: MemoryStorage(), snapshot_every=20)
        try:
            lead = await leader_of(servers)
            lagger = next(i for i in peers if i != lead)
            await servers[lagger].close()
            c = await RaftClient.connect(peers[lead])
            idxs = await asyncio.gather(*(c.put(b"s%d" % i) for i in range(100)))
            c.close()
            assert servers[lead].node.log.snapshot.index > 20
            fresh = RaftServer(lagger, peers, MemoryStorage(), LAB, seed=7, snapshot_every=20)
            servers[lagger] = fresh
            await fresh.start()
            async def caught_up():
                return fresh.node.log.applied >= max(idxs)
            await wait_for(caught_up)
            got = dict(fresh.sm.read(0, max(idxs)))
            assert [got[i] for i in idxs] == [b"s%d" % i for i in range(100)]
        finally:
            await stop(servers)
    asyncio.run(main())


def test_flush_to_a_peer_whose_connection_just_died():
    from swarmlab.raft.shell.conn import Conn
    from swarmlab.raft.shell.transport import PeerLink

    async def main():
        link = PeerLink(1, 2, ("127.0.0.2", 1), "127.0.0.1")
        link.conn = Conn(lambda *a: None)  # connected once, transport already gone
        link.queue.append(b"frame")
        link.flush()
        assert link.queue == []
        link.send(b"frame")
        link.flush()  # dropped with the dead connection, not kept forever
        assert link.queue == []
    asyncio.run(main())


class SlowDisk:
    """MemoryStorage whose save() can be made to stall, as a busy disk's fsync does."""

    sync = True  # a blocking store: the server runs it in its disk thread

    def __init__(self):
        self.inner = MemoryStorage()
        self.stall_s = 0.0

    def load(self):
        return self.inner.load()

    def save(self, hs, entries, snapshot):
        if self.stall_s and entries:
            import time
            time.sleep(self.stall_s)
            self.stall_s = 0.0
        self.inner.save(hs, entries, snapshot)

    def compact(self, snapshot):
        self.inner.compact(snapshot)

    def close(self):
        pass


def test_a_slow_fsync_does_not_cost_the_leadership():
    """0.9 s stalls (more than the longest election timeout) on the leader's and then a
    follower's disk: heartbeats keep flowing, nobody campaigns, the writes commit."""
    async def main():
        peers = free_peers(3)
        disks = {i: SlowDisk() for i in peers}
        servers = await start_cluster(peers, disks.__getitem__)
        try:
            lead = await leader_of(servers)
            term = servers[lead].node.term
            c = await RaftClient.connect(peers[lead])
            follower = next(i for i in peers if i != lead)
            for stalled in (lead, follower):
                disks[stalled].stall_s = 0.9
                await asyncio.wait_for(c.put(b"through a slow disk"), 5)
                async def stall_over():
                    return disks[stalled].stall_s == 0.0
                await wait_for(stall_over)
            await asyncio.sleep(0.3)
            assert [s.node.term for s in servers.values()] == [term] * 3
            assert servers[lead].node.is_leader
            c.close()
        finally:
            await stop(servers)
    asyncio.run(main())


def test_each_server_says_since_when_it_has_known_no_leader():
    """What the manager API's wait for a leader reads (swarmkit's lost-quorum clock): None
    while a leader is known; from when it was lost on, and unchanged by the elections a
    lone server keeps trying."""
    async def main():
        peers = free_peers(3)
        servers = await start_cluster(peers, lambda i: MemoryStorage())
        lone = None
        try:
            lead = await leader_of(servers)
            async def all_know():
                return all(s.leaderless_since is None for s in servers.values())
            await wait_for(all_know)
            lone = servers.pop(next(i for i in servers if i != lead))
            await stop(servers)  # the leader and one follower: no quorum is left
            async def lost():
                return lone.leaderless_since
            since = await wait_for(lost)
            await asyncio.sleep(3 * lone.profile.election_timeout_ms[1] / 1000)
            assert lone.leaderless_since == since and lone.node.leader == 0
        finally:
            if lone is not None:
                await lone.close()
    asyncio.run(main())
