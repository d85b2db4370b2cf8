"""Encryption at rest: EncryptedStorage over FileStorage, the key manager, autolock, DEK rotation."""
import base64
import json
import os
import random
import re
import stat

import pytest
from hypothesis import given, settings, strategies

from swarmlab.crypto import (
    INVALID_KEY_STRING, INVALID_UNLOCK_KEY, NO_UNLOCK_KEY, NOT_LOCKED, SWARM_LOCKED, DataKey,
    DecryptionError, EncryptedStorage, InvalidUnlockKey, KeyManager, MalformedUnlockKey,
    NotLocked, SwarmLocked, new_unlock_key, open_encrypted, parse_unlock_key, rotate_dek,
)
from swarmlab.raft.shell.file_storage import FileStorage
from swarmlab.raft.messages import Entry, EntryType, HardState, Snapshot
from swarmlab.raft.storage import MemoryStorage

SECRET = b"password=correct-horse-battery-staple"
SNAP_SECRET = b"snapshot-of-secret-store:hunter2-hunter2"
UNLOCK_RE = re.compile(r"^SWMKEY-1-[A-Za-z0-9+/]{43}$")


def forms(payload: bytes) -> list[bytes]:
    """The payload and the encodings a careless implementation would leave on disk."""
    b64 = base64.b64encode(payload)
    return [payload, b64, b64.rstrip(b"="), base64.urlsafe_b64encode(payload).rstrip(b"="),
            payload.hex().encode()]


def assert_nowhere(directory, *payloads):
    for root, _, files in os.walk(directory):
        for name in files:
            data = open(os.path.join(root, name), "rb").read()
            for p in payloads:
                for f in forms(p):
                    assert f not in data, f"{f!r} found in {os.path.join(root, name)}"


def fill(storage):
    storage.save(HardState(1, 1, 0), [], Snapshot(0, 0, (1,)))
    storage.save(HardState(2, 1, 3), [Entry(1, 1, b"noop"), Entry(2, 2, SECRET),
                                      Entry(2, 3, b"cc", EntryType.CONF_CHANGE)], None)


def test_round_trip_through_file_storage_and_nothing_readable_on_disk(tmp_path):
    dek = DataKey.generate()
    st = EncryptedStorage(FileStorage(tmp_path / "raft", sync=False), dek)
    fill(st)
    st.compact(Snapshot(2, 2, (1, 2), SNAP_SECRET))
    st.save(None, [Entry(2, 4, SECRET + b"-again")], None)
    st.close()
    assert_nowhere(tmp_path, SECRET, SNAP_SECRET)
    back = EncryptedStorage(FileStorage(tmp_path / "raft", sync=False), dek).load()
    assert back.hard_state == HardState(2, 1, 3)
    assert back.snapshot == Snapshot(2, 2, (1, 2), SNAP_SECRET)
    assert [(e.index, e.term, e.data, e.type) for e in back.entries] == [
        (3, 2, b"cc", EntryType.CONF_CHANGE), (4, 2, SECRET + b"-again", EntryType.NORMAL)]
    # the metadata stays clear, the payload does not
    raw = FileStorage(tmp_path / "raft", sync=False).load()
    assert [e.index for e in raw.entries] == [3, 4] and raw.snapshot.index == 2
    assert all(SECRET not in e.data for e in raw.entries)


def test_behaves_like_the_storage_it_wraps():
    plain, enc = MemoryStorage(), EncryptedStorage(MemoryStorage(), DataKey.generate())
    for s in (plain, enc):
        fill(s)
        s.save(None, [Entry(3, 3, b"replaces 3"), Entry(3, 4, b"four")], None)
        s.compact(Snapshot(3, 3, (1,), b"snap"))
    assert enc.load() == plain.load()
    assert enc.inner.load() != plain.load()


def test_wrong_dek_and_moved_blobs_refused(tmp_path):
    st = EncryptedStorage(FileStorage(tmp_path, sync=False), DataKey.generate())
    fill(st)
    st.close()
    with pytest.raises(DecryptionError, match="unknown key"):
        EncryptedStorage(FileStorage(tmp_path, sync=False), DataKey.generate(5)).load()
    same_id = DataKey(st.dek.id, os.urandom(32))
    with pytest.raises(DecryptionError, match="cannot be decrypted"):
        EncryptedStorage(FileStorage(tmp_path, sync=False), same_id).load()
    # an entry's ciphertext replayed at another index does not decrypt
    inner = MemoryStorage()
    enc = EncryptedStorage(inner, st.dek)
    fill(enc)
    e2 = inner.entries[1]
    inner.entries[2] = Entry(e2.term, 3, e2.data)
    with pytest.raises(DecryptionError, match="raft entry 3"):
        enc.load()


