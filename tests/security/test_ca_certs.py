"""The CA: node certificates from CSRs, roles, expiry, renewal, forgery, rotation, files."""
import datetime as dt
import ipaddress
import os
import random
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from swarmlab.ca import (
    EXPIRED, UNKNOWN_AUTHORITY, CertificateError, NodeCertificates, RootCA, cert_paths,
    cluster_of, load_chain, needs_renewal, new_key_and_csr, node_id_of, not_after, not_before,
    renewal_time, role_of,
)

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca():
    return RootCA.create("cluster-a", now=T0 - dt.timedelta(days=1))


@pytest.fixture(scope="module")
def csr():
    return new_key_and_csr()


def test_root_ca_is_ecdsa_p256_named_swarm_ca(ca):
    cert = ca.cert
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "swarm-ca"
    assert cert.issuer == cert.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not_after(cert) - not_before(cert) > dt.timedelta(days=365 * 19)


@pytest.mark.parametrize("role,ou", [("manager", "swarm-manager"), ("worker", "swarm-worker")])
def test_issue_sets_node_id_role_cluster_and_sans(ca, csr, role, ou):
    _, csr_pem = csr
    chain = ca.issue(csr_pem, "n0d3id", role, addresses=["127.0.0.7:2377", "10.0.0.2"], now=T0)
    leaf = ca.verify_chain(chain, now=T0)
    assert (node_id_of(leaf), role_of(leaf), cluster_of(leaf)) == ("n0d3id", role, "cluster-a")
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == ou
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {ou, "n0d3id"}
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.7"), ipaddress.ip_address("10.0.0.2")}
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_issue_uses_the_csr_key_not_its_subject(ca, csr):
    key_pem, csr_pem = csr
    leaf = load_chain(ca.issue(csr_pem, "abc", "worker", now=T0))[0]
    nc = NodeCertificates(ca.cert_pem(), ca.issue(csr_pem, "abc", "worker", now=T0), key_pem)
    assert nc.key().public_key().public_numbers() == leaf.public_key().public_numbers()
    assert node_id_of(leaf) == "abc"  # the CSR said "swarm-node": the CA decides


def test_bad_csr_and_role_refused(ca, csr):
    with pytest.raises(CertificateError, match="invalid certificate request"):
        ca.issue(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                 "n", "worker")
    with pytest.raises(CertificateError, match="invalid role"):
        ca.issue(csr[1], "n", "admin")
    with pytest.raises(CertificateError, match="no signing key"):
        RootCA.trusting(ca.cert_pem()).issue(csr[1], "n", "worker")


def test_expiry_is_configurable_default_90_days(ca, csr):
    leaf = load_chain(ca.issue(csr[1], "n", "worker", now=T0))[0]
    assert not_after(leaf) - T0 == dt.timedelta(days=90)
    short = load_chain(ca.issue(csr[1], "n", "worker", expiry=dt.timedelta(minutes=3), now=T0))[0]
    assert not_after(short) - T0 == dt.timedelta(minutes=3)


def test_expired_and_not_yet_valid_refused(ca, csr):
    chain = ca.issue(csr[1], "n", "worker", expiry=dt.timedelta(minutes=3), now=T0)
    ca.verify_chain(chain, now=T0 + dt.timedelta(minutes=2))
    with pytest.raises(CertificateError, match=EXPIRED):
        ca.verify_chain(chain, now=T0 + dt.timedelta(minutes=4))
    with pytest.raises(CertificateError, match=EXPIRED):
        ca.verify_chain(chain, now=T0 - dt.timedelta(hours=1))


def test_forged_certificate_refused(ca, csr):
    """Same node ID, same role, same cluster ID, but signed by another CA."""
    forger = RootCA.create("cluster-a", now=T0 - dt.timedelta(days=1))
    forged = forger.issue(csr[1], "n0d3id", "manager", now=T0)
    with pytest.raises(CertificateError, match=UNKNOWN_AUTHORITY):
        ca.verify_chain(forged, now=T0)
    # sending the forger's root along as an "intermediate" does not help
    with pytest.raises(CertificateError, match=UNKNOWN_AUTHORITY):
        ca.verify_chain(load_chain(forged) + [forger.cert], now=T0)


