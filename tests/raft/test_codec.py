"""The wire codec: round trips, validation, and garbage never raising anything but CodecError."""
import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from swarmlab.raft.shell.codec import (
    HEADER_SIZE, MAX_FRAME_BYTES, CodecError, FrameDecoder, FrameKind, decode_message,
    encode_message, frame, message_frame, parse_header,
)
from swarmlab.raft.messages import Entry, EntryType, Message, MessageType as MT, Snapshot

node_ids = st.integers(1, (1 << 31) - 1)
u64 = st.integers(0, (1 << 63) - 1)


@st.composite
def messages(draw):
    mtype = draw(st.sampled_from(list(MT)))
    term = draw(u64)
    index = draw(st.integers(0, 1 << 40))
    entries = ()
    if mtype is MT.APP:
        n = draw(st.integers(0, 5))
        terms = sorted(draw(st.lists(st.integers(0, term), min_size=n, max_size=n)))
        entries = tuple(
            Entry(t, index + 1 + i, draw(st.binary(max_size=70)), draw(st.sampled_from(list(EntryType))))
            for i, t in enumerate(terms))
    snapshot = None
    if mtype is MT.SNAP:
        voters = draw(st.lists(node_ids, min_size=1, max_size=7, unique=True))
        snapshot = Snapshot(draw(u64), draw(u64), tuple(voters), draw(st.binary(max_size=200)))
    log_term = draw(st.integers(0, term)) if mtype is not MT.APP_RESP else draw(u64)
    return Message(mtype, draw(node_ids), draw(node_ids), term, log_term=log_term, index=index,
                   entries=entries, commit=draw(u64), reject=draw(st.booleans()),
                   reject_hint=draw(u64), snapshot=snapshot, transfer=draw(st.booleans()))


@given(messages())
@settings(max_examples=300, deadline=None)
def test_round_trip(m):
    assert decode_message(encode_message(m)) == m


@given(st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_random_bytes_raise_only_codec_error(data):
    try:
        decode_message(data)
    except CodecError:
        pass


@given(st.recursive(st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 64) - 1)
                    | st.binary(max_size=8) | st.text(max_size=4),
                    lambda c: st.lists(c, max_size=13), max_leaves=40))
@settings(max_examples=500, deadline=None)
def test_random_msgpack_values_raise_only_codec_error(value):
    try:
        decode_message(msgpack.packb(value, use_bin_type=True))
    except CodecError:
        pass


@given(messages(), st.integers(0, 11), st.sampled_from([None, -1, "x", b"x", 1 << 63, 2.5, [], True]))
@settings(max_examples=300, deadline=None)
def test_a_mangled_field_is_rejected_or_still_valid(m, pos, junk):
    body = msgpack.unpackb(encode_message(m), raw=False)
    body[pos] = junk
    try:
        out = decode_message(msgpack.packb(body, use_bin_type=True))
    except CodecError:
        return
    assert isinstance(out, Message)  # e.g. None where None is allowed


def app(entries, index=4, term=3):
    return Message(MT.APP, 1, 2, term, log_term=2, index=index, entries=tuple(entries), commit=3)


def test_non_contiguous_entries_are_rejected():
    with pytest.raises(CodecError):
        encode_message(app([Entry(3, 5), Entry(3, 7)]))
    good = msgpack.unpackb(encode_message(app([Entry(2, 5), Entry(3, 6)])), raw=False)
    good[10][0] = [3, 2]  # terms going backwards
    with pytest.raises(CodecError):
        decode_message(msgpack.packb(good, use_bin_type=True))


def test_entry_term_beyond_message_term_is_rejected():
    body = msgpack.unpackb(encode_message(app([Entry(3, 5)])), raw=False)
    body[10][0] = [9]
    with pytest.raises(CodecError):
        decode_message(msgpack.packb(body, use_bin_type=True))


def test_entries_only_in_app_and_snapshot_only_in_snap():
    body = msgpack.unpackb(encode_message(app([Entry(3, 5)])), raw=False)
    body[0] = int(MT.HEARTBEAT)
    with pytest.raises(CodecError):
        decode_message(msgpack.packb(body, use_bin_type=True))
    snap = Message(MT.SNAP, 1, 2, 3, snapshot=Snapshot(9, 2, (1, 2, 3), b"img"))
    assert decode_message(encode_message(snap)) == snap
    body = msgpack.unpackb(encode_message(snap), raw=False)
    body[11] = None
    with pytest.raises(CodecError):
        decode_message(msgpack.packb(body, use_bin_type=True))


def test_node_zero_is_not_a_sender():
    body = msgpack.unpackb(encode_message(Message(MT.HEARTBEAT, 1, 2, 1)), raw=False)
    body[1] = 0
    with pytest.raises(CodecError):
        decode_message(msgpack.packb(body, use_bin_type=True))


@given(st.lists(messages(), min_size=1, max_size=6), st.integers(1, 50))
@settings(max_examples=100, deadline=None)
def test_frame_decoder_reassembles_any_split(msgs, chunk):
    stream = b"".join(message_frame(m) for m in msgs)
    dec = FrameDecoder()
    got = []
    for i in range(0, len(stream), chunk):
        got += dec.feed(stream[i:i + chunk])
    assert [k for k, _ in got] == [FrameKind.RAFT] * len(msgs)
    assert [decode_message(b) for _, b in got] == msgs


def test_bad_headers():
    good = frame(FrameKind.RAFT, b"abc")
    assert parse_header(good[:HEADER_SIZE]) == (FrameKind.RAFT, 3)
    for bad in (b"XX" + good[2:], good[:2] + b"\x09" + good[3:], good[:3] + b"\x63" + good[4:]):
        with pytest.raises(CodecError):
            FrameDecoder().feed(bad)
    oversized = good[:4] + (MAX_FRAME_BYTES + 1).to_bytes(4, "big")
    with pytest.raises(CodecError):
        parse_header(oversized)
    with pytest.raises(CodecError):
        frame(FrameKind.RAFT, bytes(MAX_FRAME_BYTES + 1))


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_frame_decoder_on_garbage_raises_only_codec_error(data):
    try:
        FrameDecoder().feed(data)
    except CodecError:
        pass
