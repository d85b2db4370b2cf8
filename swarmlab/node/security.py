"""A node's security config (swarmkit's `ca.SecurityConfig`): its certificates, the CA
(managers only), and the TLS contexts built from them.

Theory of operation: every node in a swarm holds `NodeCertificates` (the pinned root,
its certificate, its key) under `swarm/certificates/`. Managers also hold the CA with
its signing key, in `swarm/certificates/swarm-root-ca.json` with the key encrypted by
the manager's KEK (so, like the Raft log, it is unreadable on an autolocked manager's
disk; swarmkit keeps it in the Raft cluster object, which swarmlab's `Cluster` has no
field for: new managers get it in their join or promotion answer, over TLS). TLS
contexts are rebuilt when the certificate changes (renewal, promotion, demotion).
"""
from __future__ import annotations

import datetime as dt
import json
import pathlib
import ssl
from typing import NamedTuple

from ..ca import (
    PermissionDenied, CERT_DIR, NodeCertificates, RootCA, cert_pem, issuer_info, issuer_of, key_pem, load_chain,
    load_key, needs_renewal, new_key_and_csr, remove_certificates, server_context,
    client_context,
)
from ..files import write_atomic

CA_FILE = "swarm-root-ca.json"

# swarmkit's messages: `ca.authorizeOrg` for a blacklisted certificate, the Raft
# membership's ErrIDRemoved
REMOVED = "Permission denied: node {} was removed from swarm"
RAFT_REMOVED = "membership: node was removed during cluster lifetime"
NOT_A_MANAGER = ("Permission denied: node {} is not a manager of this swarm any more "
                 "(its certificate predates its demotion)")


class Roster(NamedTuple):
    """Who the swarm's store says a certificate's node ID is, beyond the certificate: the
    nodes removed from the swarm (the cluster object's `BlacklistedCertificates`,
    replicated by Raft), the nodes whose role is manager, and the Raft members
    (`ManagerStatus`). A worker learns `removed` and `managers` from its heartbeat and
    has no `members` (None: unknown)."""
    removed: frozenset[str]
    managers: frozenset[str]
    members: frozenset[str] | None = None


def roster_of(view: object) -> Roster | None:
    """The roster of a store's view (None while the store has no nodes: a manager that
    has not caught up yet does not refuse on an empty store)."""
    nodes = list(view.nodes())  # type: ignore[attr-defined]
    if not nodes:
        return None
    cluster = view.cluster()  # type: ignore[attr-defined]
    removed = frozenset(cluster.blacklisted_certificates) if cluster is not None else frozenset()
    return Roster(removed, frozenset(n.id for n in nodes if n.spec.role.value == "manager"),
                  frozenset(n.id for n in nodes if n.manager_status is not None))


def _kek_of(keys: object | None) -> bytes | None:
    """The KEK of a manager's KeyManager, or None (workers have none)."""
    return keys.kek() if keys is not None else None  # type: ignore[attr-defined]


