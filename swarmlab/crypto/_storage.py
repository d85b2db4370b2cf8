"""Encryption at rest for Raft: any `Storage` whose payloads reach it already encrypted.

Theory of operation (as swarmkit's `manager/state/raft/storage`): entry data and
snapshot data are sealed with AES-256-GCM under the DEK before the inner storage (a
`FileStorage`) sees them; Raft's own metadata (index, term, vote, commit, voters)
stays clear. Each sealed blob is

    version (1 byte) | DEK id (4 bytes) | nonce (12 bytes) | ciphertext + tag

and the blob's index and term are its associated data, so a blob moved to another
place in the log fails to decrypt instead of replaying the wrong command. `rekey()`
re-encrypts the whole retained state (snapshot and entries) under a new DEK through the
Storage protocol itself (a save that carries the current snapshot rewrites the log).
Like every Storage call, `rekey()` must run on the Raft shell's storage thread.
"""
from __future__ import annotations

import os
import struct
from dataclasses import replace
from typing import Protocol, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..raft.core import InitialState
from ..raft.messages import Entry, HardState, Snapshot
from ..raft.storage import Storage
from ._keys import DataKey

_HEADER = struct.Struct(">BI")  # version, DEK id
_VERSION = 1
_NONCE = 12
_AAD = struct.Struct(">QQ")     # index, term


class KeyManagerLike(Protocol):
    """The part of `KeyManager` the storage helpers use."""

    def dek(self) -> DataKey: ...
    def pending_dek(self) -> DataKey | None: ...
    def decrypt_keys(self) -> list[DataKey]: ...
    def rotate_dek(self) -> DataKey: ...
    def finish_dek_rotation(self) -> None: ...


class DecryptionError(RuntimeError):
    """Data on disk that no known DEK opens: the wrong keys, or damaged data."""


class EncryptedStorage:
    """Wraps a Storage: `dek` encrypts; `dek` and `old_keys` decrypt."""

    def __init__(self, inner: Storage, dek: DataKey, old_keys: Sequence[DataKey] = ()) -> None:
        self.inner = inner
        self.dek = dek
        self.keys = {k.id: AESGCM(k.key) for k in (*old_keys, dek)}

    # -- the Storage protocol ---------------------------------------------------------------
    def load(self) -> InitialState | None:
        state = self.inner.load()
        if state is None:
            return None
        return InitialState(state.hard_state, self._open_snapshot(state.snapshot),
                            [self._open_entry(e) for e in state.entries])

    def save(self, hard_state: HardState | None, entries: list[Entry],
             snapshot: Snapshot | None) -> None:
        self.inner.save(hard_state, [self._seal_entry(e) for e in entries],
                        None if snapshot is None else self._seal_snapshot(snapshot))

    def compact(self, snapshot: Snapshot) -> None:
        self.inner.compact(self._seal_snapshot(snapshot))

    def close(self) -> None:
        self.inner.close()

    @property
    def sync(self) -> bool:
        """As the inner storage's (the Raft shell skips its disk thread when False)."""
        return bool(getattr(self.inner, "sync", True))

    @property
    def bytes_written(self) -> int:
        return int(getattr(self.inner, "bytes_written", 0))

    # -- DEK rotation -----------------------------------------------------------------------
    def rekey(self, new: DataKey) -> None:
        """Re-encrypt everything stored under `new`; afterwards only `new` is needed."""
        state = self.load()
        self.keys[new.id] = AESGCM(new.key)
        self.dek = new
        if state is not None:
            self.save(state.hard_state, state.entries, state.snapshot)
        self.keys = {new.id: self.keys[new.id]}

    # -- sealing ---------------------------------------------------------------------------------
    def _seal(self, data: bytes, index: int, term: int) -> bytes:
        nonce = os.urandom(_NONCE)
        aead = self.keys[self.dek.id]
        return (_HEADER.pack(_VERSION, self.dek.id) + nonce
                + aead.encrypt(nonce, data, _AAD.pack(index, term)))

    def _open(self, blob: bytes, index: int, term: int, what: str) -> bytes:
        if len(blob) < _HEADER.size + _NONCE + 16:
            raise DecryptionError(f"{what}: not encrypted data")
        version, key_id = _HEADER.unpack_from(blob)
        aead = self.keys.get(key_id)
        if version != _VERSION or aead is None:
            raise DecryptionError(f"{what}: encrypted with an unknown key (id {key_id})")
        nonce = blob[_HEADER.size:_HEADER.size + _NONCE]
        try:
            return aead.decrypt(nonce, blob[_HEADER.size + _NONCE:], _AAD.pack(index, term))
        except InvalidTag:
            raise DecryptionError(f"{what}: cannot be decrypted (wrong key or damaged data)"
                                  ) from None

    def _seal_entry(self, e: Entry) -> Entry:
        return replace(e, data=self._seal(e.data, e.index, e.term))

    def _open_entry(self, e: Entry) -> Entry:
        return replace(e, data=self._open(e.data, e.index, e.term, f"raft entry {e.index}"))

    def _seal_snapshot(self, s: Snapshot) -> Snapshot:
        return replace(s, data=self._seal(s.data, s.index, s.term))

    def _open_snapshot(self, s: Snapshot) -> Snapshot:
        if s.index == 0 and not s.data:
            return s  # no snapshot was ever stored
        return replace(s, data=self._open(s.data, s.index, s.term, f"raft snapshot {s.index}"))


def open_encrypted(inner: Storage, keys: KeyManagerLike) -> EncryptedStorage:
    """The storage a manager runs Raft on: finishes a DEK rotation a crash interrupted.
    Raises `SwarmLocked` while the key manager is locked (autolock after a restart)."""
    pending = keys.pending_dek()
    storage = EncryptedStorage(inner, keys.dek(), keys.decrypt_keys())
    if pending is not None:
        storage.rekey(pending)
        keys.finish_dek_rotation()
    return storage


def rotate_dek(storage: EncryptedStorage, keys: KeyManagerLike) -> DataKey:
    """A new DEK for data already on disk: pending, re-encrypt, then finish."""
    new = keys.rotate_dek()
    storage.rekey(new)
    keys.finish_dek_rotation()
    return new
