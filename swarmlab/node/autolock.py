"""Autolock (`swarm init --autolock`, `swarm unlock`, `swarm unlock-key [--rotate]`).

Theory of operation: a manager's KEK protects what it keeps on disk (the Raft log's DEK,
its certificate key, the CA key). With autolock the KEK is derived from the unlock key,
so a restarted manager stays locked until `swarm unlock`; without it the KEK sits beside
the data. Every manager holds the same setting and key: a change is made on one manager,
told to the others (`/swarmlab/keys`), and adopted by each, which writes what the KEK
protects again under the new one. A manager joining or promoted later gets them in its
answer (`key_settings`).
"""
from __future__ import annotations

import pathlib
from typing import Awaitable, Callable

from ..crypto import (
    InvalidUnlockKey, KeyManager, KeyManagerError, MalformedUnlockKey, new_unlock_key,
)
from ..engine.errors import APIError
from .security import NodeSecurity


def unlock(swarm_dir: pathlib.Path, key: str) -> KeyManager:
    """A locked manager's keys, opened with the unlock key (Docker's refusals if wrong)."""
    keys = KeyManager(swarm_dir)
    try:
        keys.unlock(key)
    except (MalformedUnlockKey, InvalidUnlockKey) as e:
        raise APIError(400, str(e)) from None
    return keys


def new_keys(swarm_dir: pathlib.Path, autolock: bool,
             unlock_key: str | None = None) -> KeyManager:
    """A new manager's keys (`swarm init`, or the swarm's setting and key when it joins)."""
    keys = KeyManager(swarm_dir)
    keys.destroy()
    keys.create(autolock=autolock, unlock_key=unlock_key)
    return keys


def unlock_key(keys: KeyManager) -> dict:
    try:
        return {"UnlockKey": keys.unlock_key()}
    except KeyManagerError:
        return {"UnlockKey": ""}


def key_settings(keys: KeyManager) -> dict:
    """What a manager joining now needs to adopt: the swarm's autolock and key."""
    return {"Autolock": keys.autolock,
            "UnlockKey": keys.unlock_key() if keys.autolock else ""}


async def update(keys: KeyManager, security: NodeSecurity, encryption: dict, rotate: bool,
                 tell_managers: Callable[[dict], Awaitable[None]]) -> None:
    """`swarm update`'s `EncryptionConfig.AutoLockManagers` and `rotateManagerUnlockKey`."""
    if "AutoLockManagers" not in encryption and not rotate:
        return
    want = bool(encryption.get("AutoLockManagers", keys.autolock))
    if rotate and not want:
        raise APIError(400, "no unlock key is set")
    if want != keys.autolock or rotate:
        await set_keys(keys, security, want, rotate, tell_managers)


async def set_keys(keys: KeyManager, security: NodeSecurity, autolock: bool, rotate: bool,
                   tell_managers: Callable[[dict], Awaitable[None]]) -> None:
    """`swarm update --autolock` / `unlock-key --rotate`: the same key on every manager."""
    key = new_unlock_key() if autolock and (rotate or not keys.autolock) else (
        keys.unlock_key() if autolock else None)
    body = {"Autolock": autolock, "UnlockKey": key or ""}
    await tell_managers(body)
    adopt(keys, security, body)


def adopt(keys: KeyManager, security: NodeSecurity, body: dict) -> None:
    """Another manager's (or this one's) new setting and key, with what the KEK protects."""
    autolock, key = bool(body.get("Autolock")), body.get("UnlockKey") or None
    if autolock and keys.autolock and key and key != keys.unlock_key():
        keys.rotate_unlock_key(key)
    else:
        keys.set_autolock(autolock, key)
    # a new KEK: what it protects on disk is written again under it
    if security.certs is not None:
        security.set_certs(security.certs, keys)
    if security.ca is not None:
        security.set_ca(security.ca, keys)


__all__ = ["adopt", "key_settings", "new_keys", "set_keys", "unlock", "unlock_key", "update"]
