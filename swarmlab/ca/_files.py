"""A node's certificates on disk, laid out like Docker's `/var/lib/docker/swarm/certificates`.

    <state_dir>/certificates/swarm-root-ca.crt   the pinned root CA (PEM)
    <state_dir>/certificates/swarm-node.crt      this node's certificate + intermediates
    <state_dir>/certificates/swarm-node.key      this node's private key (0600; encrypted
                                                 with the KEK when the swarm is autolocked)

Files are replaced with `swarmlab.files.write_atomic` (write, fsync, rename), so a crash
during renewal leaves either the old or the new certificate, never half of one.
"""
from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ..files import write_atomic
from ._certs import (
    RootCA, cluster_of, create_csr, generate_key, key_pem, load_chain, load_key, node_id_of,
    role_of,
)

CERT_DIR = "certificates"
ROOT_CA_FILE = "swarm-root-ca.crt"
NODE_CERT_FILE = "swarm-node.crt"
NODE_KEY_FILE = "swarm-node.key"


def cert_paths(state_dir: str | os.PathLike[str]) -> tuple[pathlib.Path, pathlib.Path,
                                                            pathlib.Path]:
    """(root CA, node certificate, node key) paths under a node's state directory."""
    d = pathlib.Path(state_dir) / CERT_DIR
    return d / ROOT_CA_FILE, d / NODE_CERT_FILE, d / NODE_KEY_FILE


@dataclass(frozen=True)
class NodeCertificates:
    """What a node holds: the CA it pinned, its certificate chain and its key."""

    root_pem: bytes
    cert_chain_pem: bytes
    key_pem: bytes  # unencrypted PEM, in memory only

    @property
    def cert(self) -> x509.Certificate:
        return load_chain(self.cert_chain_pem)[0]

    @property
    def node_id(self) -> str:
        return node_id_of(self.cert)

    @property
    def role(self) -> str | None:
        return role_of(self.cert)

    @property
    def cluster_id(self) -> str:
        return cluster_of(self.cert)

    def root_ca(self) -> RootCA:
        return RootCA.trusting(self.root_pem, self.cluster_id)

    def key(self) -> ec.EllipticCurvePrivateKey:
        return load_key(self.key_pem)

    def save(self, state_dir: str | os.PathLike[str], kek: bytes | None = None) -> None:
        """Write the three files; with `kek` (autolock) the key file is encrypted."""
        root, cert, key = cert_paths(state_dir)
        write_atomic(key, key_pem(self.key(), kek) if kek else self.key_pem, 0o600)
        write_atomic(cert, self.cert_chain_pem)
        write_atomic(root, self.root_pem)

    @classmethod
    def load(cls, state_dir: str | os.PathLike[str], kek: bytes | None = None
             ) -> "NodeCertificates | None":
        """The saved certificates, or None if this node has none yet. A key encrypted
        with a KEK needs it (`TypeError`/`ValueError` from `cryptography` otherwise)."""
        root, cert, key = cert_paths(state_dir)
        if not (root.exists() and cert.exists() and key.exists()):
            return None
        k = load_key(key.read_bytes(), kek)
        return cls(root.read_bytes(), cert.read_bytes(), key_pem(k))


def new_key_and_csr() -> tuple[bytes, bytes]:
    """A fresh node key (PEM, kept by the node) and its CSR (PEM, sent to the CA)."""
    key = generate_key()
    return key_pem(key), create_csr(key)


def remove_certificates(state_dir: str | os.PathLike[str]) -> None:
    """`swarm leave`: the node forgets its identity."""
    for p in cert_paths(state_dir):
        p.unlink(missing_ok=True)
