"""Mutual TLS in real handshakes on 127.0.0.1: who gets in, who is refused, and why."""
import asyncio
import datetime as dt
import ssl

import pytest

from swarmlab.ca import (
    JoinTokens, PermissionDenied, RootCA, client_context, new_key_and_csr, peer_identity,
    require_manager, require_role, role_hostname, server_context,
)

pytestmark = pytest.mark.timeout(60)
UTC = dt.timezone.utc
MANAGER = role_hostname("manager")


def node(ca, node_id, role, **kw):
    key, csr = new_key_and_csr()
    return ca.issue(csr, node_id, role, addresses=["127.0.0.1"], **kw), key


def ctxs(ca_pem, chain, key, require_client_cert=True):
    return (server_context(chain, key, ca_pem, require_client_cert=require_client_cert),
            client_context(chain, key, ca_pem))


async def exchange(server_ctx, client_ctx, hostname=MANAGER, manager_only=False):
    """One connection: the server answers with who it thinks the client is (or why it is
    refused). Returns (what the server saw, what the client read)."""
    seen = []

    async def handle(reader, writer):
        ident = peer_identity(writer.transport)
        seen.append(ident)
        try:
            if manager_only:
                require_manager(ident)
            writer.write(f"hello {ident.node_id if ident else 'anonymous'}".encode())
        except PermissionDenied as e:
            writer.write(str(e).encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname=hostname), 10)
        try:
            data = await asyncio.wait_for(reader.read(), 10)
        except (ssl.SSLError, ConnectionResetError) as e:
            data = e
        writer.close()
        return seen, data
    finally:
        server.close()
        await server.wait_closed()


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def ca():
    return RootCA.create("cluster-a")


@pytest.fixture(scope="module")
def manager1(ca):
    return node(ca, "manager1", "manager")


@pytest.fixture(scope="module")
def manager2(ca):
    return node(ca, "manager2", "manager")


def test_managers_authenticate_each_other(ca, manager1, manager2):
    srv, _ = ctxs(ca.cert_pem(), *manager1)
    _, cli = ctxs(ca.cert_pem(), *manager2)
    seen, data = run(exchange(srv, cli, manager_only=True))
    assert seen == [("manager2", "manager")]
    assert data == b"hello manager2"


def test_contexts_require_tls12_and_certificates(ca, manager1):
    srv, cli = ctxs(ca.cert_pem(), *manager1)
    for c in (srv, cli):
        assert c.minimum_version >= ssl.TLSVersion.TLSv1_2
        assert c.verify_mode == ssl.CERT_REQUIRED
    assert cli.check_hostname


def test_forged_client_certificate_refused_in_handshake(ca, manager1):
    forger = RootCA.create("cluster-a")  # same cluster ID, same node ID, another key
    srv, _ = ctxs(ca.cert_pem(), *manager1)
    _, cli = ctxs(forger.cert_pem(), *node(forger, "manager2", "manager"))
    cli.check_hostname, cli.verify_mode = False, ssl.CERT_NONE  # the forger trusts anyone
    seen, data = run(exchange(srv, cli))
    assert seen == []  # the server's handler never ran
    assert data == b"" or isinstance(data, (ssl.SSLError, ConnectionResetError))


def test_forged_server_certificate_refused_by_client(ca, manager2):
    forger = RootCA.create("cluster-a")
    srv, _ = ctxs(forger.cert_pem(), *node(forger, "manager1", "manager"))
    _, cli = ctxs(ca.cert_pem(), *manager2)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        run(exchange(srv, cli))


def test_expired_certificates_refused(ca, manager1, manager2):
    past = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    expired = node(ca, "old", "manager", expiry=dt.timedelta(minutes=5), now=past)
    srv, _ = ctxs(ca.cert_pem(), *manager1)
    _, cli = ctxs(ca.cert_pem(), *expired)
    seen, data = run(exchange(srv, cli))
    assert seen == [] and not (isinstance(data, bytes) and data)
    srv2, _ = ctxs(ca.cert_pem(), *expired)
    _, cli2 = ctxs(ca.cert_pem(), *manager2)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
        run(exchange(srv2, cli2))


