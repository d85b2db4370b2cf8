"""EncryptedStorage as a drop-in under real Raft servers on loopback (with snapshots), and
autolock at restart."""
import asyncio
import socket

import pytest

from swarmlab.crypto import KeyManager, SwarmLocked, open_encrypted
from swarmlab.profiles import LAB
from swarmlab.raft.shell.file_storage import FileStorage
from swarmlab.raft.shell.server import RaftServer
from swarmlab.raft.shell.client import RaftClient

from test_crypto_at_rest import assert_nowhere

pytestmark = pytest.mark.timeout(60)


def free_peers(n):
    peers = {}
    for i in range(1, n + 1):
        with socket.socket() as s:
            s.bind((f"127.0.0.{i}", 0))
            peers[i] = (f"127.0.0.{i}", s.getsockname()[1])
    return peers


async def wait_for(pred, timeout=10.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


def storage(tmp_path, i, keys):
    return open_encrypted(FileStorage(tmp_path / f"n{i}" / "raft"), keys[i])


async def run_cluster(peers, storages):
    servers = {i: RaftServer(i, peers, storages[i], LAB, seed=i, snapshot_every=16)
               for i in peers}
    for s in servers.values():
        await s.start()
    await wait_for(lambda: sum(s.node.is_leader for s in servers.values()) == 1)
    return servers, next(i for i, s in servers.items() if s.node.is_leader)


def test_raft_cluster_on_encrypted_storage(tmp_path):
    secrets_ = [b"db-password-%03d-s3cr3t" % i for i in range(40)]
    peers = free_peers(3)
    keys = {i: KeyManager(tmp_path / f"n{i}") for i in peers}
    unlock = {i: keys[i].create(autolock=(i == 3)) for i in peers}

    async def first_run():
        servers, lead = await run_cluster(peers, {i: storage(tmp_path, i, keys) for i in peers})
        try:
            c = await RaftClient.connect(peers[lead])
            idxs = [await c.put(s) for s in secrets_]
            c.close()
            await wait_for(lambda: all(s.node.log.applied >= idxs[-1] for s in servers.values()))
            assert all(s.node.log.snapshot.index > 0 for s in servers.values())  # compacted
        finally:
            for s in servers.values():
                await s.close()
        return idxs
    idxs = asyncio.run(first_run())
    assert_nowhere(tmp_path, *secrets_)

    # restart: n1 and n2 open by themselves; n3 (autolock) stays locked until unlocked
    restarted = {i: KeyManager(tmp_path / f"n{i}") for i in peers}
    assert not restarted[1].locked and restarted[3].locked
    with pytest.raises(SwarmLocked):
        storage(tmp_path, 3, restarted)
    restarted[3].unlock(unlock[3])

    async def second_run():
        servers, lead = await run_cluster(peers, {i: storage(tmp_path, i, restarted)
                                                  for i in peers})
        try:
            await wait_for(lambda: all(s.node.log.applied >= idxs[-1]
                                       for s in servers.values()))
            c = await RaftClient.connect(peers[lead])
            items = await c.read(0, 10**9)
            c.close()
            return [d for _, d in items]
        finally:
            for s in servers.values():
                await s.close()
    assert asyncio.run(second_run())[-len(secrets_):] == secrets_
