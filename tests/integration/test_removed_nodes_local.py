"""A removed node's certificate is dead, a demoted manager's is a worker's (issue 18).

Real node processes: 3 managers and two workers. node3's manager certificate and node4's
worker certificate are copied from their disks; node3 is demoted (its old certificate
still says manager), then node3 and node4 are stopped and removed. Their certificates
stay cryptographically valid until they expire, yet every port that accepts a node
certificate refuses them with swarmkit's messages: the internal API (dispatcher, renewal,
keys, Raft membership, leader, logs) on 2378 and the Raft port 2377, on every manager and
on the remaining worker's 2378, after a restart, and the list of removed nodes is in a
backup.
"""
from __future__ import annotations

import http.client
import io
import json
import socket
import ssl
import tarfile

import pytest

from swarmlab.ca import NodeCertificates, client_context, new_key_and_csr
from swarmlab.crypto import KeyManager, open_encrypted
from swarmlab.lab import Lab
from swarmlab.node.manager_raft import raft_id_of
from swarmlab.raft.shell.codec import FrameKind, encode_value, frame
from swarmlab.raft.shell.file_storage import FileStorage
from swarmlab.store import MemoryStore

REMOVED = "Permission denied: node {} was removed from swarm"
NOT_A_MANAGER = "Permission denied: node {} is not a manager of this swarm any more"


def ctx_of(certs: NodeCertificates) -> ssl.SSLContext:
    ctx = client_context(certs.cert_chain_pem, certs.key_pem, certs.root_pem)
    ctx.check_hostname = False  # dialed by IP; the chain is still verified
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def call(addr: str, method: str, path: str, body: dict | None,
         ctx: ssl.SSLContext) -> tuple[int, dict]:
    conn = http.client.HTTPSConnection(addr, 2378, context=ctx, timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw or b"{}")
        except ValueError:
            return r.status, {"raw": raw.decode(errors="replace")}
    finally:
        conn.close()


def raft(addr: str, ctx: ssl.SSLContext, first: bytes) -> str:
    """One frame on the Raft port: "answered", "open" (no answer, still connected) or
    "closed" (hung up on)."""
    with socket.create_connection((addr, 2377), timeout=3) as raw:
        with ctx.wrap_socket(raw, server_hostname="swarm-manager") as s:
            s.sendall(first)
            s.settimeout(1.5)
            try:
                return "answered" if s.recv(1) else "closed"
            except (TimeoutError, socket.timeout):
                return "open"
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError):
                return "closed"


def raw_write() -> bytes:
    """A raw Raft client request (the harmless `status` op; a `put` would be a write)."""
    return frame(FrameKind.CLIENT_REQ, encode_value([[1, "status", None]]))


def hello(node_id: str) -> bytes:
    return frame(FrameKind.HELLO, encode_value(raft_id_of(node_id)))


def certs(lab: Lab, node: str) -> NodeCertificates:
    c = NodeCertificates.load(lab.record.node_dir(node) / "swarm")
    assert c is not None
    return c


def ids(c) -> dict[str, str]:
    return {n["Description"]["Hostname"]: n["ID"] for n in c.api.nodes()}


def set_role(c, node_id: str, role: str) -> None:
    n = c.api.inspect_node(node_id)
    c.api.update_node(node_id, n["Version"]["Index"], dict(n["Spec"], Role=role))


def assert_refused_everywhere(lab: Lab, addrs: list[str], mgr: NodeCertificates,
                              wkr: NodeCertificates) -> None:
    """node3's old manager certificate and node4's worker certificate, both removed."""
    _, csr = new_key_and_csr()
    for addr in addrs:
        for c in (mgr, wkr):
            ctx, me = ctx_of(c), c.node_id
            for path, body in (("/swarmlab/dispatcher/session", {"NodeID": me, "Addr": addr}),
                               ("/swarmlab/dispatcher/heartbeat", {"NodeID": me,
                                                                   "SessionID": "x"}),
                               ("/swarmlab/dispatcher/status", {"NodeID": me}),
                               ("/swarmlab/ca/renew", {"NodeID": me, "CSR": csr.decode()})):
                assert call(addr, "POST", path, body, ctx) == (
                    403, {"message": REMOVED.format(me)}), (addr, path)
            assert call(addr, "GET", "/swarmlab/leader", None, ctx) == (
                403, {"message": REMOVED.format(me)})
        ctx, me = ctx_of(mgr), mgr.node_id
        # the keys route: autolock on with a key of its choosing (issue 18)
        status, doc = call(addr, "POST", "/swarmlab/keys", {
            "Autolock": True, "UnlockKey": "SWMKEY-1-" + "A" * 43}, ctx)
        assert (status, doc["message"]) == (403, REMOVED.format(me))
        status, doc = call(addr, "POST", "/swarmlab/raft/join",
                           {"NodeID": me, "RaftID": raft_id_of(me), "Addr": "127.0.0.9:2377"},
                           ctx)
        assert (status, doc["message"]) == (403, REMOVED.format(me))
        status, doc = call(addr, "GET", "/swarmlab/local-logs?tasks=x", None, ctx)
        assert (status, doc["message"]) == (403, REMOVED.format(me))
        # Raft: a HELLO, and a raw client request (a write), hung up on
        assert raft(addr, ctx, hello(me)) == "closed", addr
        assert raft(addr, ctx, raw_write()) == "closed", addr