class NodeSecurity:
    def __init__(self, swarm_dir: pathlib.Path) -> None:
        self.swarm_dir = swarm_dir
        self.certs: NodeCertificates | None = None
        self.ca: RootCA | None = None  # with its key: managers only
        self.ca_doc: dict | None = None  # the cluster object's RootCA it was read from
        self._contexts: dict[str, ssl.SSLContext] = {}
        #: what the store says of node IDs (set whole, from the control thread or the
        #: heartbeat; read on the event loop); None: nothing known yet
        self.roster: Roster | None = None

    # -- who the store says a certificate's node is -----------------------------------------
    def check_not_removed(self, node_id: str) -> str:
        """A removed node's certificate stays cryptographically valid until it expires:
        its node ID is refused (swarmkit's blacklisted certificates)."""
        r = self.roster
        if r is not None and node_id in r.removed:
            raise PermissionDenied(REMOVED.format(node_id))
        return node_id

    def check_manager(self, node_id: str) -> str:
        """A manager certificate's node must still be a manager in the store (a demoted
        manager holds its manager certificate until it renews)."""
        self.check_not_removed(node_id)
        r = self.roster
        if r is not None and node_id not in r.managers:
            raise PermissionDenied(NOT_A_MANAGER.format(node_id))
        return node_id

    def may_speak_raft(self, node_id: str) -> bool:
        """On the Raft port: not removed, and a manager or still a Raft member (a demoted
        manager talks Raft until it is out of the membership)."""
        r = self.roster
        if r is None:
            return True
        if node_id in r.removed:
            return False
        return node_id in r.managers or (r.members is not None and node_id in r.members)

    # -- identity -------------------------------------------------------------------------
    @property
    def role(self) -> str | None:
        return self.certs.role if self.certs else None

    @property
    def cluster_id(self) -> str:
        return self.certs.cluster_id if self.certs else ""

    def root_pem(self) -> bytes:
        """Every root this node trusts (two during a CA rotation), the anchor first."""
        assert self.certs is not None
        return self.certs.root_pem

    def anchor_pem(self) -> bytes:
        """The root CA a joining node checks against its token's digest."""
        return cert_pem(load_chain(self.root_pem())[0])

    def tls_info(self) -> dict[str, str]:
        """Docker's node `TLSInfo`: the root this node trusts and its certificate's issuer."""
        if self.certs is None:
            return {}
        roots, chain = load_chain(self.certs.root_pem), load_chain(self.certs.cert_chain_pem)
        issuer = issuer_of(chain[0], [*chain[1:], *roots])
        subject, public_key = issuer_info(issuer) if issuer is not None else ("", "")
        return {"TrustRoot": cert_pem(roots[0]).decode(), "CertIssuerSubject": subject,
                "CertIssuerPublicKey": public_key}

    def adopt_trust(self, roots_pem: bytes, keys: object | None) -> bool:
        """Trust these roots from now on (a CA rotation); False if nothing changed."""
        if self.certs is None or roots_pem == self.certs.root_pem:
            return False
        c = self.certs
        self.set_certs(NodeCertificates(roots_pem, c.cert_chain_pem, c.key_pem), keys)
        return True

    # -- the CA (managers) ------------------------------------------------------------------
    def set_ca(self, ca: RootCA, keys: object) -> None:
        """Keep the CA; its key is written encrypted with the manager's KEK."""
        self.ca, self.ca_doc = ca, None  # the caller says if it is the store's
        doc = ca.to_json()
        kek = _kek_of(keys)
        assert kek is not None, "the CA is kept only by managers"
        doc["CAKey"] = key_pem(load_key(str(doc["CAKey"]).encode()), kek).decode()
        write_atomic(self.swarm_dir / CERT_DIR / CA_FILE, json.dumps(doc).encode(), 0o600)

    def load_ca(self, keys: object) -> RootCA | None:
        p = self.swarm_dir / CERT_DIR / CA_FILE
        if not p.exists():
            return None
        doc = json.loads(p.read_text())
        doc["CAKey"] = key_pem(load_key(doc["CAKey"].encode(), _kek_of(keys))).decode()
        self.ca = RootCA.from_json(doc)
        return self.ca

    def drop_ca(self) -> None:
        """A demoted manager forgets the CA's key."""
        self.ca = None
        (self.swarm_dir / CERT_DIR / CA_FILE).unlink(missing_ok=True)

    def create_ca(self, cluster_id: str, node_id: str, addr: str, expiry_ns: int,
                  keys: object) -> RootCA:
        """`swarm init`: the swarm's root CA (kept by managers) and this manager's own
        certificate, signed by it. `expiry_ns` (`--cert-expiry`; 0 for the default) sets
        how long node certificates last."""
        ca = RootCA.create(cluster_id) if not expiry_ns else RootCA.create(
            cluster_id, node_expiry=dt.timedelta(seconds=expiry_ns / 1e9))
        key_pem, csr = self.new_csr()
        chain = ca.issue(csr, node_id, "manager", addresses=[addr])
        self.set_certs(NodeCertificates(ca.cert_pem(), chain, key_pem), keys)
        self.set_ca(ca, keys)
        return ca

    def issue(self, csr_pem: bytes, node_id: str, role: str, addr: str) -> str:
        if self.ca is None:
            raise RuntimeError("this manager has no CA")
        host = addr.rpartition(":")[0] or addr
        return self.ca.issue(csr_pem, node_id, role, addresses=[host]).decode()

    def set_node_expiry(self, seconds: int, keys: object) -> None:
        """`swarm update --cert-expiry`: certificates issued from now on last this long
        (the CA is written again only if that changes it)."""
        if self.ca is not None and seconds > 0 and \
                seconds != int(self.ca.node_expiry.total_seconds()):
            from dataclasses import replace
            self.set_ca(replace(self.ca, node_expiry=dt.timedelta(seconds=seconds)), keys)

    # -- the node's own certificate ---------------------------------------------------------
    def set_certs(self, certs: NodeCertificates, keys: object | None) -> None:
        """A new certificate (join, renewal, role change): saved, contexts rebuilt. The key
        is encrypted with the KEK only while the swarm is autolocked, as Docker does."""
        autolocked = keys is not None and getattr(keys, "autolock", False)
        certs.save(self.swarm_dir, kek=_kek_of(keys) if autolocked else None)
        self.certs = certs
        self._contexts.clear()

    def load_certs(self, keys: object | None) -> NodeCertificates | None:
        try:
            self.certs = NodeCertificates.load(self.swarm_dir)
        except TypeError:  # the key is encrypted: an autolocked manager's
            self.certs = NodeCertificates.load(self.swarm_dir, kek=_kek_of(keys))
        self._contexts.clear()
        return self.certs

    def forget(self) -> None:
        remove_certificates(self.swarm_dir)
        self.drop_ca()
        self.certs = None
        self._contexts.clear()

    def needs_renewal(self, now: dt.datetime | None = None) -> bool:
        return self.certs is not None and needs_renewal(self.certs.cert, now)

    @staticmethod
    def new_csr() -> tuple[bytes, bytes]:
        return new_key_and_csr()

    # -- TLS contexts ---------------------------------------------------------------------
    def _context(self, kind: str) -> ssl.SSLContext:
        if kind not in self._contexts:
            c = self.certs
            assert c is not None, "no certificate yet"
            if kind == "client":
                self._contexts[kind] = client_context(c.cert_chain_pem, c.key_pem, c.root_pem)
            else:
                self._contexts[kind] = server_context(c.cert_chain_pem, c.key_pem, c.root_pem,
                                                      require_client_cert=kind == "raft")
        return self._contexts[kind]

    def client_context(self) -> ssl.SSLContext:
        """Dialing a manager (name it `swarm-manager`) with this node's certificate."""
        return self._context("client")

    def raft_server_context(self) -> ssl.SSLContext:
        """The Raft port: a certificate is required."""
        return self._context("raft")

    def internal_server_context(self) -> ssl.SSLContext:
        """The internal API port: joins come without a certificate; routes check roles."""
        return self._context("internal")


__all__ = ["CA_FILE", "NOT_A_MANAGER", "RAFT_REMOVED", "REMOVED", "NodeSecurity", "Roster",
           "roster_of"]
