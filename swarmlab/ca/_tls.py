"""Mutual TLS between nodes, and `dockerd --tlsverify` for the Engine API.

Theory of operation:
- Every node-to-node connection (Raft, dispatcher sessions, the mesh's control calls)
  is TLS 1.2+ with certificates required both ways and verified against the swarm's
  root CA: a certificate from another CA ("forged"), an expired one, or none at all
  fails the handshake itself.
- Who the peer is comes from its verified certificate: CN = node ID, OU = role
  (`peer_identity`). Authorization is by role (`require_manager`), with swarmkit's
  "Permission denied: remote certificate not part of OUs: [swarm-manager]".
- A client that dials a manager names it `swarm-manager` (the role is a DNS SAN of
  manager certificates only), so a worker cannot pose as a manager either.
- Joining is the one exception (as in swarmkit, `VerifyClientCertIfGiven`): a node
  with no certificate yet downloads the CA certificate over TLS it does not verify,
  checks it against its join token's digest, and pins it (`fetch_root_ca`).
- `ssl` loads certificate chains and keys only from files: they are written to a
  private temporary directory (0700) just for `load_cert_chain`, then removed.
"""
from __future__ import annotations

import os
import pathlib
import ssl
import tempfile
from typing import Any, NamedTuple, Union

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ._certs import (
    MANAGER_OU, ROLE_OUS, CertificateError, RootCA, cert_pem, cluster_of, key_pem, node_id_of,
    role_of,
)
from ._files import write_atomic
from ._tokens import check_ca_digest

PemLike = Union[bytes, str, os.PathLike, x509.Certificate, RootCA, ec.EllipticCurvePrivateKey]


class PermissionDenied(CertificateError):
    """An authenticated peer whose certificate does not allow this operation."""


class PeerIdentity(NamedTuple):
    node_id: str
    role: str | None  # "manager", "worker", or None (a client certificate)


def role_hostname(role: str) -> str:
    """The name to dial a node of this role by (`server_hostname=`): its OU SAN."""
    return ROLE_OUS[role]


def _pem(x: PemLike) -> bytes:
    if isinstance(x, RootCA):
        return x.cert_pem()
    if isinstance(x, x509.Certificate):
        return cert_pem(x)
    if isinstance(x, ec.EllipticCurvePrivateKey):
        return key_pem(x)
    if isinstance(x, os.PathLike):
        return pathlib.Path(x).read_bytes()
    return x.encode() if isinstance(x, str) else x


def _base(purpose: int, ca: PemLike) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=_pem(ca).decode())
    return ctx


def _load_chain(ctx: ssl.SSLContext, chain: PemLike, key: PemLike,
                password: bytes | None) -> None:
    with tempfile.TemporaryDirectory(prefix="swarmlab-tls-") as d:
        cert_file, key_file = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        for path, data in ((cert_file, _pem(chain)), (key_file, _pem(key))):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(cert_file, key_file, password=password)


def server_context(node_cert: PemLike, key: PemLike, ca: PemLike, *,
                   password: bytes | None = None,
                   require_client_cert: bool = True) -> ssl.SSLContext:
    """A listening node: presents its certificate (chain) and requires the peer's, signed
    by `ca`. `require_client_cert=False` is for the port that also serves joins: a peer
    without a certificate then gets through the handshake with no identity."""
    ctx = _base(ssl.PROTOCOL_TLS_SERVER, ca)
    if not require_client_cert:
        ctx.verify_mode = ssl.CERT_OPTIONAL
    _load_chain(ctx, node_cert, key, password)
    return ctx


def client_context(node_cert: PemLike, key: PemLike, ca: PemLike, *,
                   password: bytes | None = None,
                   check_hostname: bool = True) -> ssl.SSLContext:
    """A dialing node: presents its certificate and verifies the server's. With
    `check_hostname` the caller dials with `server_hostname=role_hostname("manager")`
    (or the peer's node ID or IP address, all SANs of node certificates)."""
    ctx = _base(ssl.PROTOCOL_TLS_CLIENT, ca)
    ctx.check_hostname = check_hostname
    _load_chain(ctx, node_cert, key, password)
    return ctx


