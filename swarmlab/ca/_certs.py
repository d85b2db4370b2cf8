"""The swarm's certificate authority: a root CA, node certificates, renewal, rotation.

Theory of operation (as in swarmkit's `ca/`):
- `swarm init` makes a root CA: an ECDSA P-256 key and a self-signed certificate with
  CN `swarm-ca`. Its SHA-256 digest (over the PEM) goes into the join tokens, so a
  joining node can check it talks to the right swarm before it trusts anything.
- A node makes its own key and a certificate request (CSR); the key never leaves the
  node. The CA signs it with the subject *it* chooses: CN = node ID, OU = the role
  (`swarm-manager` or `swarm-worker`), O = the cluster ID. The role OU and the node ID
  are also DNS SANs (a client that dials a manager checks the name `swarm-manager`),
  plus IP SANs for the node's addresses.
- A node renews at a random point between 50% and 80% of its certificate's life, so
  that nodes joined together do not all renew together.
- `rotate()` makes a new root key and a *cross-signed* intermediate (the new root's
  subject and key, signed by the old root). While rotating, the trust anchor stays the
  old root: certificates issued by the new key carry the intermediate and chain to it,
  and old certificates keep working. `finish_rotation()` (once every node renewed)
  makes the new root the anchor; certificates from the old key are refused from then on.
  `rotate()` during a rotation starts over towards a newer root, cross-signed by the
  anchor's key, which the CA keeps until the rotation finishes.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import random
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT_CN = "swarm-ca"
MANAGER_OU = "swarm-manager"
WORKER_OU = "swarm-worker"
ROLE_OUS = {"manager": MANAGER_OU, "worker": WORKER_OU}
ROLES_BY_OU = {ou: role for role, ou in ROLE_OUS.items()}
ROOT_CA_EXPIRY = dt.timedelta(days=20 * 365)      # swarmkit: 20 years
DEFAULT_NODE_CERT_EXPIRY = dt.timedelta(days=90)  # Docker's `--cert-expiry` default
RENEWAL_RANGE = (0.5, 0.8)                        # fraction of the lifetime, as swarmkit
CLOCK_SKEW = dt.timedelta(minutes=1)              # notBefore is backdated by this much

UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"
EXPIRED = "x509: certificate has expired or is not yet valid"


class CertificateError(Exception):
    """A certificate, CSR or CA that must be refused; the message says why."""


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.timezone.utc)


def not_before(cert: x509.Certificate) -> dt.datetime:
    return getattr(cert, "not_valid_before_utc", None) or \
        cert.not_valid_before.replace(tzinfo=dt.timezone.utc)


def not_after(cert: x509.Certificate) -> dt.datetime:
    return getattr(cert, "not_valid_after_utc", None) or \
        cert.not_valid_after.replace(tzinfo=dt.timezone.utc)


# -- keys, CSRs and PEM ---------------------------------------------------------------------
def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> bytes:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def load_key(pem: bytes, passphrase: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError("node keys are ECDSA keys")
    return key


def cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def load_chain(pem: bytes | str) -> list[x509.Certificate]:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise CertificateError(f"invalid certificate: {e}") from None
    if not certs:
        raise CertificateError("invalid certificate: no certificate in PEM data")
    return certs


def create_csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A node's certificate request. The subject is a placeholder: the CA decides it."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "swarm-node")]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


# -- what a certificate says ------------------------------------------------------------------
def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def node_id_of(cert: x509.Certificate) -> str:
    cns = _attr(cert.subject, NameOID.COMMON_NAME)
    return cns[0] if cns else ""


def role_of(cert: x509.Certificate) -> str | None:
    """"manager", "worker", or None for a certificate with no swarm role (e.g. a client's)."""
    for ou in _attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME):
        if ou in ROLES_BY_OU:
            return ROLES_BY_OU[ou]
    return None


def cluster_of(cert: x509.Certificate) -> str:
    orgs = _attr(cert.subject, NameOID.ORGANIZATION_NAME)
    return orgs[0] if orgs else ""