def test_unlock_key_format_is_dockers():
    key = new_unlock_key()
    assert UNLOCK_RE.match(key), key
    assert len(parse_unlock_key(key)) == 32
    for bad in ("", "SWMKEY-2-abc", "SWMKEY-1-***", key + "=", "swmkey-1-" + key[9:]):
        with pytest.raises(MalformedUnlockKey, match=INVALID_KEY_STRING):
            parse_unlock_key(bad)


def test_without_autolock_a_restart_needs_nothing(tmp_path):
    km = KeyManager(tmp_path)
    assert km.create(autolock=False) is None
    assert (tmp_path / "keys" / "kek").exists()  # next to the data, as Docker does
    st = open_encrypted(FileStorage(tmp_path / "raft", sync=False), km)
    fill(st)
    st.close()
    again = KeyManager(tmp_path)
    assert not again.locked
    assert open_encrypted(FileStorage(tmp_path / "raft", sync=False), again).load().entries[1].data \
        == SECRET
    with pytest.raises(NotLocked, match=NOT_LOCKED):
        again.unlock(new_unlock_key())
    with pytest.raises(NotLocked, match=NO_UNLOCK_KEY):
        again.unlock_key()
    for name in os.listdir(tmp_path / "keys"):
        assert stat.S_IMODE(os.stat(tmp_path / "keys" / name).st_mode) == 0o600


def test_autolock_locked_until_the_right_key(tmp_path):
    km = KeyManager(tmp_path)
    key = km.create(autolock=True)
    assert UNLOCK_RE.match(key) and km.unlock_key() == key
    assert not (tmp_path / "keys" / "kek").exists()
    st = open_encrypted(FileStorage(tmp_path / "raft", sync=False), km)
    fill(st)
    st.close()
    assert_nowhere(tmp_path, SECRET, parse_unlock_key(key), key.encode())

    restarted = KeyManager(tmp_path)
    assert restarted.locked
    with pytest.raises(SwarmLocked, match=re.escape(SWARM_LOCKED)):
        open_encrypted(FileStorage(tmp_path / "raft", sync=False), restarted)
    with pytest.raises(InvalidUnlockKey, match=INVALID_UNLOCK_KEY):
        restarted.unlock(new_unlock_key())
    with pytest.raises(MalformedUnlockKey, match=INVALID_KEY_STRING):
        restarted.unlock("SWMKEY-1-not base64!")
    assert restarted.locked
    restarted.unlock(key)
    assert not restarted.locked
    st = open_encrypted(FileStorage(tmp_path / "raft", sync=False), restarted)
    assert st.load().entries[1].data == SECRET
    with pytest.raises(NotLocked, match=NOT_LOCKED):
        restarted.unlock(key)
    restarted.lock()
    with pytest.raises(SwarmLocked):
        restarted.dek()


def test_rotate_unlock_key_and_toggle_autolock(tmp_path):
    km = KeyManager(tmp_path)
    km.create()
    st = open_encrypted(FileStorage(tmp_path / "raft", sync=False), km)
    fill(st)
    st.close()
    key1 = km.set_autolock(True)                  # `swarm update --autolock=true`
    assert UNLOCK_RE.match(key1) and not (tmp_path / "keys" / "kek").exists()
    key2 = km.rotate_unlock_key()                 # `swarm unlock-key --rotate`
    assert key2 != key1 and km.unlock_key() == key2
    restarted = KeyManager(tmp_path)
    with pytest.raises(InvalidUnlockKey):
        restarted.unlock(key1)                    # the old key no longer opens it
    restarted.unlock(key2)
    assert restarted.set_autolock(False) is None  # `swarm update --autolock=false`
    plain = KeyManager(tmp_path)
    assert not plain.locked
    assert open_encrypted(FileStorage(tmp_path / "raft", sync=False), plain).load() \
        .entries[1].data == SECRET


def test_dek_rotation_reencrypts_everything(tmp_path):
    km = KeyManager(tmp_path)
    km.create()
    st = open_encrypted(FileStorage(tmp_path / "raft", sync=False), km)
    fill(st)
    st.compact(Snapshot(1, 1, (1,), SNAP_SECRET))
    before = {n: (tmp_path / "raft" / n).read_bytes() for n in ("log", "snapshot")}
    old = km.dek()
    new = rotate_dek(st, km)
    assert new.id != old.id and km.dek() == new and km.pending_dek() is None
    st.save(None, [Entry(2, 4, b"after rotation")], None)
    st.close()
    for n, data in before.items():
        assert (tmp_path / "raft" / n).read_bytes() != data
    # only the new DEK is needed now; the old one opens nothing
    with pytest.raises(DecryptionError):
        EncryptedStorage(FileStorage(tmp_path / "raft", sync=False), old).load()
    back = EncryptedStorage(FileStorage(tmp_path / "raft", sync=False), new).load()
    assert back.snapshot.data == SNAP_SECRET
    assert [e.data for e in back.entries] == [SECRET, b"cc", b"after rotation"]
    assert_nowhere(tmp_path, SECRET, SNAP_SECRET)


