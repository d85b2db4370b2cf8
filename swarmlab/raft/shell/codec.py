"""Bytes on the wire: versioned frames carrying msgpack-encoded Raft messages.

Theory of operation (h11-style: bytes in, values out, no I/O here):
- A frame is a fixed 8-byte header (magic ``b"SR"``, version, kind, body
  length) followed by the body. `FrameDecoder` cuts a byte stream into frames;
  a bad magic, version or an oversized length raises `CodecError` (the stream
  is then out of sync and the transport closes the connection).
- A Raft `Message` body is a msgpack array. `decode_message` checks every
  field (types, ranges, enum values, entry indexes contiguous after
  `index`), so a malformed frame raises `CodecError` and never reaches the
  core, whose asserts assume well-formed messages.
- Client requests and answers travel in the same frames (kinds CLIENT_REQ,
  CLIENT_RESP) so one port serves peers and clients.
- A snapshot can be larger than a frame, so it travels as a stream of SNAP_CHUNK
  frames (as swarmkit's `StreamRaftMessage` splits a `MsgSnap`): the first chunk
  carries the SNAP message without its data, every chunk the whole length and
  CRC-32; `snapshot_frames` cuts one, lazily, and `SnapshotAssembler` puts it back
  together, bounded (a total above its cap, a gap, an overrun or a bad CRC drops
  the transfer), and hands back one ordinary SNAP `Message`: the core never sees
  chunks.
"""
from __future__ import annotations

import dataclasses
import enum
import struct
import zlib
from typing import Any, Iterator

import msgpack

from ..messages import Entry, EntryType, Message, MessageType, Snapshot

MAGIC = b"SR"
VERSION = 1
HEADER = struct.Struct(">2sBBI")  # magic, version, kind, body length
HEADER_SIZE = HEADER.size
#: the default limit: larger than any append (Config.max_msg_bytes is 1 MiB); snapshots
#: larger than a frame travel in chunks
MAX_FRAME_BYTES = 32 << 20
#: the default size of one snapshot chunk (small, so heartbeats slip in between chunks)
SNAP_CHUNK_BYTES = 1 << 20
#: the default cap on one snapshot a receiver reassembles (its memory, per peer)
MAX_SNAPSHOT_BYTES = 1 << 30
_MAX_U64 = (1 << 63) - 1
_MAX_NODE = (1 << 31) - 1

_MTYPES = {int(t): t for t in MessageType}
_ETYPES = {int(t): t for t in EntryType}


class CodecError(ValueError):
    """A frame or body that is not a valid swarmlab Raft message."""


class FrameKind(enum.IntEnum):
    RAFT = 1  # one Raft Message
    HELLO = 2  # first frame of a peer connection: the sender's node id
    CLIENT_REQ = 3  # a batch of client requests
    CLIENT_RESP = 4  # a batch of answers
    SNAP_CHUNK = 5  # a piece of a snapshot: [transfer, offset, total, crc32, head, data]
    SNAP_ACK = 6  # a whole snapshot arrived and is being installed: [index, term]


# -- frames ----------------------------------------------------------------------
def frame(kind: FrameKind, body: bytes, max_frame: int = MAX_FRAME_BYTES) -> bytes:
    if len(body) > max_frame:
        raise CodecError(f"frame of {len(body)} bytes exceeds {max_frame}")
    return HEADER.pack(MAGIC, VERSION, kind, len(body)) + body


def parse_header(header: bytes, max_frame: int = MAX_FRAME_BYTES) -> tuple[FrameKind, int]:
    magic, version, kind, length = HEADER.unpack(header)
    if magic != MAGIC:
        raise CodecError(f"bad magic {magic!r}")
    if version != VERSION:
        raise CodecError(f"unsupported frame version {version}")
    if kind not in _FRAME_KINDS:
        raise CodecError(f"unknown frame kind {kind}")
    if length > max_frame:
        raise CodecError(f"frame of {length} bytes exceeds {max_frame}")
    return _FRAME_KINDS[kind], length


_FRAME_KINDS = {int(k): k for k in FrameKind}


