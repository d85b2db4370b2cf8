"""Mutual TLS between real node processes (local backend): who may talk to whom.

A swarm of node1 (manager) and node2 (worker); node3 tries to join with bad tokens.
Forged, expired and wrong-role certificates are made with `swarmlab.ca`, the real ones
read from the nodes' `swarm/certificates/` (the CA's key from the manager's
`swarm-root-ca.json`, opened with its KEK, which lies next to it without autolock).
"""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import http.client
import json
import pathlib
import socket
import ssl
import time

import docker
import pytest

from swarmlab.node.manager_raft import raft_id_of
from swarmlab.node.security import NodeSecurity
from swarmlab.ca import (
    NodeCertificates, RootCA, client_context, generate_join_token, new_key_and_csr, role_of,
    node_id_of,
)
from swarmlab.crypto import KeyManager
from swarmlab.lab import Lab, _docker_client
from swarmlab.raft.shell.codec import FrameKind, encode_value, frame

WORKER_OU_REFUSAL = "Permission denied: remote certificate not part of OUs: [swarm-manager]"
INVALID_TOKEN = "A valid join token is necessary to join this cluster"


@pytest.fixture(scope="module")
def swarm(tmp_path_factory):
    import os
    home = tmp_path_factory.mktemp("mtls") / "home"
    old = os.environ.get("SWARMLAB_HOME")
    os.environ["SWARMLAB_HOME"] = str(home)
    lab = Lab.up("mtls", nodes=3)
    try:
        n1, n2, n3 = (lab.record.node(f"node{i}") for i in (1, 2, 3))
        c1, c2, c3 = (_docker_client(n.api_url) for n in (n1, n2, n3))
        c1.swarm.init(advertise_addr=f"{n1.addr}:2377")
        c1.swarm.reload()
        c2.swarm.join(remote_addrs=[f"{n1.addr}:2377"],
                      join_token=c1.swarm.attrs["JoinTokens"]["Worker"])
        lab.wait_for(lambda: len(c1.api.nodes()) == 2 and all(
            n["Status"]["State"] == "ready" for n in c1.api.nodes()), 20, "2 ready nodes")
        dirs = {name: home / "labs" / "mtls" / "nodes" / name / "swarm"
                for name in ("node1", "node2", "node3")}
        yield {"lab": lab, "nodes": (n1, n2, n3), "clients": (c1, c2, c3), "dirs": dirs}
    finally:
        lab.down()
        if old is None:
            os.environ.pop("SWARMLAB_HOME", None)
        else:
            os.environ["SWARMLAB_HOME"] = old


def certs_of(swarm, node: str) -> NodeCertificates:
    c = NodeCertificates.load(swarm["dirs"][node])
    assert c is not None
    return c


def the_ca(swarm) -> RootCA:
    d = swarm["dirs"]["node1"]
    ca = NodeSecurity(pathlib.Path(d)).load_ca(KeyManager(d))
    assert ca is not None
    return ca


def raft_dial(addr: str, port: int, ctx: ssl.SSLContext, hello: int | None) -> str:
    """Dial a manager's Raft port like a peer: TLS, then HELLO (None: a client's `status`
    request instead, whose answer is read as "open"). Returns what happened:
    "refused: ..." (the handshake failed), "closed" (the server hung up after the HELLO)
    or "open". TLS 1.2 here, so that the server's verdict on our certificate is part of
    the handshake (with 1.3 it comes after, and a refusal looks like a hang-up)."""
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((addr, port), timeout=3) as raw:
        try:
            s = ctx.wrap_socket(raw, server_hostname="swarm-manager")
        except (ssl.SSLError, ConnectionResetError) as e:
            return f"refused: {e}"
        with s:
            s.sendall(frame(FrameKind.HELLO, encode_value(hello)) if hello is not None else
                      frame(FrameKind.CLIENT_REQ, encode_value([[1, "status", None]])))
            s.settimeout(1.5)
            try:
                return "open" if s.recv(1) else "closed"
            except (TimeoutError, socket.timeout):
                return "open"
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError):
                return "closed"


