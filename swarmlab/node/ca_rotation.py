"""The swarm's CA in the replicated store, and root CA rotation (`docker swarm ca --rotate`).

Theory of operation (swarmkit's `ca/reconciler.go` and `controlapi/ca_rotation.go`):
- The CA of record, with its key, is the cluster object's `RootCA` (`RootCA.to_json()`),
  replicated by Raft and so encrypted at rest with the log. The leader reads it before it
  issues a certificate; the API never shows it (`engine.render.render_cluster` puts
  Docker's `TLSInfo` and `RootRotationInProgress` in its place).
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
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from ..objects import ClusterSpec, SwarmError
from ..objects._objects import TLSInfo
from ..ca import CertificateError, RootCA, cert_pem, issuer_info, issuer_of
from ..engine.errors import APIError
from ..engine.gateway import Gateway
from .security import NodeSecurity

if TYPE_CHECKING:
    from cryptography import x509

    from .manager_role import ManagerRole

    NodeGateway = Gateway[ManagerRole]

log = logging.getLogger("swarmlab.node.ca")

# -- the CA of record ---------------------------------------------------------------------
async def store_ca(gw: "NodeGateway", security: NodeSecurity) -> RootCA:
    """The leader's CA, as the cluster object holds it (adopted here if it changed). A
    swarm whose cluster object has none yet (just initialised) gets this manager's."""
    m = gw.require_manager()
    cluster = await gw.read(lambda tx: tx.cluster(), local=True)
    doc = cluster.root_ca if cluster is not None else {}
    if not doc:
        if security.ca is None:
            raise APIError(503, "this manager has no CA")
        await _write_root_ca(gw, security, security.ca)
        return security.ca
    if doc != security.ca_doc:
        security.set_ca(RootCA.from_json(doc), m.keys)
        security.ca_doc = doc
    assert security.ca is not None
    return security.ca


async def _write_root_ca(gw: "NodeGateway", security: NodeSecurity, ca: RootCA, *,
                         expect: dict | None = None,
                         tokens: tuple[str, str] | None = None) -> bool:
    """Replace the cluster's RootCA (if it still is `expect`, when given)."""
    from ..objects import JoinTokens
    m = gw.require_manager()
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
    done = await gw.update(write)
    if done:
        security.set_ca(ca, m.keys)
        security.ca_doc = doc
    return bool(done)


async def update_spec(gw: "NodeGateway", security: NodeSecurity, version: int,
                      spec: ClusterSpec,
                      tell_managers: Callable[[dict], Awaitable[None]]) -> None:
    """`swarm update`'s spec, if it changes the cluster's (read from the leader)."""
    current = await gw.read(lambda tx: tx.cluster())
    if current is not None and current.spec != spec:  # CA rotation, --cert-expiry
        await update_cluster(gw, security, version, spec, tell_managers)


async def update_cluster(gw: "NodeGateway", security: NodeSecurity, version: int,
                         spec: ClusterSpec,
                         tell_managers: Callable[[dict], Awaitable[None]]) -> None:
    """`swarm update` on the leader: the spec, and in the same write a rotated CA
    (`CAConfig.ForceRotate` changed) or its new `NodeCertExpiry`."""
    from ..manager import cluster as cluster_ops
    m = gw.leading()
    ca = await store_ca(gw, security)
    current = await gw.read(lambda tx: tx.cluster(), local=True)
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
    await gw.update(write)
    if new_ca is ca:
        return
    security.set_ca(new_ca, m.keys)
    security.ca_doc = doc
    if new_ca.signer_cert != ca.signer_cert:
        log.warning("%s: root CA rotation started", gw.name)
    if new_ca.node_expiry != ca.node_expiry:  # managers that keep a copy adopt it at once
        await tell_managers({"NodeCertExpiry": int(new_ca.node_expiry.total_seconds())})


# -- the leader's side of a heartbeat -------------------------------------------------------
async def on_heartbeat(gw: "NodeGateway", security: NodeSecurity, node_id: str,
                       peer: "x509.Certificate | None", reported: dict | None) -> dict:
    """Record the node's TLSInfo, finish a rotation every node has followed, and tell the
    node which roots to trust and whether to renew."""
    def read(view: Any) -> tuple[dict, Any]:
        cluster, node = view.cluster(), view.node(node_id)
        return (cluster.root_ca if cluster else {}), node
    doc, node = await gw.read(read, local=True)  # one hop to the control thread, most times
    try:
        ca = security.ca if doc and doc == security.ca_doc else await store_ca(gw, security)
    except (APIError, SwarmError, CertificateError) as e:
        log.warning("%s: no CA to check node %s against: %s", gw.name, node_id, e)
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
            await _record_tls_info(gw, node_id, info)
    if ca.rotating:
        await _maybe_finish(gw, security, ca)
    return answer


async def _record_tls_info(gw: "NodeGateway", node_id: str, info: TLSInfo) -> None:
    def write(tx: Any) -> None:
        node = tx.node(node_id)
        if node is None or node.description.tls_info == info:
            return
        tx.update(node.replace(description=dataclasses.replace(node.description,
                                                               tls_info=info)))
    await gw.update(write)


async def _maybe_finish(gw: "NodeGateway", security: NodeSecurity, ca: RootCA) -> None:
    """Every node holds a certificate of the new root: it becomes the anchor."""
    from ..manager import tokens
    assert ca.signer_cert is not None
    want = issuer_info(ca.signer_cert)
    nodes = await gw.read(lambda tx: tx.nodes(), local=True)
    behind = [n.description.hostname for n in nodes
              if n.description.tls_info is None or
              (n.description.tls_info.cert_issuer_subject,
               n.description.tls_info.cert_issuer_public_key) != want]
    if behind:
        return
    done = ca.finish_rotation()
    if await _write_root_ca(gw, security, done, expect=security.ca_doc,
                            tokens=tokens.for_ca(done.digest())):
        log.warning("%s: root CA rotation complete (%d nodes)", gw.name, len(nodes))


# -- the node's side ------------------------------------------------------------------------
def adopt_roots(name: str, security: NodeSecurity, doc: dict, keys: Any) -> bool:
    """Adopt the roots the leader says to trust; True if they changed (the node's TLS
    listeners reload). Whether to renew now is the answer's `RenewCertificate`."""
    roots = doc.get("TrustRoots")
    if roots and security.adopt_trust("".join(roots).encode(), keys):
        log.info("%s: now trusting %d root CA(s)", name, len(roots))
        return True
    return False


__all__ = ["adopt_roots", "on_heartbeat", "store_ca", "update_cluster", "update_spec"]