def test_renewal_between_50_and_80_percent_of_life(ca, csr):
    leaf = load_chain(ca.issue(csr[1], "n", "worker", expiry=dt.timedelta(minutes=10), now=T0))[0]
    start, life = not_before(leaf), not_after(leaf) - not_before(leaf)
    at = renewal_time(leaf)
    assert start + life * 0.5 <= at <= start + life * 0.8
    assert renewal_time(leaf) == at  # stable for one certificate
    assert not needs_renewal(leaf, start + life * 0.49)
    assert needs_renewal(leaf, start + life * 0.81)
    draws = [renewal_time(leaf, random.Random(s)) for s in range(50)]
    assert all(start + life * 0.5 <= d <= start + life * 0.8 for d in draws)
    assert len(set(draws)) > 40  # spread: nodes do not all renew together


def test_rotation_keeps_old_certs_until_finished(ca, csr):
    old = ca.issue(csr[1], "old-node", "worker", now=T0)
    rotating = ca.rotate(now=T0)
    assert rotating.rotating and rotating.cert == ca.cert
    renewed = rotating.issue(csr[1], "new-node", "worker", now=T0)
    assert len(load_chain(renewed)) == 2  # the leaf and the cross-signed intermediate
    for verifier in (ca, rotating):       # a node that has not heard of the rotation yet
        verifier.verify_chain(old, now=T0)
        verifier.verify_chain(renewed, now=T0)
    assert rotating.issued_by_signer(renewed) and not rotating.issued_by_signer(old)
    again = rotating.rotate(now=T0)  # another rotation meanwhile: a newer root, still
    assert again.cert == ca.cert and again.signer_cert != rotating.signer_cert  # cross-
    again.verify_chain(again.issue(csr[1], "n2", "worker", now=T0), now=T0)  # signed by the
    ca.verify_chain(again.issue(csr[1], "n3", "worker", now=T0), now=T0)  # anchor
    assert RootCA.from_json(again.to_json()).anchor_key is not None
    assert "AnchorKey" not in again.finish_rotation().to_json()
    done = rotating.finish_rotation()
    assert done.cert != ca.cert and not done.rotating
    done.verify_chain(renewed, now=T0)
    done.verify_chain(load_chain(renewed)[:1], now=T0)  # chains to the new root directly
    with pytest.raises(CertificateError, match=UNKNOWN_AUTHORITY):
        done.verify_chain(old, now=T0)
    fresh = done.issue(csr[1], "n", "manager", now=T0)
    assert len(load_chain(fresh)) == 1
    with pytest.raises(CertificateError, match=UNKNOWN_AUTHORITY):
        ca.verify_chain(fresh, now=T0)  # the old anchor alone cannot check it: nodes re-pin


def test_root_ca_round_trips_through_json(ca, csr):
    rotating = ca.rotate(now=T0)
    back = RootCA.from_json(rotating.to_json())
    assert back.cert == rotating.cert and back.intermediates == rotating.intermediates
    back.verify_chain(rotating.issue(csr[1], "n", "worker", now=T0), now=T0)
    rotating.verify_chain(back.issue(csr[1], "n", "worker", now=T0), now=T0)


def test_node_certificates_persist_like_dockers(tmp_path, ca, csr):
    key_pem, csr_pem = csr
    nc = NodeCertificates(ca.cert_pem(), ca.issue(csr_pem, "abc", "manager"), key_pem)
    nc.save(tmp_path)
    root, cert, key = cert_paths(tmp_path)
    assert [p.name for p in (root, cert, key)] == [
        "swarm-root-ca.crt", "swarm-node.crt", "swarm-node.key"]
    assert root.parent == tmp_path / "certificates"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    back = NodeCertificates.load(tmp_path)
    assert back == nc and back.node_id == "abc" and back.role == "manager"
    assert back.root_ca().digest() == ca.digest()
    assert NodeCertificates.load(tmp_path / "nothing") is None


def test_node_key_encrypted_with_kek(tmp_path, ca, csr):
    key_pem, csr_pem = csr
    nc = NodeCertificates(ca.cert_pem(), ca.issue(csr_pem, "abc", "manager"), key_pem)
    kek = os.urandom(32)
    nc.save(tmp_path, kek=kek)
    _, _, key = cert_paths(tmp_path)
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    assert NodeCertificates.load(tmp_path, kek=kek) == nc
    with pytest.raises((TypeError, ValueError)):
        NodeCertificates.load(tmp_path)
    with pytest.raises(ValueError):
        NodeCertificates.load(tmp_path, kek=os.urandom(32))