def post(addr: str, port: int, path: str, body: dict,
         ctx: ssl.SSLContext, timeout: float = 5) -> tuple[int, dict]:
    conn = http.client.HTTPSConnection(addr, port, context=ctx, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def node_ctx(certs: NodeCertificates) -> ssl.SSLContext:
    ctx = client_context(certs.cert_chain_pem, certs.key_pem, certs.root_pem)
    ctx.check_hostname = False  # dialed by IP here; the chain is still verified
    return ctx


def test_certificates_say_node_and_role(swarm):
    c1 = swarm["clients"][0]
    ids = {n["Description"]["Hostname"]: n["ID"] for n in c1.api.nodes()}
    for name, role in (("node1", "manager"), ("node2", "worker")):
        cert = certs_of(swarm, name).cert
        assert node_id_of(cert) == ids[name] and role_of(cert) == role
    # the token carries the CA's digest
    tokens = c1.swarm.attrs["JoinTokens"]
    assert the_ca(swarm).digest() == f"{int(tokens['Worker'].split('-')[2], 36):064x}"
    # a worker never holds the CA's key
    assert not (swarm["dirs"]["node2"] / "certificates" / "swarm-root-ca.json").exists()


def test_raft_port_refuses_forged_and_expired_certificates(swarm):
    n1 = swarm["nodes"][0]
    real = certs_of(swarm, "node1")
    node_id = real.node_id
    # forged: a manager certificate for node1's ID from another CA
    other = RootCA.create(real.cluster_id)
    key, csr = new_key_and_csr()
    forged = other.issue(csr, node_id, "manager")
    ctx = client_context(forged, key, real.root_pem)
    assert raft_dial(n1.addr, 2377, ctx, raft_id_of(node_id)).startswith("refused")
    # expired: from the right CA, but its life ended yesterday
    ca = the_ca(swarm)
    key, csr = new_key_and_csr()
    expired = ca.issue(csr, "expiredmgr", "manager",
                       now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1),
                       expiry=dt.timedelta(minutes=5))
    ctx = client_context(expired, key, real.root_pem)
    assert raft_dial(n1.addr, 2377, ctx, raft_id_of("expiredmgr")).startswith("refused")
    # a valid manager certificate whose HELLO claims another Raft id: hung up on
    key, csr = new_key_and_csr()
    valid = ca.issue(csr, "othermgr", "manager")
    ctx = client_context(valid, key, real.root_pem)
    assert raft_dial(n1.addr, 2377, ctx, raft_id_of(node_id)) == "closed"
    # ... and a worker's certificate: hung up on
    w = certs_of(swarm, "node2")
    ctx = client_context(w.cert_chain_pem, w.key_pem, w.root_pem)
    assert raft_dial(n1.addr, 2377, ctx, raft_id_of(w.node_id)) == "closed"
    # ... and the same valid certificate with its own Raft id: the store knows no manager
    # "othermgr" (only managers and Raft members of the store speak Raft: issue 18)
    ctx = client_context(valid, key, real.root_pem)
    assert raft_dial(n1.addr, 2377, ctx, raft_id_of("othermgr")) == "closed"
    # the control: the manager's own certificate stays connected (a client request)
    ctx = client_context(real.cert_chain_pem, real.key_pem, real.root_pem)
    assert raft_dial(n1.addr, 2377, ctx, None) == "open"


def test_worker_certificate_cannot_call_manager_operations(swarm):
    n1 = swarm["nodes"][0]
    w = certs_of(swarm, "node2")
    status, doc = post(n1.addr, 2378, "/swarmlab/raft/join",
                       {"RaftID": raft_id_of(w.node_id), "NodeID": w.node_id,
                        "Addr": f"{swarm['nodes'][1].addr}:2377"}, node_ctx(w))
    assert (status, doc["message"]) == (403, WORKER_OU_REFUSAL)
    status, doc = post(n1.addr, 2378, "/swarmlab/keys", {"Autolock": False}, node_ctx(w))
    assert (status, doc["message"]) == (403, WORKER_OU_REFUSAL)


def test_node_cannot_speak_for_another(swarm):
    n1 = swarm["nodes"][0]
    w, m = certs_of(swarm, "node2"), certs_of(swarm, "node1")
    for path in ("/swarmlab/dispatcher/session", "/swarmlab/dispatcher/heartbeat",
                 "/swarmlab/dispatcher/status"):
        status, doc = post(n1.addr, 2378, path, {"NodeID": m.node_id, "SessionID": "x"},
                           node_ctx(w))
        assert status == 403, doc
        assert doc["message"].startswith("Permission denied: the remote certificate is node "
                                         f"{w.node_id}'s")
    # and without any certificate, the dispatcher is closed
    anon = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anon.check_hostname, anon.verify_mode = False, ssl.CERT_NONE
    status, doc = post(n1.addr, 2378, "/swarmlab/dispatcher/heartbeat",
                       {"NodeID": w.node_id, "SessionID": "x"}, anon)
    assert (status, doc["message"]) == (403, "Permission denied: no client certificates in request")


