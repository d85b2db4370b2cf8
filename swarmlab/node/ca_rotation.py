"""The swarm's CA in the replicated store, and root CA rotation (`docker swarm ca --rotate`).

Theory of operation (swarmkit's `ca/reconciler.go` and `controlapi/ca_rotation.go`):
- The CA of record, with its key, is the cluster object's `RootCA` (`RootCA.to_json()`),
  replicated by Raft and so encrypted at rest with the log. The leader reads it before it
  issues a certificate; the API never shows it (`render_cluster` puts Docker's `TLSInfo`
  and `RootRotationInProgress` in its place).
- `Spec.CAConfig.ForceRotate` changed (what `swarm ca --rotate` sends): the leader makes
  a new root key whose certificate the old root cross-signs, and stores it in the same
  write as the spec. The anchor (and the tokens' digest) stays the old root for now.
- Every heartbeat answer tells the node which roots to trust (old and new during the
  rotation) and whether its certificate must be renewed (it was not issued by the new
  key). The node adopts the roots first, then renews: its new certificate carries the
  cross-signed intermediate, so nodes that only know the old root still accept it.
- The leader records each node's `Description.TLSInfo` (the issuer of the certificate it
  presented, the root it reports trusting). When every node's issuer is the new root,
  the rotation finishes: the new root becomes the anchor, both join tokens change to its
  digest, and nodes drop the old root at their next heartbeat. From then on a
  certificate of the old root fails the handshake on 2377 and 2378. As in swarmkit, a
  node that is down holds the rotation until it comes back or is removed, and a new
  `ForceRotate` during a rotation starts over towards a newer root.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from ..objects import ClusterSpec, SwarmError
from ..objects._objects import TLSInfo
from ..ca import CertificateError, RootCA, cert_pem, issuer_info, issuer_of
from ..engine.api import APIError, ForwardToLeader

if TYPE_CHECKING:
    from cryptography import x509

    from .daemon import NodeDaemon

log = logging.getLogger("swarmlab.node.ca")

# -- the CA of record ---------------------------------------------------------------------
async def store_ca(d: "NodeDaemon") -> RootCA:
    """The leader's CA, as the cluster object holds it (adopted here if it changed). A
    swarm whose cluster object has none yet (just initialised) gets this manager's."""
    m = d._require_manager()
    cluster = await m.control.call(lambda: m.store.view().cluster())
    doc = cluster.root_ca if cluster is not None else {}
    if not doc:
        if d.security.ca is None:
            raise APIError(503, "this manager has no CA")
        await _write_root_ca(d, d.security.ca)
        return d.security.ca
    if doc != d.security.ca_doc:
        d.security.set_ca(RootCA.from_json(doc), m.keys)
        d.security.ca_doc = doc
    assert d.security.ca is not None
    return d.security.ca


async def _write_root_ca(d: "NodeDaemon", ca: RootCA, *, expect: dict | None = None,
                         tokens: tuple[str, str] | None = None) -> bool:
    """Replace the cluster's RootCA (if it still is `expect`, when given)."""
    from ..objects import JoinTokens
    m = d._require_manager()
    doc = ca.to_json()

    def write(tx: Any) -> bool:
        cluster = tx.cluster()
        if cluster is None or (expect is not None and cluster.root_ca != expect):
            return False
        changes: dict[str, Any] = {"root_ca": doc}
        if tokens is not None:
            changes["join_tokens"] = JoinTokens(worker=tokens[0], manager=tokens[1])
        tx.update(cluster.replace(**changes))
        return True
    done = await m.control.call(lambda: m.store.update(write))
    if done:
        d.security.set_ca(ca, m.keys)
        d.security.ca_doc = doc
    return bool(done)


async def update_cluster(d: "NodeDaemon", version: int, spec: ClusterSpec) -> None:
    """`swarm update` on the leader: the spec, and in the same write a rotated CA
    (`CAConfig.ForceRotate` changed) or its new `NodeCertExpiry`."""
    from ..manager import cluster as cluster_ops
    m = d._require_manager()
    if not m.is_leader():
        raise ForwardToLeader()
    ca = await store_ca(d)
    current = await m.control.call(lambda: m.store.view().cluster())
    new_ca = ca
    if current is not None and spec.ca_config.force_rotate != \
            current.spec.ca_config.force_rotate:
        new_ca = ca.rotate()  # during a rotation: towards a newer root, as swarmkit
    expiry_s = spec.ca_config.node_cert_expiry // 1_000_000_000
    if expiry_s > 0 and expiry_s != int(new_ca.node_expiry.total_seconds()):
        new_ca = dataclasses.replace(new_ca, node_expiry=dt.timedelta(seconds=expiry_s))
    doc = new_ca.to_json()

    def write(tx: Any) -> None:
        cluster = cluster_ops.update_cluster(tx, version, spec)
        if new_ca is not ca:
            tx.update(cluster.replace(root_ca=doc))
    await m.control.call(lambda: m.store.update(write))
    if new_ca is ca:
        return
    d.security.set_ca(new_ca, m.keys)
    d.security.ca_doc = doc
    if new_ca.signer_cert != ca.signer_cert:
        log.warning("%s: root CA rotation started", d.name)
    if new_ca.node_expiry != ca.node_expiry:  # managers that keep a copy adopt it at once
        await d._tell_managers({"NodeCertExpiry": int(new_ca.node_expiry.total_seconds())})


