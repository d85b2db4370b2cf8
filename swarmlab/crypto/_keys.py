"""A manager's keys for encryption at rest: the data key (DEK) and its wrapping key (KEK).

Theory of operation (as swarmkit's `manager/encryption` and `manager/deks.go`):
- The Raft log and snapshots are encrypted with a DEK (AES-256-GCM). The DEK is never
  stored in clear: it is wrapped (AES key wrap, RFC 3394) with a KEK.
- Without autolock the KEK sits on disk next to the data (`keys/kek`), so a restarted
  manager opens its log with nothing asked. This protects little by itself; it means
  the data on disk is always ciphertext, and locking later needs no data rewrite.
- With autolock the KEK is derived (HKDF-SHA256) from the unlock key
  `SWMKEY-1-<base64 of 32 random bytes>` that the operator keeps; it is never written
  anywhere, so a restarted manager is locked until `swarm unlock` gives the key. A
  wrong key fails to unwrap the DEK and is refused with Docker's message.
- DEK rotation is two-phase, so a crash in the middle loses nothing: `rotate_dek()`
  saves the new DEK as *pending* next to the current one, the storage re-encrypts
  everything with it, then `finish_dek_rotation()` drops the old one. On a restart
  with a pending DEK both keys decrypt and the re-encryption is done again.

Files (`<state_dir>/keys/`, mode 0600): `raft-dek.json` (wrapped DEKs, the autolock flag)
and, only without autolock, `kek`.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import pathlib
import secrets
import shutil
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from ..files import write_atomic

UNLOCK_KEY_PREFIX = "SWMKEY-1-"
KEY_BYTES = 32
KEYS_DIR = "keys"
DEK_FILE = "raft-dek.json"
KEK_FILE = "kek"

# Docker's texts (moby daemon/cluster/errors.go, swarmkit encryption.ParseHumanReadableKey)
SWARM_LOCKED = ("Swarm is encrypted and needs to be unlocked before it can be used. "
                "Please use \"docker swarm unlock\" to unlock it.")
INVALID_UNLOCK_KEY = "swarm could not be unlocked: invalid key provided"
INVALID_KEY_STRING = "invalid key string"
NOT_LOCKED = "swarm is not locked"
NO_UNLOCK_KEY = "no unlock key is set"


class KeyManagerError(Exception):
    """Why the key manager refuses (the message is Docker's)."""


class SwarmLocked(KeyManagerError):
    def __init__(self) -> None:
        super().__init__(SWARM_LOCKED)


class InvalidUnlockKey(KeyManagerError):
    """A well-formed unlock key that is not this swarm's (HTTP 401 in Docker)."""

    def __init__(self) -> None:
        super().__init__(INVALID_UNLOCK_KEY)


class MalformedUnlockKey(KeyManagerError):
    def __init__(self) -> None:
        super().__init__(INVALID_KEY_STRING)


class NotLocked(KeyManagerError):
    def __init__(self, message: str = NOT_LOCKED) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class DataKey:
    """One DEK; `id` goes in front of every ciphertext so the right key decrypts it."""

    id: int
    key: bytes = field(repr=False)

    @classmethod
    def generate(cls, previous_id: int = 0) -> "DataKey":
        return cls((previous_id + 1) & 0xFFFFFFFF or 1, secrets.token_bytes(KEY_BYTES))


def new_unlock_key() -> str:
    """Docker's human-readable key: prefix + unpadded standard base64 of 32 bytes."""
    return UNLOCK_KEY_PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip("=")


def parse_unlock_key(key: str) -> bytes:
    key = key.strip()
    if not key.startswith(UNLOCK_KEY_PREFIX):
        raise MalformedUnlockKey()
    body = key[len(UNLOCK_KEY_PREFIX):]
    if "=" in body:
        raise MalformedUnlockKey()  # raw (unpadded) encoding, as Docker's
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedUnlockKey() from None
    if not raw:
        raise MalformedUnlockKey()
    return raw


def kek_from_unlock_key(key: str) -> bytes:
    raw = parse_unlock_key(key)
    return HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=b"swarmlab raft kek").derive(raw)