@pytest.mark.slow
def test_removed_and_demoted_certificates_are_refused(lab_factory, tmp_path):
    lab: Lab = lab_factory("rm", managers=3, workers=2)
    c = lab.client("node1")
    by_name = ids(c)
    addr = {n: lab.record.node(n).addr for n in ("node1", "node2", "node3", "node4", "node5")}
    mgr3, wkr4, own1 = certs(lab, "node3"), certs(lab, "node4"), certs(lab, "node1")
    assert (mgr3.role, wkr4.role) == ("manager", "worker")

    # the controls: a current manager's certificate is answered
    assert raft(addr["node1"], ctx_of(own1), raw_write()) == "answered"
    assert call(addr["node2"], "POST", "/swarmlab/keys", {}, ctx_of(own1))[0] == 200

    # demote node3: its old certificate still says manager, but it is not one any more
    set_role(c, by_name["node3"], "worker")
    lab.wait_for(lambda: c.api.inspect_node(by_name["node3"]).get("ManagerStatus") is None,
                 30, "node3 out of Raft")
    not_mgr = NOT_A_MANAGER.format(mgr3.node_id)
    for a in (addr["node1"], addr["node2"]):
        status, doc = call(a, "POST", "/swarmlab/keys", {"Autolock": False}, ctx_of(mgr3))
        assert status == 403 and doc["message"].startswith(not_mgr), (a, doc)
        assert raft(a, ctx_of(mgr3), raw_write()) == "closed"
        assert raft(a, ctx_of(mgr3), hello(mgr3.node_id)) == "closed"
    # the worker's own port knows it too (from its heartbeat): manager-only routes refused

    def worker_refuses():
        status, doc = call(addr["node4"], "GET", "/swarmlab/local-logs?tasks=x", None,
                           ctx_of(mgr3))
        return status == 403 and doc["message"].startswith(not_mgr)
    lab.wait_for(worker_refuses, 15, "node4 to refuse node3's manager certificate")
    assert call(addr["node4"], "GET", "/swarmlab/local-logs?tasks=x", None,
                ctx_of(own1))[0] == 200

    # remove node3 and node4 (stopped first, as after `swarm leave` or a dead machine)
    for n in ("node3", "node4"):
        lab.kill(n)
        c.api.remove_node(by_name[n], force=True)
    swarm = c.api.inspect_swarm()
    assert "BlacklistedCertificates" not in swarm and "RootCA" not in swarm
    managers = [addr["node1"], addr["node2"]]
    lab.wait_for(lambda: call(addr["node2"], "GET", "/swarmlab/leader", None,
                              ctx_of(wkr4))[0] == 403, 10, "node2 to know of the removal")
    assert_refused_everywhere(lab, managers, mgr3, wkr4)
    # the remaining worker's port: it learns the removal from its heartbeat

    def worker5_refuses():
        status, doc = call(addr["node5"], "GET", "/swarmlab/local-logs?tasks=x", None,
                           ctx_of(mgr3))
        return status == 403 and doc["message"] == REMOVED.format(mgr3.node_id)
    lab.wait_for(worker5_refuses, 15, "node5 to refuse node3's certificate")
    assert call(addr["node5"], "GET", "/swarmlab/local-logs?tasks=x", None,
                ctx_of(own1))[0] == 200
    # the swarm is fine: not locked, a write goes through
    assert c.info()["Swarm"]["LocalNodeState"] == "active"
    c.secrets.create(name="after", data=b"x")

    # replicated in the store: it survives a restart ...
    lab.restart("node2")
    lab.wait_for(lambda: call(addr["node2"], "GET", "/swarmlab/leader", None,
                              ctx_of(own1))[0] == 200, 30, "node2 back in the swarm")
    assert_refused_everywhere(lab, [addr["node2"]], mgr3, wkr4)
    # ... and a backup
    path = tmp_path / "b.tgz"
    lab.backup("node1", str(path))
    restored = tmp_path / "restored"
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes())) as tar:
        tar.extractall(restored, filter="data")
    storage = open_encrypted(FileStorage(str(restored / "swarm" / "raft")),
                             KeyManager(restored / "swarm"))
    store = MemoryStore(name="backup")
    store.restore(storage.load().snapshot.data)
    storage.close()
    assert set(store.view().cluster().blacklisted_certificates) == {mgr3.node_id, wkr4.node_id}
