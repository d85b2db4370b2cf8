"""`dockerd --tlsverify` on real node processes: `Lab.up(..., tlsverify=True)`.

Each node serves the Engine API over TLS on 2376 and requires a client certificate of
the lab's CA. docker-py connects the usual way (`TLSConfig`), `lab.client()` and the
swarmlab CLI use the lab's client certificate by themselves, a manager forwards a write
to the leader over TLS with its own certificate, and a client without a certificate (or
with one from another CA, or over plain HTTP) gets nothing.
"""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys

import docker
import pytest
import requests

from swarmlab.ca import RootCA, write_docker_client_certs


def test_engine_api_requires_client_certificates(lab_factory, lab_home, tmp_path,
                                                 monkeypatch):
    bundle = {k: os.environ[k] for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
              if k in os.environ}
    lab = lab_factory("tls", managers=2, workers=0, tlsverify=True)
    leader = lab.leader()
    follower = next(n for n in lab.nodes if n != leader)
    n = lab.record.node(follower)
    assert n.api_port == 2376 and n.api_url == f"https://{n.addr}:2376"

    # lab.client() presents the lab's client certificate
    assert lab.client().info()["Swarm"]["LocalNodeState"] == "active"

    # docker-py the usual way, against the follower: the write is forwarded over TLS.
    # requests lets REQUESTS_CA_BUNDLE override a session's CA file (requests#3829), which
    # docker-py's TLSConfig sets: with that variable set a docker-py user would not trust
    # the lab's CA. The lab's own clients turn the environment off; here it is unset.
    for k in bundle:
        monkeypatch.delenv(k)
    cert_dir = lab_home / "labs" / "tls" / "tls" / "client"
    assert sorted(p.name for p in cert_dir.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
    tls = docker.tls.TLSConfig(client_cert=(str(cert_dir / "cert.pem"),
                                            str(cert_dir / "key.pem")),
                               ca_cert=str(cert_dir / "ca.pem"), verify=True)
    c = docker.DockerClient(base_url=f"tcp://{n.addr}:2376", tls=tls, version="1.44", timeout=30)
    c.services.create("swarmlab/web:1", name="www", mode={"replicated": {"Replicas": 1}})
    assert [s.name for s in c.services.list()] == ["www"]
    assert len(c.nodes.list()) == 2
    # over TLS with a client certificate the caller is the operator: the routes that hand
    # out keys answer (on plain TCP they are refused: test_operator_local.py)
    assert c.api.get_unlock_key() == {"UnlockKey": ""}

    # no client certificate: the handshake is refused
    anon = docker.tls.TLSConfig(ca_cert=str(cert_dir / "ca.pem"), verify=True)
    bare = docker.DockerClient(base_url=f"tcp://{n.addr}:2376", tls=anon, version="1.44",
                               timeout=10)
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.SSLError)):
        bare.version()
    # a client certificate of another CA: refused too
    other = write_docker_client_certs(tmp_path / "other", RootCA.create("elsewhere"))
    forged = docker.tls.TLSConfig(client_cert=(str(other["cert"]), str(other["key"])),
                                  ca_cert=str(cert_dir / "ca.pem"), verify=True)
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.SSLError)):
        docker.DockerClient(base_url=f"tcp://{n.addr}:2376", tls=forged, version="1.44",
                            timeout=10).version()
    # the handshake itself fails without a certificate (TLS 1.2: the verdict is in it)
    ctx = ssl.create_default_context(cafile=str(cert_dir / "ca.pem"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((n.addr, 2376), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            ctx.wrap_socket(raw, server_hostname=n.addr)
    # and there is no plain HTTP API on 2375
    with pytest.raises(OSError):
        socket.create_connection((n.addr, 2375), timeout=3).close()

    # the swarmlab CLI uses the lab's certificate by itself
    env = {**os.environ, **bundle, "SWARMLAB_HOME": str(lab_home)}
    r = subprocess.run([sys.executable, "-m", "swarmlab.cli", "--lab", "tls", "service", "ls"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "www" in r.stdout


@pytest.mark.docker
def test_engine_api_over_tls_on_the_docker_backend(lab_home, docker_host):
    """The same option on Docker-in-Docker nodes: certificates copied into each node."""
    from swarmlab.lab.dind import leftovers, prune
    from swarmlab.lab import Lab
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    name = f"tls{os.getpid() % 100000}"
    try:
        lab = Lab.up(name, backend="docker", managers=1, workers=1, tlsverify=True,
                     images=False)
        n = lab.record.node("node2")
        assert n.api_url == f"https://{n.addr}:2376"
        c = lab.client()
        assert c.info()["Swarm"]["LocalNodeState"] == "active" and len(c.nodes.list()) == 2
        ctx = ssl.create_default_context(cafile=str(lab.record.dir / "tls" / "client" /
                                                    "ca.pem"))
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection((n.addr, 2376), timeout=5) as raw:
            with pytest.raises((ssl.SSLError, ConnectionResetError)):
                ctx.wrap_socket(raw, server_hostname=n.addr)
    finally:
        prune(name)
        assert leftovers(name) == {"containers": [], "networks": [], "volumes": []}