def issuer_info(ca_cert: x509.Certificate) -> tuple[str, str]:
    """(subject, public key) of an issuing certificate as Docker's TLSInfo shows them:
    `CertIssuerSubject` and `CertIssuerPublicKey`, DER in base64."""
    import base64
    spki = ca_cert.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    return (base64.b64encode(ca_cert.subject.public_bytes()).decode(),
            base64.b64encode(spki).decode())


def issuer_of(cert: x509.Certificate,
              candidates: Iterable[x509.Certificate]) -> x509.Certificate | None:
    """The candidate CA certificate whose key signed `cert`, if any."""
    return next((c for c in candidates if _issued_by(cert, c)), None)


def renewal_time(cert: x509.Certificate, rng: random.Random | None = None) -> dt.datetime:
    """When to renew: a random point in 50%-80% of the lifetime (swarmkit's
    `calculateRandomExpiry`). Without `rng` the point is drawn from the serial number,
    so it is stable for one certificate and still spread over the nodes."""
    lo, hi = RENEWAL_RANGE
    r = rng if rng is not None else random.Random(cert.serial_number)
    start, end = not_before(cert), not_after(cert)
    return start + (end - start) * r.uniform(lo, hi)


def needs_renewal(cert: x509.Certificate, now: dt.datetime | None = None,
                  rng: random.Random | None = None) -> bool:
    return _now(now) >= renewal_time(cert, rng)


def _ski(key: ec.EllipticCurvePublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key)


def _ca_cert(subject_key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey,
             signer: ec.EllipticCurvePrivateKey, issuer: x509.Name,
             start: dt.datetime, end: dt.datetime) -> x509.Certificate:
    pub = subject_key.public_key() if isinstance(subject_key, ec.EllipticCurvePrivateKey) \
        else subject_key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN)])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(start).not_valid_after(end)
         .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                      content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(_ski(pub), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                        critical=False))
    return b.sign(signer, hashes.SHA256())


