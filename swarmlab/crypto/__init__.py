"""Encryption at rest for the Raft log and snapshots, and autolock (swarmkit's
`manager/encryption` and `manager/deks.go`). See docs/security.md."""
from ._keys import (
    INVALID_KEY_STRING, INVALID_UNLOCK_KEY, NO_UNLOCK_KEY, NOT_LOCKED, SWARM_LOCKED,
    UNLOCK_KEY_PREFIX, DataKey, InvalidUnlockKey, KeyManager, KeyManagerError,
    MalformedUnlockKey, NotLocked, SwarmLocked, kek_from_unlock_key, new_unlock_key,
    parse_unlock_key,
)
from ._storage import DecryptionError, EncryptedStorage, open_encrypted, rotate_dek

__all__ = [
    "INVALID_KEY_STRING", "INVALID_UNLOCK_KEY", "NOT_LOCKED", "NO_UNLOCK_KEY", "SWARM_LOCKED",
    "UNLOCK_KEY_PREFIX", "DataKey", "DecryptionError", "EncryptedStorage", "InvalidUnlockKey",
    "KeyManager", "KeyManagerError", "MalformedUnlockKey", "NotLocked", "SwarmLocked",
    "kek_from_unlock_key", "new_unlock_key", "open_encrypted", "parse_unlock_key", "rotate_dek",
]