class FrameDecoder:
    """Incremental: feed it bytes as they arrive, get whole frames back."""

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._need: tuple[FrameKind, int] | None = None
        #: set once a bad header is seen: the stream cannot be resynced after it
        self.error: CodecError | None = None

    def feed(self, data: bytes) -> list[tuple[FrameKind, bytes]]:
        """The whole frames so far. Frames before a bad header are returned (and
        `error` is set); a call that has none to return raises the CodecError."""
        if self.error is not None:
            raise self.error
        self._buf += data
        out = []
        pos = 0
        buf = self._buf
        while True:
            if self._need is None:
                if len(buf) - pos < HEADER_SIZE:
                    break
                try:
                    self._need = parse_header(bytes(buf[pos:pos + HEADER_SIZE]),
                                              self.max_frame)
                except CodecError as e:
                    self.error = e
                    if not out:
                        raise
                    break
                pos += HEADER_SIZE
            kind, length = self._need
            if len(buf) - pos < length:
                break
            out.append((kind, bytes(buf[pos:pos + length])))
            pos += length
            self._need = None
        if pos:
            del buf[:pos]
        return out


# -- Raft messages -----------------------------------------------------------------
def encode_message(m: Message) -> bytes:
    """msgpack array; entries as parallel lists (terms, datas, types), indexes implied."""
    ents = None
    if m.entries:
        first = m.index + 1
        for i, e in enumerate(m.entries):
            if e.index != first + i:
                raise CodecError("entries must follow the message index contiguously")
        ents = [[e.term for e in m.entries], [e.data for e in m.entries],
                [int(e.type) for e in m.entries]]
    snap = None
    if m.snapshot is not None:
        s = m.snapshot
        snap = [s.index, s.term, list(s.voters), s.data]
    body = [int(m.type), m.src, m.dst, m.term, m.log_term, m.index, m.commit,
            m.reject, m.reject_hint, m.transfer, ents, snap]
    try:
        return msgpack.packb(body, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as e:
        raise CodecError(f"cannot encode message: {e}") from None


def decode_message(data: bytes) -> Message:
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=True,
                               max_bin_len=MAX_FRAME_BYTES, max_str_len=1 << 16)
    except Exception as e:  # msgpack raises many types on garbage
        raise CodecError(f"not msgpack: {type(e).__name__}") from None
    if type(body) is not list or len(body) != 12:
        raise CodecError("message must be a 12-element array")
    (mtype, src, dst, term, log_term, index, commit, reject, reject_hint, transfer,
     ents, snap) = body
    mt = _MTYPES.get(mtype) if type(mtype) is int else None
    if mt is None:
        raise CodecError(f"unknown message type {mtype!r}")
    _node("src", src)
    _node("dst", dst)
    for name, v in (("term", term), ("log_term", log_term), ("index", index),
                    ("commit", commit), ("reject_hint", reject_hint)):
        _u64(name, v)
    if type(reject) is not bool or type(transfer) is not bool:
        raise CodecError("reject and transfer must be booleans")
    if log_term > term and mt is not MessageType.APP_RESP:
        raise CodecError("log_term beyond the message term")
    entries = _decode_entries(ents, index, term) if ents is not None else ()
    if entries and mt is not MessageType.APP:
        raise CodecError(f"{mt.name} cannot carry entries")
    snapshot = _decode_snapshot(snap) if snap is not None else None
    if (snapshot is not None) != (mt is MessageType.SNAP):
        raise CodecError("a snapshot travels in SNAP messages only, and SNAP needs one")
    return Message(mt, src, dst, term, log_term, index, entries, commit, reject,
                   reject_hint, snapshot, transfer)


