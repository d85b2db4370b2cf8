"""The join flow and the Engine API over HTTPS with aiohttp, and docker-py with `--tlsverify`.

The join flow here is the one docs/security.md describes for the node agent: download the
CA unverified, check the token's digest, pin it; send a CSR with the token over TLS that
verifies the manager; then every call uses mutual TLS and is authorized by role.
"""
import asyncio
import contextlib

import docker
import pytest
import requests
from aiohttp import ClientSession, web

from swarmlab.ca import (
    InvalidToken, JoinTokens, NodeCertificates, PermissionDenied, RootCA, api_server_context,
    client_context, fetch_root_ca, new_key_and_csr, peer_identity, require_manager,
    role_hostname, server_context, write_docker_client_certs,
)

pytestmark = pytest.mark.timeout(60)
MANAGER = role_hostname("manager")


@contextlib.asynccontextmanager
async def serve(app, ctx):
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def manager_app(ca, tokens):
    async def root_ca(request):
        return web.Response(body=ca.cert_pem())

    async def join(request):
        body = await request.json()
        try:
            role = tokens.role_for(body["JoinToken"])
        except InvalidToken as e:
            return web.json_response({"message": str(e)}, status=400)
        chain = ca.issue(body["CSR"].encode(), body["NodeID"], role, addresses=["127.0.0.1"])
        return web.json_response({"Certificate": chain.decode(), "Role": role})

    async def manager_op(request):
        try:
            node_id = require_manager(peer_identity(request))
        except PermissionDenied as e:
            return web.json_response({"message": str(e)}, status=403)
        return web.json_response({"Caller": node_id})

    app = web.Application()
    app.router.add_get("/swarmlab/ca", root_ca)
    app.router.add_post("/swarmlab/join", join)
    app.router.add_post("/swarmlab/raft/join", manager_op)
    return app


async def join(base, token, node_id):
    """What a joining node does, start to finish; returns its NodeCertificates."""
    ca_pem = await fetch_root_ca(base + "/swarmlab/ca", token)
    key_pem, csr_pem = new_key_and_csr()
    pinned = client_context_no_cert(ca_pem)
    async with ClientSession() as http:
        async with http.post(base + "/swarmlab/join", ssl=pinned, server_hostname=MANAGER,
                             json={"JoinToken": token, "CSR": csr_pem.decode(),
                                   "NodeID": node_id}) as r:
            doc = await r.json()
            if r.status != 200:
                raise InvalidToken(doc["message"])
    return NodeCertificates(ca_pem, doc["Certificate"].encode(), key_pem)


def client_context_no_cert(ca_pem):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=ca_pem.decode())
    return ctx


async def call_manager_op(base, certs):
    ctx = client_context(certs.cert_chain_pem, certs.key_pem, certs.root_pem)
    async with ClientSession() as http:
        async with http.post(base + "/swarmlab/raft/join", ssl=ctx,
                             server_hostname=MANAGER) as r:
            return r.status, await r.json()


@pytest.fixture(scope="module")
def swarm():
    ca = RootCA.create("cluster-a")
    key, csr = new_key_and_csr()
    leader = NodeCertificates(ca.cert_pem(), ca.issue(csr, "leader", "manager",
                                                      addresses=["127.0.0.1"]), key)
    return ca, JoinTokens.create(ca.digest()), leader


def test_join_flow_then_role_checks(swarm, tmp_path):
    ca, tokens, leader = swarm
    # the join port: a node without a certificate must get through the handshake
    ctx = server_context(leader.cert_chain_pem, leader.key_pem, ca, require_client_cert=False)

    async def go():
        async with serve(manager_app(ca, tokens), ctx) as base:
            worker = await join(base, tokens.worker, "w1")
            manager = await join(base, tokens.manager, "m2")
            worker.save(tmp_path / "w1")
            assert NodeCertificates.load(tmp_path / "w1") == worker
            return (worker, manager, await call_manager_op(base, worker),
                    await call_manager_op(base, manager))
    worker, manager, as_worker, as_manager = asyncio.run(go())
    assert (worker.node_id, worker.role, worker.cluster_id) == ("w1", "worker", "cluster-a")
    assert (manager.node_id, manager.role) == ("m2", "manager")
    assert as_worker == (403, {"message": "Permission denied: remote certificate not part of "
                                          "OUs: [swarm-manager]"})
    assert as_manager == (200, {"Caller": "m2"})


def test_join_refused_for_wrong_swarm_and_rotated_token(swarm):
    ca, tokens, leader = swarm
    ctx = server_context(leader.cert_chain_pem, leader.key_pem, ca, require_client_cert=False)
    other_swarm_token = JoinTokens.create(RootCA.create("cluster-b").digest()).worker
    rotated = tokens.rotate("worker")

    async def go():
        async with serve(manager_app(ca, rotated), ctx) as base:
            with pytest.raises(InvalidToken, match="remote CA does not match fingerprint"):
                await join(base, other_swarm_token, "w9")
            with pytest.raises(InvalidToken,
                               match="A valid join token is necessary to join this cluster"):
                await join(base, tokens.worker, "w9")  # right swarm, rotated out
            return await join(base, rotated.worker, "w9")
    assert asyncio.run(go()).role == "worker"


def test_docker_py_connects_with_tlsverify(swarm, tmp_path, monkeypatch):
    ca, _, leader = swarm
    # requests lets these override a session's `verify` (psf/requests#3829), and so
    # docker-py's `ca_cert`: a machine that sets them would check against its system CAs
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    seen = []

    async def ping(request):
        seen.append(peer_identity(request))
        return web.Response(text="OK", headers={"API-Version": "1.44"})

    app = web.Application()
    app.router.add_get("/_ping", ping)
    app.router.add_get("/v1.44/_ping", ping)
    good = write_docker_client_certs(tmp_path / "good", ca, name="student")
    bad = write_docker_client_certs(tmp_path / "bad", RootCA.create("cluster-a"), name="student")
    ctx = api_server_context(leader.cert_chain_pem, leader.key_pem, ca)

    def docker_ping(base, paths):
        tls = docker.tls.TLSConfig(client_cert=(str(paths["cert"]), str(paths["key"])),
                                   ca_cert=str(paths["ca"]), verify=True)
        client = docker.DockerClient(base_url=base, tls=tls, version="1.44", timeout=10)
        try:
            return client.ping()
        finally:
            client.close()

    async def go():
        loop = asyncio.get_running_loop()
        async with serve(app, ctx) as base:
            ok = await loop.run_in_executor(None, docker_ping, base, good)
            with pytest.raises((requests.exceptions.RequestException,
                                docker.errors.DockerException)):
                await loop.run_in_executor(None, docker_ping, base, bad)
            return ok
    assert asyncio.run(go()) is True
    assert seen == [("student", None)]  # a client certificate: no swarm role
    assert sorted(p.name for p in (tmp_path / "good").iterdir()) == [
        "ca.pem", "cert.pem", "key.pem"]