def test_wrong_rotated_and_foreign_tokens_are_refused(swarm):
    n1 = swarm["nodes"][0]
    c1, c3 = swarm["clients"][0], swarm["clients"][2]
    remote = [f"{n1.addr}:2377"]
    old = c1.swarm.attrs["JoinTokens"]["Worker"]
    digest = f"{int(old.split('-')[2], 36):064x}"
    with pytest.raises(docker.errors.APIError) as e:  # right swarm, wrong secret
        c3.swarm.join(remote_addrs=remote, join_token=generate_join_token(digest))
    assert INVALID_TOKEN in str(e.value)
    c1.swarm.update(rotate_worker_token=True)
    c1.swarm.reload()
    assert c1.swarm.attrs["JoinTokens"]["Worker"] != old
    with pytest.raises(docker.errors.APIError) as e:  # rotated out
        c3.swarm.join(remote_addrs=remote, join_token=old)
    assert INVALID_TOKEN in str(e.value)
    foreign = generate_join_token(RootCA.create("another-swarm").digest())
    with pytest.raises(docker.errors.APIError) as e:  # another swarm's token
        c3.swarm.join(remote_addrs=remote, join_token=foreign)
    assert "remote CA does not match fingerprint. Expected: " in str(e.value)
    assert c3.info()["Swarm"]["LocalNodeState"] == "inactive"
    # the new token works, and the node gets a worker certificate
    c3.swarm.join(remote_addrs=remote, join_token=c1.swarm.attrs["JoinTokens"]["Worker"])
    assert role_of(certs_of(swarm, "node3").cert) == "worker"


def test_certificates_follow_role_changes_and_renew_before_expiry(lab_factory):
    lab: Lab = lab_factory("renew", nodes=2)
    n1, n2 = (lab.record.node(f"node{i}") for i in (1, 2))
    c1, c2 = (_docker_client(n.api_url) for n in (n1, n2))
    # `swarm init --cert-expiry 60s`: a lifetime of 2 min (notBefore is backdated 1 min),
    # renewed at 50-80% of it, so within 36 s of being issued
    c1.swarm.init(advertise_addr=f"{n1.addr}:2377", node_cert_expiry=60 * 10**9)
    c1.swarm.reload()
    c2.swarm.join(remote_addrs=[f"{n1.addr}:2377"],
                  join_token=c1.swarm.attrs["JoinTokens"]["Worker"])
    d2 = lab.record.dir / "nodes" / "node2" / "swarm"
    cert = lambda: NodeCertificates.load(d2).cert  # noqa: E731
    first = cert()
    assert role_of(first) == "worker"
    assert (first.not_valid_after_utc - first.not_valid_before_utc) == dt.timedelta(minutes=2)
    lab.wait_for(lambda: cert().serial_number != first.serial_number, 45, "a renewed certificate")
    assert role_of(cert()) == "worker" and node_id_of(cert()) == node_id_of(first)
    # promote: a manager certificate and the CA; demote: a worker certificate again
    nid = node_id_of(first)
    n = c1.api.inspect_node(nid)
    c1.api.update_node(nid, n["Version"]["Index"], dict(n["Spec"], Role="manager"))
    lab.wait_for(lambda: role_of(cert()) == "manager" and c2.info()["Swarm"]["ControlAvailable"],
                 30, "node2 a manager with a manager certificate")
    assert (d2 / "certificates" / "swarm-root-ca.json").exists()
    lab.wait_for(lambda: c1.info()["Swarm"].get("Managers") == 2, 30, "2 managers")
    # `swarm update --cert-expiry 90s` reaches the CA of every manager
    c1.swarm.update(node_cert_expiry=90 * 10**9)
    ca_files = [lab.record.dir / "nodes" / node / "swarm" / "certificates" /
                "swarm-root-ca.json" for node in ("node1", "node2")]
    lab.wait_for(lambda: all(json.loads(f.read_text())["NodeCertExpiry"] == 90
                             for f in ca_files), 10, "the new expiry on both managers")
    n = c1.api.inspect_node(nid)
    c1.api.update_node(nid, n["Version"]["Index"], dict(n["Spec"], Role="worker"))
    lab.wait_for(lambda: role_of(cert()) == "worker", 30, "node2 back to a worker certificate")
    assert not (d2 / "certificates" / "swarm-root-ca.json").exists()