def _decode_entries(ents: Any, prev: int, term: int) -> tuple[Entry, ...]:
    """Checks run as C-level passes over whole arrays: this is the hot path of a follower."""
    if type(ents) is not list or len(ents) != 3:
        raise CodecError("entries must be [terms, datas, types]")
    terms, datas, types = ents
    if not (type(terms) is list and type(datas) is list and type(types) is list):
        raise CodecError("entries must be three arrays")
    n = len(terms)
    if n == 0 or len(datas) != n or len(types) != n:
        raise CodecError("entry arrays differ in length or are empty")
    if prev + n > _MAX_U64:
        raise CodecError("entry index out of range")
    if set(map(type, terms)) != _INT or not (0 <= terms[0] and terms[-1] <= term) \
            or terms != sorted(terms):
        raise CodecError("entry terms must be non-decreasing and <= the message term")
    if set(map(type, datas)) != _BYTES:
        raise CodecError("entry data must be bytes")
    if set(map(type, types)) != _INT or not set(types) <= _ETYPES.keys():
        raise CodecError("unknown entry type")
    return tuple(map(Entry, terms, range(prev + 1, prev + 1 + n), datas,
                     map(_ETYPES.__getitem__, types)))


_INT, _BYTES = {int}, {bytes}


def _decode_snapshot(snap: Any) -> Snapshot:
    if type(snap) is not list or len(snap) != 4:
        raise CodecError("snapshot must be [index, term, voters, data]")
    index, term, voters, data = snap
    _u64("snapshot index", index)
    _u64("snapshot term", term)
    if type(voters) is not list:
        raise CodecError("snapshot voters must be an array")
    for v in voters:
        _node("voter", v)
    if len(set(voters)) != len(voters):
        raise CodecError("snapshot voters repeat")
    if type(data) is not bytes:
        raise CodecError("snapshot data must be bytes")
    return Snapshot(index, term, tuple(voters), data)


def _u64(name: str, v: Any) -> None:
    if type(v) is not int or not 0 <= v <= _MAX_U64:
        raise CodecError(f"{name} must be an integer in [0, 2^63)")


def _node(name: str, v: Any) -> None:
    if type(v) is not int or not 1 <= v <= _MAX_NODE:
        raise CodecError(f"{name} must be a node id in [1, 2^31)")


# -- plain values (hello, client requests and answers) ----------------------------
def encode_value(v: Any) -> bytes:
    return msgpack.packb(v, use_bin_type=True)


def decode_value(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False,
                               max_bin_len=MAX_FRAME_BYTES, max_str_len=1 << 20)
    except Exception as e:
        raise CodecError(f"not msgpack: {type(e).__name__}") from None


def message_frame(m: Message, max_frame: int = MAX_FRAME_BYTES) -> bytes:
    return frame(FrameKind.RAFT, encode_message(m), max_frame)


# -- snapshots in chunks ----------------------------------------------------------------
def snapshot_frames(m: Message, chunk_bytes: int, transfer: int,
                    max_frame: int = MAX_FRAME_BYTES, crc: int | None = None) -> Iterator[bytes]:
    """The SNAP message `m` as SNAP_CHUNK frames of at most `chunk_bytes` of data each,
    made one at a time (the snapshot is sliced, never copied whole). `crc` is the data's
    CRC-32 if the caller has it already (it is worked out off the event loop)."""
    if m.type is not MessageType.SNAP or m.snapshot is None:
        raise CodecError("only a SNAP message travels in chunks")
    if not 0 < chunk_bytes <= max_frame - _CHUNK_OVERHEAD:
        raise CodecError(f"chunks of {chunk_bytes} bytes do not fit frames of {max_frame}")
    data = memoryview(m.snapshot.data)
    total = len(data)
    if crc is None:
        crc = zlib.crc32(data)
    head = encode_message(dataclasses.replace(
        m, snapshot=dataclasses.replace(m.snapshot, data=b"")))
    if len(head) > _CHUNK_OVERHEAD // 2:
        raise CodecError(f"snapshot header of {len(head)} bytes is too large")
    offset = 0
    while True:
        piece = data[offset:offset + chunk_bytes]
        body = msgpack.packb([transfer, offset, total, crc, head if offset == 0 else None,
                              piece], use_bin_type=True)
        yield frame(FrameKind.SNAP_CHUNK, body, max_frame)
        offset += len(piece)
        if offset >= total:
            return