# -- what the API shows -------------------------------------------------------------------
def render_cluster(cluster: Any) -> dict:
    """The cluster as Docker's `GET /swarm` shows it: no key; `TLSInfo` is the anchor and
    the wanted issuer (the new root while rotating), `RootRotationInProgress`."""
    doc = cluster.to_json()
    root = doc.pop("RootCA", None) or {}
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if k == "JoinTokens" and root:
            out.update(_tls_fields(root))
        out[k] = v
    return out


def _tls_fields(root: dict) -> dict:
    from ..ca import load_chain
    signer = load_chain(root.get("SignerCert") or root["CACert"])[0]
    subject, public_key = issuer_info(signer)
    return {"TLSInfo": {"TrustRoot": root["CACert"], "CertIssuerSubject": subject,
                        "CertIssuerPublicKey": public_key},
            "RootRotationInProgress": bool(root.get("Intermediates"))}


# -- the leader's side of a heartbeat -------------------------------------------------------
async def on_heartbeat(d: "NodeDaemon", node_id: str, peer: "x509.Certificate | None",
                       reported: dict | None) -> dict:
    """Record the node's TLSInfo, finish a rotation every node has followed, and tell the
    node which roots to trust and whether to renew."""
    m = d._require_manager()

    def read() -> tuple[dict, Any]:
        view = m.store.view()
        cluster, node = view.cluster(), view.node(node_id)
        return (cluster.root_ca if cluster else {}), node
    doc, node = await m.control.call(read)  # one hop to the control thread, most times
    try:
        ca = d.security.ca if doc and doc == d.security.ca_doc else await store_ca(d)
    except (APIError, SwarmError, CertificateError) as e:
        log.warning("%s: no CA to check node %s against: %s", d.name, node_id, e)
        return {}
    assert ca is not None
    answer: dict[str, Any] = {
        "TrustRoots": [cert_pem(c).decode() for c in ca.trust_roots()]}
    if peer is None:
        return answer
    answer["RenewCertificate"] = not ca.issued_by_signer(peer)
    issuer = issuer_of(peer, [c for c in (ca.signer_cert, ca.cert, *ca.intermediates) if c])
    if issuer is not None:
        subject, public_key = issuer_info(issuer)
        info = TLSInfo(trust_root=str((reported or {}).get("TrustRoot", "")),
                       cert_issuer_subject=subject, cert_issuer_public_key=public_key)
        if node is not None and node.description.tls_info != info:
            await _record_tls_info(d, node_id, info)
    if ca.rotating:
        await _maybe_finish(d, ca)
    return answer


async def _record_tls_info(d: "NodeDaemon", node_id: str, info: TLSInfo) -> None:
    m = d._require_manager()

    def write(tx: Any) -> None:
        node = tx.node(node_id)
        if node is None or node.description.tls_info == info:
            return
        tx.update(node.replace(description=dataclasses.replace(node.description,
                                                               tls_info=info)))
    await m.control.call(lambda: m.store.update(write))


async def _maybe_finish(d: "NodeDaemon", ca: RootCA) -> None:
    """Every node holds a certificate of the new root: it becomes the anchor."""
    from ..manager import tokens
    assert ca.signer_cert is not None
    want = issuer_info(ca.signer_cert)
    m = d._require_manager()
    nodes = await m.control.call(lambda: m.store.view().nodes())
    behind = [n.description.hostname for n in nodes
              if n.description.tls_info is None or
              (n.description.tls_info.cert_issuer_subject,
               n.description.tls_info.cert_issuer_public_key) != want]
    if behind:
        return
    done = ca.finish_rotation()
    if await _write_root_ca(d, done, expect=d.security.ca_doc,
                            tokens=tokens.for_ca(done.digest())):
        log.warning("%s: root CA rotation complete (%d nodes)", d.name, len(nodes))


# -- the node's side ------------------------------------------------------------------------
async def follow(d: "NodeDaemon", doc: dict, keys: Any) -> bool:
    """Adopt the roots the leader says to trust; True if the node must renew now."""
    roots = doc.get("TrustRoots")
    if roots and d.security.adopt_trust("".join(roots).encode(), keys):
        log.info("%s: now trusting %d root CA(s)", d.name, len(roots))
        await d.reload_tls()
    return bool(doc.get("RenewCertificate"))


__all__ = ["follow", "on_heartbeat", "render_cluster", "store_ca",
           "update_cluster"]