def test_worker_certificate_refused_for_manager_only_operation(ca, manager1):
    srv, _ = ctxs(ca.cert_pem(), *manager1)
    _, cli = ctxs(ca.cert_pem(), *node(ca, "worker1", "worker"))
    seen, data = run(exchange(srv, cli, manager_only=True))
    assert seen == [("worker1", "worker")]
    assert data == b"Permission denied: remote certificate not part of OUs: [swarm-manager]"
    seen, data = run(exchange(srv, cli))  # an operation open to workers (dispatcher)
    assert data == b"hello worker1"
    assert require_role(seen[0], "worker", "manager") == "worker1"


def test_worker_cannot_pose_as_a_manager(ca, manager2):
    """A client dialing `swarm-manager` refuses a server whose certificate is a worker's."""
    srv, _ = ctxs(ca.cert_pem(), *node(ca, "worker1", "worker"))
    _, cli = ctxs(ca.cert_pem(), *manager2)
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        run(exchange(srv, cli, hostname=MANAGER))
    seen, data = run(exchange(srv, cli, hostname=role_hostname("worker")))
    assert data == b"hello manager2"


def test_client_without_certificate(ca, manager1):
    srv, _ = ctxs(ca.cert_pem(), *manager1)
    anon = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anon.load_verify_locations(cadata=ca.cert_pem().decode())
    seen, data = run(exchange(srv, anon))
    assert seen == [] and not (isinstance(data, bytes) and data)
    # the join port lets it in, with no identity: manager-only calls are refused
    open_srv, _ = ctxs(ca.cert_pem(), *manager1, require_client_cert=False)
    seen, data = run(exchange(open_srv, anon, manager_only=True))
    assert seen == [None]
    assert data == b"Permission denied: no client certificates in request"


def test_other_cluster_refused_by_organization(ca):
    other = RootCA.create("cluster-b")
    # a CA that (wrongly) trusts both roots still tells clusters apart by O
    both = ca.cert_pem() + other.cert_pem()
    srv = server_context(*node(ca, "m1", "manager"), both)
    cli = client_context(*node(other, "m9", "manager"), both)

    async def go():
        seen = []

        async def handle(reader, writer):
            try:
                seen.append(peer_identity(writer.transport, organization="cluster-a"))
            except PermissionDenied as e:
                seen.append(str(e))
            writer.close()
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=srv)
        port = server.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=cli, server_hostname=MANAGER)
        await asyncio.wait_for(r.read(), 10)
        w.close()
        server.close()
        await server.wait_closed()
        return seen
    assert run(go()) == [
        "Permission denied: remote certificate not part of organization: cluster-a"]


def test_ca_rotation_in_real_handshakes(ca):
    old_srv = node(ca, "manager1", "manager")
    rotating = ca.rotate()
    renewed = node(rotating, "worker1", "worker")
    # during rotation every node still pins the old root: both generations talk
    srv, _ = ctxs(ca.cert_pem(), *old_srv)
    _, cli = ctxs(rotating.cert_pem(), *renewed)
    assert run(exchange(srv, cli))[1] == b"hello worker1"
    srv_new, _ = ctxs(ca.cert_pem(), *node(rotating, "manager3", "manager"))
    _, cli_old = ctxs(ca.cert_pem(), *node(ca, "worker2", "worker"))
    assert run(exchange(srv_new, cli_old))[1] == b"hello worker2"
    # finished: nodes pin the new root; a certificate from the old key is refused
    done = rotating.finish_rotation()
    srv_done, _ = ctxs(done.cert_pem(), *node(done, "manager1", "manager"))
    _, cli_renewed = ctxs(done.cert_pem(), *renewed)
    assert run(exchange(srv_done, cli_renewed))[1] == b"hello worker1"
    _, cli_stale = ctxs(done.cert_pem(), *node(ca, "worker2", "worker"))
    seen, data = run(exchange(srv_done, cli_stale))
    assert seen == [] and not (isinstance(data, bytes) and data)


def test_join_tokens_reference_the_served_ca(ca):
    assert JoinTokens.create(ca.digest()).worker.split("-")[2] != ""