@dataclass(frozen=True)
class RootCA:
    """The swarm's CA. `cert` is the trust anchor (what nodes pin and the token digest
    covers); `signer_cert`/`key` sign; `intermediates` go with every issued certificate
    while a rotation is under way. A node that only trusts the CA has `key=None`."""

    cluster_id: str
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    signer_cert: x509.Certificate | None = None
    intermediates: tuple[x509.Certificate, ...] = ()
    node_expiry: dt.timedelta = DEFAULT_NODE_CERT_EXPIRY
    # the anchor's key while a rotation is under way: another rotation is cross-signed
    # by it (swarmkit keeps `RootCA.CAKey` until the rotation finishes)
    anchor_key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)

    @classmethod
    def create(cls, cluster_id: str, expiry: dt.timedelta = ROOT_CA_EXPIRY, *,
               node_expiry: dt.timedelta = DEFAULT_NODE_CERT_EXPIRY,
               now: dt.datetime | None = None) -> "RootCA":
        key = generate_key()
        start = _now(now) - CLOCK_SKEW
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN)])
        cert = _ca_cert(key, key, name, start, start + expiry)
        return cls(cluster_id, cert, key, cert, (), node_expiry)

    @classmethod
    def trusting(cls, ca_pem: bytes, cluster_id: str = "") -> "RootCA":
        """A CA a node only verifies with (no key): from `swarm-root-ca.crt`."""
        return cls(cluster_id, load_chain(ca_pem)[0])

    # -- identity of the CA ---------------------------------------------------------------
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    def digest(self) -> str:
        """sha256 of the root certificate's PEM, in hex (what a join token carries)."""
        return hashlib.sha256(self.cert_pem()).hexdigest()

    @property
    def rotating(self) -> bool:
        return bool(self.intermediates)

    def trust_roots(self) -> tuple[x509.Certificate, ...]:
        """What nodes trust: the anchor, and during a rotation the new root as well, so
        that a node keeps trusting its peers when the anchor changes at the end."""
        if self.rotating and self.signer_cert is not None:
            return (self.cert, self.signer_cert)
        return (self.cert,)

    # -- issuing ----------------------------------------------------------------------------
    def issue(self, csr_pem: bytes, node_id: str, role: str, *,
              addresses: Iterable[str] = (), expiry: dt.timedelta | None = None,
              now: dt.datetime | None = None) -> bytes:
        """Sign a node's CSR: returns the PEM chain (the node certificate, then any
        intermediate) to store as `swarm-node.crt`."""
        if self.key is None or self.signer_cert is None:
            raise CertificateError("this CA has no signing key (not a manager's CA)")
        if role not in ROLE_OUS:
            raise CertificateError(f"invalid role {role!r}: expected manager or worker")
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as e:
            raise CertificateError(f"invalid certificate request: {e}") from None
        if not csr.is_signature_valid:
            raise CertificateError("invalid certificate request: bad signature")
        pub = csr.public_key()
        if not isinstance(pub, ec.EllipticCurvePublicKey):
            raise CertificateError("invalid certificate request: node keys are ECDSA keys")
        start = _now(now) - CLOCK_SKEW
        end = start + CLOCK_SKEW + (expiry or self.node_expiry)
        end = min(end, not_after(self.signer_cert))
        return cert_pem(self._sign_node(pub, node_id, ROLE_OUS[role], self.cluster_id,
                                        _sans([ROLE_OUS[role], node_id], addresses),
                                        start, end), *self.intermediates)

    def issue_client(self, name: str, *, addresses: Iterable[str] = (),
                     expiry: dt.timedelta | None = None,
                     now: dt.datetime | None = None) -> tuple[bytes, bytes]:
        """A certificate with no swarm role, for both ends of the Engine API with
        `dockerd --tlsverify` (a client; with `addresses`, the IP SANs a server needs):
        returns (chain PEM, key PEM)."""
        if self.key is None or self.signer_cert is None:
            raise CertificateError("this CA has no signing key (not a manager's CA)")
        key = generate_key()
        start = _now(now) - CLOCK_SKEW
        end = min(start + CLOCK_SKEW + (expiry or self.node_expiry), not_after(self.signer_cert))
        cert = self._sign_node(key.public_key(), name, "", self.cluster_id,
                               _sans([name], addresses), start, end)
        return cert_pem(cert, *self.intermediates), key_pem(key)

    def _sign_node(self, pub: ec.EllipticCurvePublicKey, cn: str, ou: str, org: str,
                   sans: list[x509.GeneralName], start: dt.datetime,
                   end: dt.datetime) -> x509.Certificate:
        assert self.key is not None and self.signer_cert is not None
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        if ou:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org or "swarm"))
        b = (x509.CertificateBuilder().subject_name(x509.Name(attrs))
             .issuer_name(self.signer_cert.subject).public_key(pub)
             .serial_number(x509.random_serial_number())
             .not_valid_before(start).not_valid_after(end)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                          content_commitment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False,
                                          decipher_only=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                   ExtendedKeyUsageOID.CLIENT_AUTH]),
                            critical=False)
             .add_extension(x509.SubjectAlternativeName(sans), critical=False)
             .add_extension(_ski(pub), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 self.key.public_key()), critical=False))
        return b.sign(self.key, hashes.SHA256())

    # -- verifying --------------------------------------------------------------------------
    def verify_chain(self, chain: bytes | str | x509.Certificate | Sequence[x509.Certificate],
                     now: dt.datetime | None = None) -> x509.Certificate:
        """Check that a node certificate (with the intermediates sent along) chains to
        this CA's anchor and that every link is within its validity; return the leaf."""
        certs = _as_list(chain)
        leaf, pool = certs[0], [*certs[1:], *self.intermediates]
        when = _now(now)
        cert, depth = leaf, 0
        while True:
            _check_time(cert, when)
            if _issued_by(cert, self.cert):
                _check_time(self.cert, when)
                return leaf
            parent = next((p for p in pool if p is not cert and _issued_by(cert, p)), None)
            depth += 1
            if parent is None or depth > 3 or not _is_ca(parent):
                raise CertificateError(UNKNOWN_AUTHORITY)
            cert = parent

    # -- rotation ---------------------------------------------------------------------------
    def rotate(self, expiry: dt.timedelta = ROOT_CA_EXPIRY,
               now: dt.datetime | None = None) -> "RootCA":
        """`docker swarm ca --rotate`: a new root key; the anchor cross-signs it. During a
        rotation this starts another one towards a newer root (as swarmkit does)."""
        anchor_key = self.anchor_key if self.rotating else self.key
        if anchor_key is None:
            raise CertificateError("this CA has no signing key (not a manager's CA)")
        new_key = generate_key()
        start = _now(now) - CLOCK_SKEW
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN)])
        new_root = _ca_cert(new_key, new_key, name, start, start + expiry)
        cross = _ca_cert(new_key.public_key(), anchor_key, self.cert.subject,
                         start, min(start + expiry, not_after(self.cert)))
        return replace(self, key=new_key, signer_cert=new_root, intermediates=(cross,),
                       anchor_key=anchor_key)

    def issued_by_signer(self, chain: bytes | str | x509.Certificate) -> bool:
        """Whether a node certificate comes from the current signing key: during a
        rotation, the leader finishes once this holds for every node's certificate."""
        assert self.signer_cert is not None
        return _issued_by(_as_list(chain)[0], self.signer_cert)

    def finish_rotation(self) -> "RootCA":
        """Every node renewed: the new root becomes the anchor (and the tokens' digest)."""
        if not self.rotating:
            return self
        assert self.signer_cert is not None
        return replace(self, cert=self.signer_cert, intermediates=(), anchor_key=None)

    # -- persistence (managers keep the CA in the cluster object, replicated by Raft) ---------
    def to_json(self) -> dict[str, str | list[str] | int]:
        if self.key is None or self.signer_cert is None:
            raise CertificateError("only a CA with its key can be saved this way")
        doc: dict[str, str | list[str] | int] = {
            "ClusterID": self.cluster_id, "CACert": self.cert_pem().decode(),
            "CAKey": key_pem(self.key).decode(),
            "SignerCert": cert_pem(self.signer_cert).decode(),
            "Intermediates": [cert_pem(c).decode() for c in self.intermediates],
            "NodeCertExpiry": int(self.node_expiry.total_seconds())}
        if self.anchor_key is not None:
            doc["AnchorKey"] = key_pem(self.anchor_key).decode()
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> "RootCA":
        return cls(doc["ClusterID"], load_chain(doc["CACert"])[0],
                   load_key(doc["CAKey"].encode()), load_chain(doc["SignerCert"])[0],
                   tuple(load_chain(p)[0] for p in doc.get("Intermediates", [])),
                   dt.timedelta(seconds=doc.get("NodeCertExpiry",
                                                DEFAULT_NODE_CERT_EXPIRY.total_seconds())),
                   load_key(doc["AnchorKey"].encode()) if doc.get("AnchorKey") else None)


def _sans(names: list[str], addresses: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = [x509.DNSName(n) for n in names if n]
    for a in addresses:
        host = a.rpartition(":")[0] if a.count(":") == 1 else a  # "host:port" -> host
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def _as_list(chain: bytes | str | x509.Certificate | Sequence[x509.Certificate]
             ) -> list[x509.Certificate]:
    if isinstance(chain, (bytes, str)):
        return load_chain(chain)
    if isinstance(chain, x509.Certificate):
        return [chain]
    return list(chain)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)  # issuer name and signature
    except (ValueError, TypeError, InvalidSignature):
        return False
    return _is_ca(issuer)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _check_time(cert: x509.Certificate, when: dt.datetime) -> None:
    if not not_before(cert) <= when <= not_after(cert):
        raise CertificateError(EXPIRED)