class KeyManager:
    """A manager node's DEK and KEK under `<state_dir>/keys/`. A new object loads what is
    there: without autolock it is unlocked at once; with autolock it starts locked."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.dir = pathlib.Path(state_dir) / KEYS_DIR
        self.autolock = False
        self._kek: bytes | None = None
        self._unlock_key: str | None = None
        self._dek: DataKey | None = None
        self._pending: DataKey | None = None
        self._doc: dict | None = None
        if self.exists():
            self._doc = json.loads((self.dir / DEK_FILE).read_text())
            self.autolock = bool(self._doc["Autolock"])
            if not self.autolock:
                self._open((self.dir / KEK_FILE).read_bytes())

    # -- life cycle -------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.dir / DEK_FILE).exists()

    def create(self, autolock: bool = False, unlock_key: str | None = None) -> str | None:
        """A fresh DEK (at `swarm init` or when a manager joins); returns the unlock key
        when `autolock`. Managers of one swarm share one unlock key, as in Docker: a
        joining manager passes the swarm's."""
        self._dek, self._pending = DataKey.generate(), None
        unlock = self._new_kek(autolock, unlock_key)
        self._save()
        return unlock

    def destroy(self) -> None:
        """`swarm leave`: the keys go with the data."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self.autolock, self._doc = False, None
        self._kek = self._dek = self._pending = None
        self._unlock_key = None

    @property
    def locked(self) -> bool:
        return self.exists() and self._dek is None

    def lock(self) -> None:
        """Forget every key in memory: what a restart does to an autolocked manager."""
        if not self.autolock:
            raise NotLocked(NO_UNLOCK_KEY)
        self._kek = self._dek = self._pending = None
        self._unlock_key = None

    def unlock(self, key: str) -> None:
        """`swarm unlock`: derive the KEK from the key and unwrap the DEK with it."""
        if not self.locked:
            raise NotLocked()
        kek = kek_from_unlock_key(key)
        self._open(kek)
        self._unlock_key = key.strip()

    # -- keys for the storage ----------------------------------------------------------------
    def dek(self) -> DataKey:
        if self._dek is None:
            raise SwarmLocked()
        return self._dek

    def pending_dek(self) -> DataKey | None:
        self.dek()
        return self._pending

    def decrypt_keys(self) -> list[DataKey]:
        """Every DEK that may have encrypted data on disk (current, and pending)."""
        return [k for k in (self.dek(), self._pending) if k is not None]

    def kek(self) -> bytes:
        """The KEK, e.g. to encrypt the node's TLS key while autolocked."""
        self.dek()
        assert self._kek is not None
        return self._kek

    def rotate_dek(self) -> DataKey:
        """Phase 1: a new DEK saved as pending; re-encrypt with it, then finish."""
        cur = self.dek()
        self._pending = DataKey.generate(max(cur.id, self._pending.id if self._pending else 0))
        self._save()
        return self._pending

    def finish_dek_rotation(self) -> None:
        """Phase 2: the data is re-encrypted; the pending DEK becomes the only one."""
        self.dek()
        if self._pending is not None:
            self._dek, self._pending = self._pending, None
            self._save()

    # -- autolock -------------------------------------------------------------------------------
    def unlock_key(self) -> str:
        """`swarm unlock-key`: the current key (known since init, unlock or rotation)."""
        self.dek()
        if not self.autolock or self._unlock_key is None:
            raise NotLocked(NO_UNLOCK_KEY)
        return self._unlock_key

    def rotate_unlock_key(self, unlock_key: str | None = None) -> str:
        """`swarm unlock-key --rotate`: a new unlock key (or the swarm's new one, given)
        re-wraps the DEK; the old key no longer opens this node."""
        self.dek()
        if not self.autolock:
            raise NotLocked(NO_UNLOCK_KEY)
        key = self._new_kek(True, unlock_key)
        self._save()
        assert key is not None
        return key

    def set_autolock(self, enabled: bool, unlock_key: str | None = None) -> str | None:
        """`swarm update --autolock=true|false`; returns the unlock key when enabled."""
        self.dek()
        if enabled == self.autolock and (not enabled or unlock_key in (None,
                                                                       self._unlock_key)):
            return self._unlock_key if enabled else None
        key = self._new_kek(enabled, unlock_key)
        self._save()
        return key

    def rotate_kek(self) -> str | None:
        """A new KEK of the same kind (a new unlock key with autolock)."""
        self.dek()
        key = self._new_kek(self.autolock)
        self._save()
        return key

    # -- internals -----------------------------------------------------------------------------
    def _new_kek(self, autolock: bool, unlock_key: str | None = None) -> str | None:
        if not autolock:
            self.autolock, self._unlock_key = False, None
            self._kek = secrets.token_bytes(KEY_BYTES)
            return None
        key = (unlock_key or new_unlock_key()).strip()
        kek = kek_from_unlock_key(key)  # a malformed key is refused before anything changes
        self.autolock, self._unlock_key, self._kek = True, key, kek
        return key

    def _open(self, kek: bytes) -> None:
        doc = self._doc or json.loads((self.dir / DEK_FILE).read_text())
        try:
            dek = self._unwrap(kek, doc["DEK"])
            pending = self._unwrap(kek, doc["PendingDEK"]) if doc.get("PendingDEK") else None
        except InvalidUnwrap:
            raise InvalidUnlockKey() from None
        self._kek, self._dek, self._pending = kek, dek, pending

    @staticmethod
    def _unwrap(kek: bytes, entry: dict) -> DataKey:
        return DataKey(int(entry["ID"]), aes_key_unwrap(kek, base64.b64decode(entry["Wrapped"])))

    def _wrap(self, k: DataKey) -> dict:
        assert self._kek is not None
        return {"ID": k.id, "Wrapped": base64.b64encode(aes_key_wrap(self._kek, k.key)).decode()}

    def _save(self) -> None:
        """Without autolock the KEK is written before the DEKs it wraps; with autolock the
        stale KEK file goes after them. A crash in between leaves either side's state."""
        assert self._dek is not None
        doc = {"Version": 1, "Autolock": self.autolock, "DEK": self._wrap(self._dek),
               "PendingDEK": self._wrap(self._pending) if self._pending else None}
        if not self.autolock:
            write_atomic(self.dir / KEK_FILE, self._kek or b"", 0o600)
        write_atomic(self.dir / DEK_FILE, json.dumps(doc, indent=1).encode(), 0o600)
        if self.autolock:
            (self.dir / KEK_FILE).unlink(missing_ok=True)
        self._doc = doc