def api_server_context(server_cert: PemLike, key: PemLike, ca: PemLike, *,
                       password: bytes | None = None) -> ssl.SSLContext:
    """The Engine API with `--tlsverify`: only clients with a certificate signed by the
    swarm CA get in. The node certificate serves (its IP SANs match the node address,
    which docker-py checks)."""
    return server_context(server_cert, key, ca, password=password)


def insecure_client_context() -> ssl.SSLContext:
    """Only to download the CA certificate before joining; the token's digest checks it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def fetch_root_ca(url: str, token: str, timeout_s: float = 10.0) -> bytes:
    """GET a manager's CA certificate (PEM) at `url` over unverified TLS, and accept it
    only if its digest is the token's. The caller pins what this returns."""
    from aiohttp import ClientSession, ClientTimeout
    async with ClientSession(timeout=ClientTimeout(total=timeout_s)) as http:
        async with http.get(url, ssl=insecure_client_context()) as r:
            if r.status != 200:
                raise CertificateError(f"could not get the root CA from {url}: HTTP {r.status}")
            pem = await r.read()
    check_ca_digest(pem, token)
    return pem


# -- who is on the other end --------------------------------------------------------------
def _ssl_object(source: Any) -> Any:
    if isinstance(source, (ssl.SSLObject, ssl.SSLSocket)):
        return source
    transport = getattr(source, "transport", source)  # aiohttp Request, transport.Conn
    get = getattr(transport, "get_extra_info", None)
    return get("ssl_object") if get else None


def peer_certificate(source: Any) -> x509.Certificate | None:
    """The peer's certificate if the TLS layer verified it, else None. `source` is an
    aiohttp request, an asyncio transport, an object with `.transport`, or an SSL object."""
    obj = _ssl_object(source)
    if obj is None or obj.context.verify_mode == ssl.CERT_NONE:
        return None  # not verified: a certificate here would prove nothing
    der = obj.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


def peer_identity(source: Any, organization: str | None = None) -> PeerIdentity | None:
    """(node ID, role) from the peer's verified certificate, or None without one. With
    `organization`, a certificate of another cluster is refused."""
    cert = peer_certificate(source)
    if cert is None:
        return None
    if organization is not None and cluster_of(cert) != organization:
        raise PermissionDenied(
            f"Permission denied: remote certificate not part of organization: {organization}")
    return PeerIdentity(node_id_of(cert), role_of(cert))


def require_role(identity: PeerIdentity | None, *roles: str) -> str:
    """The caller's node ID if its certificate has one of `roles`; refused otherwise."""
    if identity is None:
        raise PermissionDenied("Permission denied: no client certificates in request")
    if identity.role not in roles:
        ous = " ".join(ROLE_OUS[r] for r in roles)
        raise PermissionDenied(f"Permission denied: remote certificate not part of OUs: [{ous}]")
    return identity.node_id


def require_manager(identity: PeerIdentity | None) -> str:
    """For manager-only operations (Raft, the control API): a worker's certificate is
    refused with swarmkit's message."""
    return require_role(identity, "manager")


def write_docker_client_certs(directory: str | os.PathLike[str], root_ca: RootCA,
                              name: str = "client", addresses: tuple[str, ...] = ()
                              ) -> dict[str, pathlib.Path]:
    """`ca.pem`, `cert.pem`, `key.pem` for a docker-py or docker CLI client
    (`DOCKER_CERT_PATH` layout): `docker.tls.TLSConfig(client_cert=(cert, key),
    ca_cert=ca, verify=True)`. The certificate has no swarm role; with `addresses`
    it also serves (`dockerd --tlscert`, IP SANs for the client's hostname check)."""
    d = pathlib.Path(directory)
    chain, key = root_ca.issue_client(name, addresses=addresses)
    paths = {"ca": d / "ca.pem", "cert": d / "cert.pem", "key": d / "key.pem"}
    write_atomic(paths["ca"], root_ca.cert_pem())
    write_atomic(paths["cert"], chain)
    write_atomic(paths["key"], key, 0o600)
    return paths


__all__ = ["MANAGER_OU", "PeerIdentity", "PermissionDenied", "api_server_context",
           "client_context", "fetch_root_ca", "insecure_client_context", "peer_certificate",
           "peer_identity", "require_manager", "require_role", "role_hostname",
           "server_context", "write_docker_client_certs"]
