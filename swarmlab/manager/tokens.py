"""Join tokens: `SWMTKN-1-<digest>-<secret>`, one for workers and one for managers.

As Docker's: version 1, then the root CA's digest in base 36 (50 characters, the same in
both tokens, so a joining node can check it talks to the right swarm), then a random
secret in base 36 (25 characters), different per role and replaced by `--rotate`.
"""
from __future__ import annotations

import random

from ..objects import InvalidArgument, NodeRole

PREFIX = "SWMTKN"
VERSION = "1"
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
INVALID_TOKEN = "A valid join token is necessary to join this cluster"


def _base36(n: int, width: int) -> str:
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out)).rjust(width, "0")[-width:]


def new_digest(rng: random.Random) -> str:
    """Stands in for the root CA certificate's SHA-256, in base 36, where there is no CA
    (the in-process simulations); a node agent's swarm passes its CA's digest."""
    return _base36(rng.getrandbits(256), 50)


def for_ca(ca_digest_hex: str) -> tuple[str, str]:
    """(worker, manager) tokens for a root CA (its SHA-256 in hex), secrets from `secrets`."""
    from ..ca import JoinTokens as CATokens
    t = CATokens.create(ca_digest_hex)
    return t.worker, t.manager


def new_token(rng: random.Random, digest: str) -> str:
    """A token with a 128-bit secret. `rng` is the manager's, seeded only in simulations:
    a node agent's manager draws from `random.SystemRandom`."""
    return f"{PREFIX}-{VERSION}-{digest}-{_base36(rng.getrandbits(128), 25)}"


def digest_of(token: str) -> str:
    parts = token.split("-")
    if len(parts) != 4 or parts[0] != PREFIX or parts[1] != VERSION:
        raise InvalidArgument("invalid join token")
    return parts[2]


def role_for(token: str, worker_token: str, manager_token: str) -> NodeRole:
    """Which role a token joins as; Docker's refusal for anything else."""
    if token and token == manager_token:
        return NodeRole.MANAGER
    if token and token == worker_token:
        return NodeRole.WORKER
    raise InvalidArgument(INVALID_TOKEN)