#: room in a chunk frame for everything but the data (the header message is small:
#: the voters are at most a few dozen node ids)
_CHUNK_OVERHEAD = 4096


class SnapshotAssembler:
    """Puts one peer's snapshot back together from its SNAP_CHUNK frames, in order.

    Memory is bounded: a transfer may declare at most `max_bytes`, and only what has
    arrived is held. A chunk that starts a new transfer (offset 0) drops an incomplete
    one; a chunk that does not follow on (another transfer, a gap, a changed length or
    CRC, more data than declared) drops the transfer and raises `CodecError`, as does
    a complete one whose CRC-32 is wrong. The owner drops it on a timeout (`reset`)."""

    def __init__(self, max_bytes: int = MAX_SNAPSHOT_BYTES) -> None:
        self.max_bytes = max_bytes
        self.transfer: int | None = None
        self.head: Message | None = None
        self.total = 0
        self.crc = 0
        self.buf = bytearray()
        self.chunks = 0
        self._crc = 0  # of what arrived so far

    @property
    def active(self) -> bool:
        return self.transfer is not None

    @property
    def received(self) -> int:
        return len(self.buf)

    def reset(self) -> None:
        self.transfer, self.head, self.buf, self.chunks, self._crc = None, None, bytearray(), 0, 0

    def feed(self, body: bytes) -> Message | None:
        """One chunk's frame body; the whole SNAP message once its last chunk is in."""
        try:
            return self._feed(body)
        except CodecError:
            self.reset()
            raise

    def _feed(self, body: bytes) -> Message | None:
        try:
            chunk = msgpack.unpackb(body, raw=False, strict_map_key=True,
                                    max_bin_len=MAX_FRAME_BYTES, max_str_len=0,
                                    max_array_len=6, max_map_len=0)
        except Exception as e:
            raise CodecError(f"snapshot chunk not msgpack: {type(e).__name__}") from None
        if type(chunk) is not list or len(chunk) != 6:
            raise CodecError("snapshot chunk must be a 6-element array")
        transfer, offset, total, crc, head, data = chunk
        for name, v in (("transfer", transfer), ("offset", offset), ("total", total)):
            _u64(name, v)
        if type(crc) is not int or not 0 <= crc < 1 << 32:
            raise CodecError("snapshot crc must be a 32-bit unsigned integer")
        if type(data) is not bytes:
            raise CodecError("snapshot chunk data must be bytes")
        if offset == 0:
            self.reset()  # a new transfer replaces an incomplete one
            if total > self.max_bytes:
                raise CodecError(f"snapshot of {total} bytes exceeds {self.max_bytes}")
            if type(head) is not bytes:
                raise CodecError("the first snapshot chunk must carry the message")
            m = decode_message(head)
            if m.type is not MessageType.SNAP or m.snapshot is None or m.snapshot.data:
                raise CodecError("the first snapshot chunk must carry a SNAP without data")
            self.transfer, self.head, self.total, self.crc = transfer, m, total, crc
        elif not self.active:
            raise CodecError(f"snapshot chunk at offset {offset} of no transfer")
        elif head is not None:
            raise CodecError("only the first snapshot chunk carries the message")
        elif (transfer, total, crc) != (self.transfer, self.total, self.crc):
            raise CodecError("snapshot chunk of another transfer")
        elif offset != len(self.buf):
            raise CodecError(f"snapshot chunk at offset {offset}, expected {len(self.buf)}")
        if not data and total:
            raise CodecError("empty snapshot chunk")
        if offset + len(data) > total:
            raise CodecError("snapshot chunk beyond the declared length")
        self.buf += data
        self._crc = zlib.crc32(data, self._crc)  # as it comes: no long pause at the end
        self.chunks += 1
        if len(self.buf) < total:
            return None
        if self._crc != crc:
            raise CodecError("snapshot CRC-32 mismatch")
        whole, head_msg = bytes(self.buf), self.head
        self.reset()
        assert head_msg is not None and head_msg.snapshot is not None
        return dataclasses.replace(
            head_msg, snapshot=dataclasses.replace(head_msg.snapshot, data=whole))