def test_interrupted_dek_rotation_completes_on_restart(tmp_path):
    km = KeyManager(tmp_path)
    km.create()
    st = open_encrypted(FileStorage(tmp_path / "raft", sync=False), km)
    fill(st)
    pending = km.rotate_dek()          # phase 1 saved...
    st.rekey(pending)                  # ...data re-encrypted, then a crash before phase 2
    st.close()
    doc = json.loads((tmp_path / "keys" / "raft-dek.json").read_text())
    assert doc["PendingDEK"]["ID"] == pending.id
    restarted = KeyManager(tmp_path)
    st = open_encrypted(FileStorage(tmp_path / "raft", sync=False), restarted)
    assert restarted.dek() == pending and restarted.pending_dek() is None
    assert st.load().entries[1].data == SECRET


def test_managers_share_the_swarms_unlock_key(tmp_path):
    """Docker has one unlock key per swarm: a joining manager and a rotation adopt it."""
    swarm_key = new_unlock_key()
    a, b = KeyManager(tmp_path / "a"), KeyManager(tmp_path / "b")
    assert a.create(autolock=True, unlock_key=swarm_key) == swarm_key
    assert b.create(autolock=False) is None
    assert b.set_autolock(True, unlock_key=swarm_key) == swarm_key
    with pytest.raises(MalformedUnlockKey):
        a.rotate_unlock_key("SWMKEY-1-???")
    assert a.unlock_key() == swarm_key  # unchanged by the refused key
    rotated = a.rotate_unlock_key()
    assert b.rotate_unlock_key(rotated) == rotated
    for d in ("a", "b"):
        km = KeyManager(tmp_path / d)
        with pytest.raises(InvalidUnlockKey):
            km.unlock(swarm_key)
        km.unlock(rotated)
    c = KeyManager(tmp_path / "c")
    c.create()
    kek_file = (tmp_path / "c" / "keys" / "kek").read_bytes()
    assert c.rotate_kek() is None
    assert (tmp_path / "c" / "keys" / "kek").read_bytes() != kek_file
    assert not KeyManager(tmp_path / "c").locked


def test_the_disk_search_finds_a_plain_payload(tmp_path):
    """Control for `assert_nowhere`: without EncryptedStorage the payload is on disk."""
    st = FileStorage(tmp_path, sync=False)
    fill(st)
    st.close()
    with pytest.raises(AssertionError, match="found in"):
        assert_nowhere(tmp_path, SECRET)


@settings(max_examples=25, deadline=None)
@given(strategies.integers(0, 2**32 - 1))
def test_random_histories_match_memory_storage(tmp_path_factory, seed):
    """Saves that overwrite, compactions, DEK rotations and reopenings: the decrypted view
    is always what MemoryStorage holds, and the payloads are never on disk."""
    rng = random.Random(seed)
    d = tmp_path_factory.mktemp("h")
    km = KeyManager(d)
    km.create()
    model = MemoryStorage()
    enc = open_encrypted(FileStorage(d / "raft", sync=False), km)
    payloads = []
    for s in (model, enc):
        s.save(HardState(1, 1, 0), [], Snapshot(0, 0, (1,)))
    term = 1
    for step in range(30):
        op = rng.random()
        last = model.snapshot.index + len(model.entries)
        if op < 0.6:
            first = rng.randint(model.snapshot.index + 1, last + 1)
            term += rng.random() < 0.3
            ents = [Entry(term, first + i, b"payload-%d-%d-%d" % (seed, step, i))
                    for i in range(rng.randint(1, 4))]
            payloads += [e.data for e in ents]
            hs = HardState(term, 1, min(first, last))
            for s in (model, enc):
                s.save(hs, ents, None)
        elif op < 0.8 and last > model.snapshot.index:
            idx = rng.randint(model.snapshot.index + 1, last)
            t = model.entries[idx - model.snapshot.index - 1].term
            snap = Snapshot(idx, t, (1,), b"state-up-to-%d-%d" % (seed, idx))
            payloads.append(snap.data)
            for s in (model, enc):
                s.compact(snap)
        elif op < 0.9:
            rotate_dek(enc, km)
        else:
            enc.close()
            km = KeyManager(d)
            enc = open_encrypted(FileStorage(d / "raft", sync=False), km)
        assert enc.load() == model.load()
    enc.close()
    assert_nowhere(d, *payloads)
