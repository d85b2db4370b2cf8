"""Backup of a manager's swarm state, and `swarm init --force-new-cluster`.

A backup is what Docker's documentation says to copy (`/var/lib/docker/swarm`),
made consistent while the manager runs: a tar.gz holding `state.json`, the
`certificates/` directory (the node's and the CA's; keys encrypted with the KEK), the
`keys/` directory (the DEK wrapped by the KEK; the KEK itself only without
autolock, so an autolocked swarm's backup is protected by its unlock key) and a
fresh Raft storage (`raft/`) whose one snapshot is the store at one applied
index, encrypted with the DEK like any Raft data at rest.

Force-new-cluster (as etcd and swarmkit do it): the manager's Raft storage is
rewritten so that everything in its log becomes one snapshot whose only voter
is this manager; restarted from it, the manager elects itself and the swarm's
services, secrets, configs and nodes are there again.
"""
from __future__ import annotations

import asyncio
import io
import json
import pathlib
import shutil
import tarfile
import tempfile
from typing import TYPE_CHECKING

from aiohttp import web

from ..crypto import KeyManager, open_encrypted
from ..raft.shell.file_storage import FileStorage
from ..raft.messages import EntryType, HardState, Snapshot
from ..store import MemoryStore
from ..engine.api import add_routes
from ..engine.gateway import Gateway
from ..engine.node_view import NodeFacts

if TYPE_CHECKING:
    from .manager_role import ManagerRole

    NodeGateway = Gateway[ManagerRole]


async def make_backup(gw: "NodeGateway", swarm_dir: pathlib.Path, node_id: str) -> bytes:
    m = gw.require_manager()
    index, data = await m.control.call(lambda: (m.control.applied_index, m.store.snapshot()))
    term = m.raft.node.log.term(index) if index >= m.raft.node.log.first_index() - 1 else \
        m.raft.node.term
    voters = tuple(m.raft.node.voters)
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "swarm"
        (root / "raft").mkdir(parents=True)
        shutil.copytree(swarm_dir / "keys", root / "keys")
        # the node's certificate and the CA (its key encrypted with the KEK, as the DEK)
        shutil.copytree(swarm_dir / "certificates", root / "certificates")
        (root / "state.json").write_text(json.dumps(
            {"NodeID": node_id, "Role": "manager", "Managers": {}}))
        storage = open_encrypted(FileStorage(str(root / "raft")), m.keys)
        storage.save(HardState(term, 0, index), [], Snapshot(index, term, voters, data))
        storage.close()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(root, arcname="swarm")
        return buf.getvalue()


def extract_backup(data: bytes, state_dir: pathlib.Path) -> None:
    """Put a backup in place as a stopped node's swarm directory."""
    target = state_dir / "swarm"
    shutil.rmtree(target, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.name.startswith("swarm") or ".." in member.name.split("/"):
                raise ValueError(f"not a swarmlab backup: unexpected path {member.name!r}")
        tar.extractall(state_dir, filter="data")


def rewrite_as_single_voter(swarm_dir: pathlib.Path, keys: KeyManager, raft_id: int) -> int:
    """Force-new-cluster on disk: the whole log folded into one snapshot, one voter.
    Returns the snapshot's index."""
    storage = open_encrypted(FileStorage(str(swarm_dir / "raft")), keys)
    state = storage.load()
    if state is None:
        raise ValueError("this node has no Raft data to recover from")
    store = MemoryStore(name="recover")
    if state.snapshot.data:
        store.restore(state.snapshot.data)
    index, term = state.snapshot.index, state.snapshot.term
    for e in state.entries:  # every entry a survivor holds is kept, as etcd does
        if e.type is EntryType.NORMAL and e.data:
            store.apply(e.data)
        index, term = e.index, e.term
    term = max(term, state.hard_state.term)
    storage.save(HardState(term, raft_id, index), [],
                 Snapshot(index, term, (raft_id,), store.snapshot()))
    storage.close()
    return index


async def force_new_cluster(swarm_dir: pathlib.Path, keys: KeyManager, raft_id: int) -> int:
    """`rewrite_as_single_voter` off the event loop (it reads and writes the whole log)."""
    return await asyncio.get_running_loop().run_in_executor(
        None, rewrite_as_single_voter, swarm_dir, keys, raft_id)


def setup_backup_routes(app: web.Application, swarm_dir: pathlib.Path) -> None:
    """`GET /swarmlab/backup` on the Engine API: the backup of `swarm_dir` as a tar.gz."""
    async def backup_route(request: web.Request) -> web.Response:
        node: NodeFacts = request.app["node"]
        data = await make_backup(request.app["gateway"], swarm_dir, node.node_id)
        return web.Response(body=data, content_type="application/gzip", headers={
            "Content-Disposition": f"attachment; filename={node.name}.swarm.tgz"})
    add_routes(app, [("GET", "/swarmlab/backup", backup_route)])
