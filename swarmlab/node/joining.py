"""The node's side of joining a swarm and of renewing its certificate.

Theory of operation (swarmkit's `node.go` and `ca/certificates.go`): a joining node first
fetches the swarm's CA over TLS it does not verify yet and checks it against the digest
in the join token (the wrong swarm is refused here), then sends its join request with a
CSR over TLS that trusts only that CA; the answer carries its node ID, role, certificate
and, for a manager, the CA and the swarm's keys. A manager may be restarting its listener
(a new certificate or roots), so each remote is tried a few times. A renewal is a CSR sent
to the leader over mutual TLS with the current certificate.
"""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import ClientSession, ClientTimeout

from ..ca import CertificateError, NodeCertificates, RootCA, fetch_root_ca
from ..crypto import KeyManager
from ..engine.errors import APIError
from ..engine.gateway import internal_url_of
from .security import NodeSecurity

ATTEMPTS = 3  # rounds over the remotes given to `swarm join`


@dataclass(frozen=True)
class JoinAnswer:
    doc: dict  # NodeID, Role, Certificate, Managers, RaftPeers (and CA, keys: managers)
    ca_pem: bytes  # the root CA the token pinned
    key_pem: bytes  # the private key of the CSR sent


def raft_peers(doc: dict) -> dict[int, tuple[str, int]]:
    """A join or heartbeat answer's `RaftPeers` ({"raft id": "host:port"})."""
    return {int(k): (v.rpartition(":")[0], int(v.rpartition(":")[2]))
            for k, v in (doc.get("RaftPeers") or {}).items()}


async def request_join(remotes: list[str], token: str, security: NodeSecurity,
                       body: dict[str, Any]) -> JoinAnswer:
    """Join through the first remote manager that answers; `body` is the request without
    the token and the CSR."""
    last: BaseException | None = None
    silent: set[str] = set()  # remotes that timed out are not tried again
    for remote in [r for _ in range(ATTEMPTS) for r in remotes]:
        if remote in silent:
            continue
        base = internal_url_of(remote if ":" in remote else f"{remote}:2377")
        try:
            return await _join_via(base, token, security, body)
        except (OSError, asyncio.TimeoutError) as e:
            last = e
            if isinstance(e, asyncio.TimeoutError):
                silent.add(remote)
            await asyncio.sleep(0.3)  # its listener may be restarting: try again shortly
    raise APIError(500, f"could not connect to any manager at {remotes}: {last}")


async def _join_via(base: str, token: str, security: NodeSecurity,
                    body: dict[str, Any]) -> JoinAnswer:
    try:
        ca_pem = await fetch_root_ca(base + "/swarmlab/ca", token)
    except CertificateError as e:  # a malformed token, or another swarm's CA
        raise APIError(400, str(e)) from None
    pinned = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    pinned.load_verify_locations(cadata=ca_pem.decode())
    key_pem, csr = security.new_csr()
    async with ClientSession(timeout=ClientTimeout(total=15)) as http:
        async with http.post(base + "/swarmlab/join", ssl=pinned, server_hostname="swarm-manager",
                             json={"JoinToken": token, **body, "CSR": csr.decode()}) as r:
            doc = await r.json(content_type=None)
            if r.status >= 400:
                raise APIError(r.status, doc.get("message", "join refused"))
    return JoinAnswer(doc, ca_pem, key_pem)


async def renew_certificate(security: NodeSecurity, keys: KeyManager | None, node_id: str,
                            manager_url: Callable[[ClientSession], Awaitable[str | None]],
                            tls: dict[str, Any]) -> str:
    """A new certificate from the leader (`manager_url` finds its internal API), over
    mutual TLS with the current one; a manager's answer carries the CA too. Returns the
    role the certificate is for."""
    key_pem, csr = security.new_csr()
    async with ClientSession(timeout=ClientTimeout(total=10)) as http:
        url = await manager_url(http)
        if url is None:
            raise APIError(503, "no manager reachable to renew the certificate")
        async with http.post(url + "/swarmlab/ca/renew", **tls,
                             json={"NodeID": node_id, "CSR": csr.decode()}) as r:
            doc = await r.json(content_type=None)
            if r.status != 200:
                raise APIError(r.status, doc.get("message", "certificate renewal refused"))
    security.set_certs(NodeCertificates(
        security.root_pem(), doc["Certificate"].encode(), key_pem), keys)
    if doc.get("CA") and keys is not None:
        security.set_ca(RootCA.from_json(doc["CA"]), keys)
    return str(doc.get("Role"))


__all__ = ["JoinAnswer", "raft_peers", "renew_certificate", "request_join"]
