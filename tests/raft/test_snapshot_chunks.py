"""Snapshots larger than a frame: SNAP_CHUNK streams (issue 18, item 3).

The codec cuts a SNAP message into chunks and puts it back together, bounded and
checked; the transport streams it, paced; a real cluster over TCP catches a restarted
follower up through a snapshot five times the frame limit."""
import asyncio
import logging
import time
import zlib

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from swarmlab.profiles import LAB
from swarmlab.raft.messages import Message, MessageType as MT, Snapshot
from swarmlab.raft.shell.codec import (
    HEADER_SIZE, CodecError, FrameDecoder, FrameKind, SnapshotAssembler, encode_value, frame,
    snapshot_frames,
)
from swarmlab.raft.shell.file_storage import FileStorage
from swarmlab.raft.shell.server import RaftServer
from swarmlab.raft.shell.client import RaftClient
from swarmlab.raft.shell.conn import LogLimiter
from swarmlab.raft.storage import MemoryStorage

from test_server import free_peers, leader_of, stop, wait_for

MiB = 1 << 20


def snap_msg(size, index=40, term=3, seed=1, src=1, dst=2):
    data = bytes((i * 7 + seed) & 0xFF for i in range(256)) * (size // 256) + b"x" * (size % 256)
    return Message(MT.SNAP, src, dst, term, snapshot=Snapshot(index, term, (1, 2, 3), data))


def bodies(m, chunk, transfer=1, max_frame=MiB):
    """The chunk frames of `m` as they come out of a FrameDecoder with the same limit."""
    dec = FrameDecoder(max_frame)
    out = []
    for f in snapshot_frames(m, chunk, transfer, max_frame):
        assert len(f) - HEADER_SIZE <= max_frame
        got = dec.feed(f)
        assert [k for k, _ in got] == [FrameKind.SNAP_CHUNK]
        out.append(got[0][1])
    return out


def chunk_body(transfer, offset, total, crc, head, data):
    return msgpack.packb([transfer, offset, total, crc, head, data], use_bin_type=True)


# -- the codec ------------------------------------------------------------------------
def test_a_snapshot_five_times_the_frame_limit_round_trips_in_chunks():
    m = snap_msg(5 * MiB + 123)
    with pytest.raises(CodecError):
        frame(FrameKind.RAFT, m.snapshot.data, max_frame=MiB)  # one frame cannot carry it
    parts = bodies(m, 256 << 10)
    assert len(parts) == 21
    asm = SnapshotAssembler(max_bytes=8 * MiB)
    assert [asm.feed(b) for b in parts[:-1]] == [None] * 20
    assert asm.active and asm.received == 5 * MiB
    assert asm.feed(parts[-1]) == m
    assert not asm.active and asm.received == 0  # nothing kept once handed over


@pytest.mark.parametrize("size", [0, 1, 4096, 4097])
def test_small_and_empty_snapshots_are_one_or_two_chunks(size):
    m = snap_msg(size)
    parts = bodies(m, 4096)
    assert len(parts) == max(1, -(-size // 4096))
    asm = SnapshotAssembler()
    out = [asm.feed(b) for b in parts]
    assert out[-1] == m and all(o is None for o in out[:-1])


def test_chunks_must_fit_the_frame():
    with pytest.raises(CodecError):
        list(snapshot_frames(snap_msg(10), MiB, 1, max_frame=MiB))
    with pytest.raises(CodecError):
        list(snapshot_frames(Message(MT.HEARTBEAT, 1, 2, 1), 100, 1))


def test_a_truncated_stream_never_yields_and_the_next_transfer_replaces_it():
    old, new = snap_msg(300_000, index=40), snap_msg(200_000, index=60, seed=9)
    asm = SnapshotAssembler()
    for b in bodies(old, 64 << 10)[:-1]:  # the last chunk never comes
        assert asm.feed(b) is None
    assert asm.received == 4 * (64 << 10)
    out = [asm.feed(b) for b in bodies(new, 64 << 10, transfer=2)]
    assert out[-1] == new and out[:-1] == [None] * (len(out) - 1)


def _refused(asm, parts):
    with pytest.raises(CodecError):
        for b in parts:
            asm.feed(b)
    assert not asm.active and asm.received == 0  # the transfer is dropped, memory freed


def test_corrupt_gapped_foreign_or_headless_chunks_are_refused():
    m = snap_msg(300_000)
    data, crc = m.snapshot.data, zlib.crc32(m.snapshot.data)
    parts = bodies(m, 64 << 10)
    head = msgpack.unpackb(parts[0])[4]
    asm = SnapshotAssembler()
    # a flipped byte in one chunk: the CRC of the whole does not match
    bad = msgpack.unpackb(parts[2])
    bad[5] = bytes([bad[5][0] ^ 1]) + bad[5][1:]
    _refused(asm, parts[:2] + [msgpack.packb(bad)] + parts[3:])
    # a gap, a chunk of another transfer, a chunk with no start, a second head
    _refused(asm, parts[:1] + parts[2:])
    _refused(asm, parts[:1] + [chunk_body(7, 64 << 10, len(data), crc, None, data[65536:65540])])
    _refused(asm, parts[1:])
    _refused(asm, parts[:1] + [chunk_body(1, 64 << 10, len(data), crc, head, data[65536:65540])])
    # a head that is not a SNAP without data
    hb = msgpack.packb([5, 1, 2, 1, 0, 0, 0, False, 0, False, None, None])
    _refused(asm, [chunk_body(1, 0, 4, 0, hb, b"abcd")])
    _refused(asm, [chunk_body(1, 0, 4, 0, None, b"abcd")])
    _refused(asm, [b"\xc1 not msgpack", ])
    _refused(asm, [msgpack.packb([1, 0, 4])])
    # and after all that, a good stream still goes through
    assert [asm.feed(b) for b in parts][-1] == m


def test_an_oversized_or_endless_stream_is_refused_within_the_cap():
    asm = SnapshotAssembler(max_bytes=MiB)
    _refused(asm, bodies(snap_msg(MiB + 1), 256 << 10)[:1])  # declared beyond the cap
    # a bogus sender declares exactly the cap, then keeps sending: refused at the overrun
    m = snap_msg(MiB)
    head = msgpack.unpackb(bodies(m, 256 << 10)[0])[4]
    piece = bytes(256 << 10)
    asm.feed(chunk_body(1, 0, MiB, 0, head, piece))
    offset, peak = len(piece), asm.received
    with pytest.raises(CodecError):
        while True:
            asm.feed(chunk_body(1, offset, MiB, 0, None, piece + (b"more" if offset >= 3 * len(piece) else b"")))
            offset += len(piece)
            peak = max(peak, asm.received)
    assert peak <= MiB and not asm.active


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_random_chunk_bodies_raise_only_codec_error(data):
    try:
        SnapshotAssembler().feed(data)
    except CodecError:
        pass


def test_the_log_limiter_keeps_one_line_per_interval():
    now = [0.0]
    lines = []

    class Catch(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger = logging.getLogger("test.limiter")
    logger.addHandler(Catch())
    logger.setLevel(logging.INFO)
    lim = LogLimiter(logger, interval=5.0, clock=lambda: now[0])
    for i in range(50):  # ten a second, for five seconds
        lim.log(logging.ERROR, "k", "cannot encode SNAP %d", i)
        now[0] = (i + 1) / 10
    lim.log(logging.ERROR, "k", "cannot encode SNAP %d", 50)
    lim.log(logging.ERROR, "other", "something else")
    assert lines == ["cannot encode SNAP 0", "cannot encode SNAP 50 (and 49 more like it in 5 s)",
                     "something else"]


# -- a real cluster over TCP ------------------------------------------------------------
FRAME = MiB  # the test's frame limit: the snapshot below is five times that


def test_a_restarted_follower_catches_up_through_a_snapshot_bigger_than_a_frame(tmp_path):
    async def main():
        peers = free_peers(3)
        store = lambda i: FileStorage(tmp_path / f"n{i}", sync=False)
        kw = dict(snapshot_every=20, max_frame_bytes=FRAME, max_snapshot_bytes=16 * MiB)
        servers = {i: RaftServer(i, peers, store(i), LAB, seed=i, **kw) for i in peers}
        for s in servers.values():
            await s.start()
        try:
            lead = await leader_of(servers)
            lagger = next(i for i in peers if i != lead)
            await servers[lagger].close()
            before = servers[lead].node.log.applied
            c = await RaftClient.connect(peers[lead])
            payload = bytes(range(256)) * 400  # 100 KiB a write: 60 of them, ~6 MiB
            for k in range(0, 60, 5):  # five at a time: a client frame stays under the limit
                await asyncio.gather(*(c.put(b"%03d" % (k + j) + payload) for j in range(5)))
            c.close()
            leader = servers[lead]
            snap = leader.node.log.snapshot
            assert snap.index > before and len(snap.data) > 5 * FRAME

            t0 = time.monotonic()
            back = RaftServer(lagger, peers, store(lagger), LAB, seed=7, **kw)
            servers[lagger] = back
            await back.start()
            assert back.node.log.applied < snap.index  # it restarted behind the snapshot

            async def caught_up():
                return back.node.log.applied >= leader.node.log.applied >= snap.index
            await wait_for(caught_up, timeout=20.0)
            took = time.monotonic() - t0
            got = dict(back.sm.read(0, 10**9))
            want = dict(leader.sm.read(0, 10**9))
            assert got == want and len(got) >= 60
            link = leader.transport.links[lagger]
            assert link.snaps_sent == 1 and link.snaps_acked == 1  # one transfer, acknowledged
            assert back.transport.snaps_received >= 1 and not back.transport.incoming
            print(f"\ncatch-up through a {len(snap.data) / MiB:.1f} MiB snapshot "
                  f"(frame limit {FRAME / MiB:.0f} MiB): {took:.2f} s, "
                  f"{link.snaps_sent} transfer(s), {link.snaps_paced} resend(s) paced")
            # and the cluster goes on with all three
            c = await RaftClient.connect(peers[lead])
            last = await c.put(b"after")
            c.close()
            async def all_have():
                return all(s.node.log.applied >= last for s in servers.values())
            await wait_for(all_have)
        finally:
            await stop(servers)
    asyncio.run(main())


def test_a_live_node_refuses_bad_chunk_streams_and_keeps_its_state():
    async def main():
        peers = free_peers(3)
        kw = dict(max_frame_bytes=FRAME, max_snapshot_bytes=2 * MiB)
        servers = {i: RaftServer(i, peers, MemoryStorage(), LAB, seed=i, **kw) for i in peers}
        for s in servers.values():
            await s.start()
        try:
            lead = await leader_of(servers)
            victim = next(i for i in peers if i != lead)
            node = servers[victim].node
            term = node.term
            # forged in the leader's name: a snapshot far ahead, whose install would show
            big = Message(MT.SNAP, lead, victim, term,
                          snapshot=Snapshot(10**6, term, (1, 2, 3), bytes(MiB + 5)))
            r, w = await asyncio.open_connection(*peers[victim])
            w.write(frame(FrameKind.HELLO, encode_value(lead)))
            parts = list(snapshot_frames(big, 256 << 10, 1, FRAME))
            w.write(b"".join(parts[:-1]))  # truncated: the last chunk never comes
            oversized = Message(MT.SNAP, lead, victim, term,
                                snapshot=Snapshot(10**6, term, (1, 2, 3), bytes(3 * MiB)))
            w.write(next(snapshot_frames(oversized, 256 << 10, 2, FRAME)))  # above the cap
            corrupt = list(snapshot_frames(big, 256 << 10, 3, FRAME))
            body = msgpack.unpackb(corrupt[-1][HEADER_SIZE:])
            body[5] = b"\xff" + body[5][1:]
            corrupt[-1] = frame(FrameKind.SNAP_CHUNK, msgpack.packb(body), FRAME)
            w.write(b"".join(corrupt))
            w.write(b"".join(parts[:2]))  # and one more left hanging when we hang up
            await w.drain()
            transport = servers[victim].transport
            async def refused():
                return transport.bad_frames >= 2 and lead in transport.incoming
            await wait_for(refused)
            w.close()
            async def dropped():
                return not transport.incoming
            await wait_for(dropped)
            assert node.log.snapshot.index < 10**6 and node.log.applied < 10**6
            assert transport.snaps_received == 0
            c = await RaftClient.connect(peers[lead])
            idx = await c.put(b"still fine")
            c.close()
            async def applied():
                return node.log.applied >= idx
            await wait_for(applied)
        finally:
            await stop(servers)
    asyncio.run(main())


def test_the_leader_paces_a_snapshot_the_follower_does_not_take():
    """The core asks for the snapshot again every heartbeat (ten times a second) while the
    follower has not caught up: one transfer at a time, the same one again after 1 s, then
    2 s, ...; a newer snapshot goes as soon as the link is free."""
    from swarmlab.raft.shell.transport import PeerLink

    async def main():
        kinds = []

        async def sink(r, w):  # a peer that reads everything and never answers
            dec = FrameDecoder(FRAME)
            while data := await r.read(1 << 16):
                kinds.extend(k for k, _ in dec.feed(data))

        server = await asyncio.start_server(sink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        link = PeerLink(1, 2, ("127.0.0.1", port), "127.0.0.1")
        link.max_frame, link.chunk_bytes = FRAME, 256 << 10
        link.task = asyncio.create_task(link.run())
        try:
            async def connected():
                return link.conn is not None
            await wait_for(connected)
            loop = asyncio.get_running_loop()
            m = snap_msg(2 * MiB)
            end = loop.time() + 2.2
            while loop.time() < end:
                link.send_snapshot(m)
                await asyncio.sleep(0.1)
            assert link.snaps_sent == 2 and link.snaps_paced >= 18
            newer = snap_msg(MiB, index=80)
            link.send_snapshot(newer)
            await link.snap_task
            assert link.snaps_sent == 3
            # the peer says it has it all (SNAP_ACK): no resend while it installs
            link.snapshot_received((80, 3))
            assert link.snaps_acked == 1
            end = loop.time() + 1.5
            while loop.time() < end:
                link.send_snapshot(newer)
                await asyncio.sleep(0.1)
            assert link.snaps_sent == 3
            # unless it reconnects (it restarted: what it was installing is gone)
            link.conn.close()
            end = loop.time() + 1.6
            while loop.time() < end:
                link.send_snapshot(newer)
                await asyncio.sleep(0.1)
            assert link.snaps_sent == 4
            async def all_in():
                return kinds.count(FrameKind.SNAP_CHUNK) == 8 + 8 + 4 + 4
            await wait_for(all_in)
        finally:
            link.cancel()
            server.close()
    asyncio.run(main())


def test_an_incomplete_incoming_snapshot_is_dropped_after_a_quiet_spell(monkeypatch):
    import swarmlab.raft.shell.transport as tr
    monkeypatch.setattr(tr, "SNAP_IDLE_S", 0.3)

    async def main():
        peers = free_peers(3)
        servers = {i: RaftServer(i, peers, MemoryStorage(), LAB, seed=i, max_frame_bytes=FRAME)
                   for i in peers}
        for s in servers.values():
            await s.start()
        try:
            lead = await leader_of(servers)
            victim = next(i for i in peers if i != lead)
            transport = servers[victim].transport
            m = Message(MT.SNAP, lead, victim, servers[victim].node.term,
                        snapshot=Snapshot(10**6, 1, (1, 2, 3), bytes(MiB)))
            r, w = await asyncio.open_connection(*peers[victim])
            w.write(frame(FrameKind.HELLO, encode_value(lead)))
            w.write(next(snapshot_frames(m, 256 << 10, 1, FRAME)))
            await w.drain()
            async def started():
                return lead in transport.incoming
            await wait_for(started)
            async def dropped():  # the connection stays open; the timer drops it
                return not transport.incoming
            await wait_for(dropped, timeout=3.0)
            w.close()
            assert servers[victim].node.log.snapshot.index < 10**6
        finally:
            await stop(servers)
    asyncio.run(main())


def test_the_managers_transport_takes_the_same_limits():
    """A manager's Raft (`SwarmRaftServer`) makes its own transport: it gets the same frame
    limit and chunking, on every link, including links to managers that join later."""
    from swarmlab.node.manager_raft import SwarmRaftServer

    async def main():
        peers = free_peers(2)
        s = SwarmRaftServer(1, peers, MemoryStorage(), LAB, max_frame_bytes=FRAME,
                            max_snapshot_bytes=3 * MiB)
        t = s.transport
        assert (t.max_frame_bytes, t.max_snapshot_bytes, t.chunk_bytes) == (FRAME, 3 * MiB, FRAME // 2)
        t.add_peer(3, ("127.0.0.3", 1))
        assert all((link.max_frame, link.chunk_bytes) == (FRAME, FRAME // 2)
                   for link in t.links.values())
        assert s.config().max_msg_bytes == FRAME // 4
        assert RaftServer(1, peers, MemoryStorage()).config().max_msg_bytes == 1 << 20
    asyncio.run(main())
