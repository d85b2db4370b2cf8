"""Join tokens: `SWMTKN-1-<CA digest>-<secret>`, in Docker's exact shape.

The digest is the SHA-256 of the root CA certificate (PEM) written in base 36 and
left-padded with zeros to 50 characters; the secret is 16 random bytes in base 36,
padded to 25 characters (swarmkit's `GenerateJoinToken`). Workers and managers get
different secrets but the same digest. A joining node first downloads the CA
certificate without verifying the TLS connection, checks it against the token's
digest ("remote CA does not match fingerprint" otherwise), and from then on trusts
only that CA: the token is what makes the first, unverified step safe.
"""
from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from dataclasses import dataclass, replace

from ._certs import CertificateError

PREFIX = "SWMTKN"
VERSION = "1"
DIGEST_LEN = 50        # base36DigestLen
SECRET_LEN = 25        # maxGeneratedSecretLength
SECRET_BYTES = 16      # generatedSecretEntropyBytes
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

INVALID_JOIN_TOKEN = "invalid join token"
#: what the CA server answers to a token that is not (or no longer) one of the swarm's
INVALID_TOKEN = "A valid join token is necessary to join this cluster"


class InvalidToken(CertificateError):
    """A malformed, wrong or rotated-out join token."""


def _base36(n: int, width: int) -> str:
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out)).rjust(width, "0")


def generate_join_token(digest_hex: str, rng: random.Random | None = None) -> str:
    """A new token for the CA whose digest (hex SHA-256) is given. `rng` only for
    deterministic simulations; by default the secret comes from `secrets`."""
    bits = rng.getrandbits(8 * SECRET_BYTES) if rng else secrets.randbits(8 * SECRET_BYTES)
    return (f"{PREFIX}-{VERSION}-{_base36(int(digest_hex, 16), DIGEST_LEN)}-"
            f"{_base36(bits, SECRET_LEN)}")


def parse_token(token: str) -> tuple[str, str]:
    """(the CA digest in hex, the secret) of a well-formed token; `InvalidToken` else."""
    parts = token.strip().split("-")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise InvalidToken(INVALID_JOIN_TOKEN)
    if parts[1] != VERSION:
        raise InvalidToken("unrecognized join token version")
    digest36, secret = parts[2], parts[3]
    if len(digest36) != DIGEST_LEN or len(secret) != SECRET_LEN:
        raise InvalidToken(INVALID_JOIN_TOKEN)
    if not all(c in _ALPHABET for c in digest36 + secret):
        raise InvalidToken(INVALID_JOIN_TOKEN)
    value = int(digest36, 36)
    if value >> 256:
        raise InvalidToken(INVALID_JOIN_TOKEN)
    return f"{value:064x}", secret


def check_ca_digest(ca_pem: bytes, token: str) -> None:
    """The joining node's check of a CA certificate it downloaded unverified."""
    want, _ = parse_token(token)
    if not hmac.compare_digest(hashlib.sha256(ca_pem).hexdigest(), want):
        raise InvalidToken(f"remote CA does not match fingerprint. Expected: {want}")


def token_matches_ca(token: str, ca_pem: bytes) -> bool:
    try:
        check_ca_digest(ca_pem, token)
    except InvalidToken:
        return False
    return True


@dataclass(frozen=True)
class JoinTokens:
    """The swarm's two tokens (`docker swarm join-token worker|manager`)."""

    worker: str
    manager: str

    @classmethod
    def create(cls, digest_hex: str, rng: random.Random | None = None) -> "JoinTokens":
        return cls(generate_join_token(digest_hex, rng), generate_join_token(digest_hex, rng))

    def rotate(self, role: str, rng: random.Random | None = None) -> "JoinTokens":
        """`join-token --rotate ROLE`: a new secret; the old token stops working."""
        digest, _ = parse_token(self.worker)
        if role == "worker":
            return replace(self, worker=generate_join_token(digest, rng))
        if role == "manager":
            return replace(self, manager=generate_join_token(digest, rng))
        raise ValueError(f"unknown role {role!r}")

    def for_ca(self, digest_hex: str, rng: random.Random | None = None) -> "JoinTokens":
        """After a CA rotation finishes the digest changes, so both tokens do (as Docker)."""
        return JoinTokens.create(digest_hex, rng)

    def role_for(self, token: str) -> str:
        """Which role a token joins as; Docker's refusal for anything else."""
        token = token.strip()
        if token and hmac.compare_digest(token.encode(), self.manager.encode()):
            return "manager"
        if token and hmac.compare_digest(token.encode(), self.worker.encode()):
            return "worker"
        raise InvalidToken(INVALID_TOKEN)
