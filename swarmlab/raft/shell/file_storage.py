"""Raft storage on disk: an append-only, checksummed log plus a snapshot file.

Theory of operation:
- ``<dir>/log`` is a sequence of records ``[length u32][crc32 u32][msgpack]``.
  The first record names the log's base (the index and term just before its
  first entry); every later record is one `save()`: the entries it writes
  (replacing stored entries from the first one on, as the `Storage` protocol
  says) and the hard state (term, vote, commit). One `save()` is one record,
  one ``write`` and one ``fdatasync``, however many entries it carries.
- ``<dir>/snapshot`` holds the latest snapshot as a single record. It is
  replaced atomically (write a temp file, fsync it, rename, fsync the dir),
  and then the log is rewritten the same way without the entries the
  snapshot covers (log compaction).
- Recovery replays the log; the first torn or corrupt record ends it and the
  file is truncated there. A record is acknowledged only after its fsync, so
  every acknowledged write is in the surviving prefix. Then the snapshot is
  laid over the log exactly as `MemoryStorage` does it, so a crash between
  writing the snapshot and rewriting the log is harmless.
"""
from __future__ import annotations

import logging
import os
import struct
import zlib
from typing import Any

import msgpack

from ..core import InitialState
from ..messages import Entry, EntryType, HardState, Snapshot

log = logging.getLogger("swarmlab.raft.storage")

RECORD = struct.Struct(">II")  # payload length, crc32(payload)
_HEADER, _BATCH = 0, 1
_ETYPES = {int(t): t for t in EntryType}


class StorageCorrupt(RuntimeError):
    """A file that cannot be a torn tail is damaged (e.g. the snapshot file)."""


def encode_record(payload: Any) -> bytes:
    body = msgpack.packb(payload, use_bin_type=True)
    return RECORD.pack(len(body), zlib.crc32(body)) + body


def read_records(data: bytes) -> tuple[list[Any], int]:
    """Decode records up to the first torn or corrupt one; return them and the good length."""
    out, pos = [], 0
    while pos + RECORD.size <= len(data):
        length, crc = RECORD.unpack_from(data, pos)
        end = pos + RECORD.size + length
        body = data[pos + RECORD.size:end]
        if end > len(data) or zlib.crc32(body) != crc:
            break
        try:
            out.append(msgpack.unpackb(body, raw=False))
        except Exception:
            break
        pos = end
    return out, pos


