"""Object IDs from an injected `random.Random`, never from global randomness.

The simulator replays a seed exactly, so the cores take a seeded `Random`; a real
process passes a system-random one.
"""
from __future__ import annotations

import random
import string

_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id(rng: random.Random) -> str:
    """A 25-character lowercase alphanumeric ID, the shape of Docker's object IDs."""
    return "".join(rng.choice(_ID_ALPHABET) for _ in range(25))