def listening_ports(pid: int, host: str) -> set[int]:
    """TCP ports the node process (or a child) listens on at its address."""
    import os
    from swarmlab.lab.local import descendants
    inodes = set()
    for p in descendants(pid):
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                target = os.readlink(f"/proc/{p}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    want = socket.inet_aton(host)[::-1].hex().upper()  # /proc/net/tcp: little-endian
    ports = set()
    for line in pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        addr, port = f[1].split(":")
        if f[3] == "0A" and f[9] in inodes and addr == want:
            ports.add(int(port, 16))
    return ports


def test_mesh_control_traffic_flows_only_over_mutual_tls(swarm):
    """The routing mesh is programmed by the dispatcher's heartbeat on 2378: the node sends
    its task endpoints, the leader answers with the mesh table. There is no other control
    channel: a worker listens on its address only on the Engine API, 2378 (TLS), the
    published ports (the data plane) and the metrics port."""
    lab, (n1, n2, _), (c1, _, _) = swarm["lab"], swarm["nodes"], swarm["clients"]
    svc = c1.services.create("swarmlab/web:1", name="meshctl",
                             endpoint_spec=docker.types.EndpointSpec(ports={18080: 80}))
    try:
        lab.wait_for(lambda: 18080 in listening_ports(lab.record.node("node2").pid, n2.addr),
                     60, "node2's routing mesh to publish 18080")
        ports = listening_ports(lab.record.node("node2").pid, n2.addr)
        assert ports - {18080} <= {2375, 2378, 9323}, ports
        with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected,
                            http.client.BadStatusLine)):  # 2378 speaks nothing but TLS
            plain = http.client.HTTPConnection(n2.addr, 2378, timeout=5)
            plain.request("GET", "/swarmlab/ca")
            plain.getresponse()
        # the mesh table comes in the heartbeat answer, to a verified node certificate only
        w = certs_of(swarm, "node2")
        status, doc = post(n1.addr, 2378, "/swarmlab/dispatcher/session",
                           {"NodeID": w.node_id, "Addr": f"{n2.addr}:2377"}, node_ctx(w))
        assert status == 200, doc
        status, doc = post(n1.addr, 2378, "/swarmlab/dispatcher/heartbeat",
                           {"NodeID": w.node_id, "SessionID": doc["SessionID"]}, node_ctx(w))
        assert status == 200, doc
        mesh = {s["Name"]: s for s in doc["Mesh"]["Services"]}
        assert mesh["meshctl"]["Ports"][0]["PublishedPort"] == 18080
        anon = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        anon.check_hostname, anon.verify_mode = False, ssl.CERT_NONE
        status, doc = post(n1.addr, 2378, "/swarmlab/dispatcher/heartbeat",
                           {"NodeID": w.node_id, "SessionID": "x"}, anon)
        assert status == 403 and "Mesh" not in doc
    finally:
        svc.remove()


def test_heartbeat_waits_until_the_assignment_changes(swarm):
    """The dispatcher streams assignments: a heartbeat that says which assignment the node
    holds (`Known`) is answered when that assignment changes, or `Unchanged` after the
    hold (its `Wait`, at most half the heartbeat period)."""
    lab, (n1, _, _), (c1, _, _) = swarm["lab"], swarm["nodes"], swarm["clients"]
    w = certs_of(swarm, "node2")
    spec = c1.swarm.attrs["Spec"]["Dispatcher"]
    lab.pause("node2")  # its own agent must not take the session back meanwhile
    try:
        c1.swarm.update(dispatcher_heartbeat_period=20 * 10**9)  # holds of up to 10 s
        status, doc = post(n1.addr, 2378, "/swarmlab/dispatcher/session",
                           {"NodeID": w.node_id, "Addr": "127.0.0.1:2377"}, node_ctx(w))
        assert status == 200, doc

        def beat(**kw) -> tuple[float, int, dict]:
            t0 = time.monotonic()
            status, doc = post(n1.addr, 2378, "/swarmlab/dispatcher/heartbeat",
                               {"NodeID": w.node_id, "SessionID": sid, **kw}, node_ctx(w), 30)
            return time.monotonic() - t0, status, doc
        sid = doc["SessionID"]
        # the new period is in the answer (and its fingerprint) once the leader applied it
        first = lab.wait_for(lambda: (r := beat())[1] == 200 and r[2]["Period"] == 20 * 10**9
                             and r[2], 10, "the new heartbeat period in the answer")
        assert first["Known"] and not first.get("Unchanged")
        took, status, doc = beat(Known=first["Known"], Wait=1.5)
        assert status == 200 and doc == {"Known": first["Known"], "Unchanged": True,
                                         "Period": 20 * 10**9}, doc
        assert 1.4 <= took < 5, took
        # a change while the heartbeat waits (a global service: a task for node2 too)
        # is answered at once, with the new assignment
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(beat, Known=first["Known"], Wait=10)
            time.sleep(0.5)
            svc = c1.services.create("swarmlab/web:1", name="pushed",
                                     mode=docker.types.ServiceMode("global"))
            took, status, doc = held.result()
        try:
            assert status == 200 and doc["Known"] != first["Known"], doc
            assert took < 5, took
            assert "pushed" in {s["Name"] for s in doc["Mesh"]["Services"]}
        finally:
            svc.remove()
    finally:
        c1.swarm.update(dispatcher_heartbeat_period=spec["HeartbeatPeriod"])
        lab.unpause("node2")
    lab.wait_for(lambda: all(n["Status"]["State"] == "ready" for n in c1.api.nodes()
                             if n["Description"]["Hostname"] == "node2"),
                 30, "node2 back with its own session")