class FileStorage:
    def __init__(self, directory: str | os.PathLike[str], sync: bool = True) -> None:
        """`sync=False` skips fsync (tests of logic only; never for real durability)."""
        self.dir = os.fspath(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.sync = sync
        self.log_path = os.path.join(self.dir, "log")
        self.snap_path = os.path.join(self.dir, "snapshot")
        self.hard_state = HardState()
        self.snapshot = Snapshot()
        self.entries: list[Entry] = []  # after self.snapshot.index, as MemoryStorage
        self.written = False
        self.bytes_written = 0
        self._fd: int | None = None
        self._recover()

    # -- the Storage protocol ---------------------------------------------------------
    def load(self) -> InitialState | None:
        if not self.written:
            return None
        return InitialState(self.hard_state, self.snapshot, list(self.entries))

    def save(self, hard_state: HardState | None, entries: list[Entry],
             snapshot: Snapshot | None) -> None:
        if snapshot is not None or not self.written:
            # A snapshot changes the log's base: write it, then rewrite the log.
            if snapshot is not None:
                self._write_snapshot(snapshot)
            self._remember(hard_state, entries)
            self._rewrite_log()
            return
        if not entries and hard_state is None:
            return
        first = entries[0].index if entries else 0
        hs = None if hard_state is None else [hard_state.term, hard_state.vote, hard_state.commit]
        rec = encode_record([_BATCH, hs, first, [e.term for e in entries],
                             [e.data for e in entries], [int(e.type) for e in entries]])
        self._append(rec)
        self._remember(hard_state, entries)

    def compact(self, snapshot: Snapshot) -> None:
        if self.written and snapshot.index < self.snapshot.index:
            return
        self._write_snapshot(snapshot)
        self._remember(None, [])
        self._rewrite_log()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- the in-memory mirror (same rules as MemoryStorage) --------------------------
    def _remember(self, hard_state: HardState | None, entries: list[Entry]) -> None:
        self.written = True
        if entries:
            _splice(self.entries, self.snapshot.index, entries)
        if hard_state is not None:
            self.hard_state = hard_state

    def _install(self, snap: Snapshot) -> None:
        if snap.index < self.snapshot.index:
            return
        self.entries = _after_snapshot(self.entries, self.snapshot.index, snap)
        self.snapshot = snap

    # -- files ------------------------------------------------------------------------
    def _write_snapshot(self, snap: Snapshot) -> None:
        rec = encode_record([snap.index, snap.term, list(snap.voters), snap.data])
        self._replace(self.snap_path, rec)
        self._install(snap)

    def _rewrite_log(self) -> None:
        """Compaction: a fresh log holding what the snapshot does not cover."""
        hs = self.hard_state
        base = self.snapshot
        data = encode_record([_HEADER, base.index, base.term])
        ents = self.entries
        data += encode_record([_BATCH, [hs.term, hs.vote, hs.commit], base.index + 1 if ents else 0,
                               [e.term for e in ents], [e.data for e in ents],
                               [int(e.type) for e in ents]])
        self.close()
        self._replace(self.log_path, data)
        self._fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND)

    def _append(self, rec: bytes) -> None:
        assert self._fd is not None
        os.write(self._fd, rec)
        if self.sync:
            os.fdatasync(self._fd)
        self.bytes_written += len(rec)

    def _replace(self, path: str, data: bytes) -> None:
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            if self.sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        self._sync_dir()
        self.bytes_written += len(data)

    def _sync_dir(self) -> None:
        if not self.sync:
            return
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- recovery ---------------------------------------------------------------------
    def _recover(self) -> None:
        snap = self._read_snapshot()
        if not os.path.exists(self.log_path):
            if snap is not None:  # crashed between the snapshot and the first log
                self.snapshot, self.written = snap, True
                self._rewrite_log()
            return
        with open(self.log_path, "rb") as f:
            data = f.read()
        records, good = read_records(data)
        if good < len(data):
            log.warning("raft log %s: dropping %d bytes of torn or corrupt tail at offset %d",
                        self.log_path, len(data) - good, good)
            with open(self.log_path, "r+b") as f:
                f.truncate(good)
                if self.sync:
                    os.fsync(f.fileno())
        self._replay(records)
        if snap is not None:
            self._install(snap)
        self.written = True
        self._fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND)

    def _replay(self, records: list[Any]) -> None:
        if not records or records[0][0] != _HEADER:
            raise StorageCorrupt(f"{self.log_path}: no header record")
        _, base, base_term = records[0]
        self.snapshot = Snapshot(base, base_term)
        for rec in records[1:]:
            _, hs, first, terms, datas, types = rec
            if terms:
                ents = [Entry(t, first + i, d, _ETYPES[ty])
                        for i, (t, d, ty) in enumerate(zip(terms, datas, types))]
                _splice(self.entries, base, ents)
            if hs is not None:
                self.hard_state = HardState(*hs)

    def _read_snapshot(self) -> Snapshot | None:
        if not os.path.exists(self.snap_path):
            return None
        with open(self.snap_path, "rb") as f:
            data = f.read()
        records, good = read_records(data)
        if len(records) != 1 or good != len(data):
            raise StorageCorrupt(f"{self.snap_path} is damaged")
        index, term, voters, blob = records[0]
        return Snapshot(index, term, tuple(voters), blob)


def _splice(stored: list[Entry], base: int, entries: list[Entry]) -> None:
    """Replace stored entries (which follow `base`) from entries[0].index on."""
    keep = entries[0].index - base - 1
    if keep < 0:
        entries = entries[-keep:]
        keep = 0
    if keep > len(stored):
        raise StorageCorrupt(f"gap in the log: entry {entries[0].index} after {base + len(stored)}")
    del stored[keep:]
    stored.extend(entries)


def _after_snapshot(entries: list[Entry], base: int, snap: Snapshot) -> list[Entry]:
    """Entries kept once `snap` covers the log up to its index (MemoryStorage's rule)."""
    drop = snap.index - base
    if 0 < drop <= len(entries) and entries[drop - 1].term == snap.term:
        return entries[drop:]
    if drop:
        return []
    return entries
