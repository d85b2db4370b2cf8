"""`swarm ca --rotate` on real node processes (local backend): 3 managers and a worker.

The rotation is started by the CLI exactly as `docker swarm ca --rotate` does (inspect,
`Spec.CAConfig.ForceRotate` + 1, `POST /swarm/update`) and waits with Docker's progress
lines; meanwhile the test scales a service. Afterwards every node's certificate chains
to the new root, the old root's certificates are refused on 2377 and 2378, the old join
tokens are refused, and the service still scales.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys
import time

import docker
import pytest

from swarmlab.node.manager_raft import raft_id_of
from swarmlab.ca import CertificateError, NodeCertificates, RootCA, client_context, new_key_and_csr

from test_mtls_local import INVALID_TOKEN, post, raft_dial

NODES = ("node1", "node2", "node3", "node4")


def certs(home: pathlib.Path, node: str) -> NodeCertificates:
    c = NodeCertificates.load(home / "labs" / "rot" / "nodes" / node / "swarm")
    assert c is not None
    return c


def running(c, name: str) -> int:
    return sum(t["Status"]["State"] == "running" and t["DesiredState"] == "running"
               for t in c.api.tasks(filters={"service": name}))


def test_swarm_ca_rotate_end_to_end(lab_factory, lab_home):
    lab = lab_factory("rot", managers=3, workers=1)
    c = lab.client()
    c.services.create("swarmlab/web:1", name="www", mode={"replicated": {"Replicas": 2}})
    lab.wait_for(lambda: running(c, "www") == 2, 60, "2 replicas running")
    before = c.api.inspect_swarm()
    old_root, old_tokens = before["TLSInfo"]["TrustRoot"], before["JoinTokens"]
    assert before["RootRotationInProgress"] is False
    assert "RootCA" not in before and "CAKey" not in str(before)  # the key is never shown
    old_manager = certs(lab_home, "node2")  # a manager's certificate of the old root

    # docker swarm ca --rotate, with the progress; the cluster is used meanwhile
    env = {**os.environ, "SWARMLAB_HOME": str(lab_home)}
    t0 = time.monotonic()
    cli = subprocess.Popen([sys.executable, "-m", "swarmlab.cli", "--lab", "rot", "swarm", "ca",
                            "--rotate"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        lab.wait_for(lambda: c.api.inspect_swarm()["Spec"]["CAConfig"].get("ForceRotate") == 1,
                     30, "the rotation to start")
        c.services.get("www").scale(4)
        lab.wait_for(lambda: running(c, "www") == 4, 90, "4 replicas during the rotation")
        out, err = cli.communicate(timeout=180)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    took = time.monotonic() - t0
    assert cli.returncode == 0, err
    after = c.api.inspect_swarm()
    new_root = after["TLSInfo"]["TrustRoot"]
    assert new_root != old_root and after["RootRotationInProgress"] is False
    assert "desired root digest: sha256:" in out
    assert "  rotated TLS certificates:  [" in out and "] 4/4 nodes" in out
    assert "  rotated CA certificates:   [" in out
    assert out.rstrip().endswith(new_root.strip())  # then the new root, as docker prints
    print(f"rotation of 4 nodes took {took:.1f}s")

    # every node trusts only the new root and holds a certificate chaining to it
    anchor = RootCA.trusting(new_root.encode())
    for node in NODES:
        nc = certs(lab_home, node)
        assert nc.root_pem == new_root.encode(), node
        anchor.verify_chain(nc.cert_chain_pem)
        with pytest.raises(CertificateError):  # its key is the new root's, not the old one's
            RootCA.trusting(old_root.encode()).verify_chain(nc.cert)
    for n in c.api.nodes():
        assert n["Description"]["TLSInfo"]["TrustRoot"] == new_root
        assert n["Description"]["TLSInfo"]["CertIssuerPublicKey"] == \
            after["TLSInfo"]["CertIssuerPublicKey"]

    # the join tokens changed to the new root's digest; the old ones are refused
    new_tokens = after["JoinTokens"]
    digest = hashlib.sha256(new_root.encode()).hexdigest()
    assert f"{int(new_tokens['Worker'].split('-')[2], 36):064x}" == digest
    assert new_tokens["Worker"] != old_tokens["Worker"]
    leader = lab.record.node(lab.leader())
    ok = certs(lab_home, "node4")
    ctx = client_context(ok.cert_chain_pem, ok.key_pem, ok.root_pem)
    ctx.check_hostname = False
    _, csr = new_key_and_csr()
    status, doc = post(leader.addr, 2378, "/swarmlab/join",
                       {"JoinToken": old_tokens["Worker"], "CSR": csr.decode(),
                        "Hostname": "late", "Addr": "127.0.0.99:2377"}, ctx)
    assert status == 400 and doc["message"] == INVALID_TOKEN

    # a certificate of the old root is refused on the Raft port and the internal API
    old_ctx = client_context(old_manager.cert_chain_pem, old_manager.key_pem, new_root)
    old_ctx.check_hostname = False
    result = raft_dial(leader.addr, 2377, old_ctx, raft_id_of(old_manager.node_id))
    assert result.startswith("refused"), result
    old_ctx = client_context(old_manager.cert_chain_pem, old_manager.key_pem, new_root)
    old_ctx.check_hostname = False
    with pytest.raises(OSError):
        post(leader.addr, 2378, "/swarmlab/dispatcher/heartbeat",
             {"NodeID": old_manager.node_id, "SessionID": "x"}, old_ctx)

    # and the swarm still works: the service scales down again
    c.services.get("www").scale(2)
    lab.wait_for(lambda: running(c, "www") == 2 and len(c.api.tasks(
        filters={"service": "www", "desired-state": "running"})) == 2, 60, "2 replicas after")


def test_swarm_ca_flags_and_joining_after_a_rotation(lab_factory, lab_home):
    """`swarm ca` prints the root; `--cert-expiry` needs `--rotate`; `--detach` returns at
    once (twice in a row: the second rotation starts over); `-q` prints nothing. After a rotation the old token cannot join, the new one
    can, and the new node's certificate chains to the new root."""
    lab = lab_factory("rot", nodes=2)
    c1, c2 = lab.client("node1"), lab.client("node2")
    n1 = lab.record.node("node1")
    c1.swarm.init(advertise_addr=f"{n1.addr}:2377")
    env = {**os.environ, "SWARMLAB_HOME": str(lab_home)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "swarmlab.cli", "--lab", "rot",
                               "--node", "node1", "swarm", "ca", *args], env=env,
                              capture_output=True, text=True, timeout=120)
    before = c1.api.inspect_swarm()
    root, old_worker = before["TLSInfo"]["TrustRoot"], before["JoinTokens"]["Worker"]
    r = cli()
    assert r.returncode == 0 and r.stdout == root.strip() + "\n"
    r = cli("--cert-expiry", "48h")
    assert r.returncode != 0
    assert "`--cert-expiry` flag requires the `--rotate` flag to update the CA" in r.stderr
    for _ in range(2):  # returns at once; the second starts over (or anew) meanwhile
        r = cli("--rotate", "--detach")
        assert r.returncode == 0 and r.stdout == ""
    assert c1.api.inspect_swarm()["Spec"]["CAConfig"]["ForceRotate"] == 2
    lab.wait_for(lambda: not c1.api.inspect_swarm()["RootRotationInProgress"], 60,
                 "the detached rotations to complete")
    after = c1.api.inspect_swarm()
    new_root = after["TLSInfo"]["TrustRoot"]
    assert new_root != root
    with pytest.raises(docker.errors.APIError) as e:  # the old token: another CA's digest
        c2.swarm.join(remote_addrs=[f"{n1.addr}:2377"], join_token=old_worker)
    assert "remote CA does not match fingerprint" in str(e.value)
    c2.swarm.join(remote_addrs=[f"{n1.addr}:2377"], join_token=after["JoinTokens"]["Worker"])
    RootCA.trusting(new_root.encode()).verify_chain(certs(lab_home, "node2").cert_chain_pem)
    r = cli("--rotate", "-q")  # waits for both nodes, prints nothing
    assert r.returncode == 0 and r.stdout == "", r.stderr
    final = c1.api.inspect_swarm()
    assert final["RootRotationInProgress"] is False
    assert final["TLSInfo"]["TrustRoot"] not in (root, new_root)
    for node in ("node1", "node2"):
        assert certs(lab_home, node).root_pem == final["TLSInfo"]["TrustRoot"].encode()
