"""`service logs` / task logs: gathered from the nodes that ran the tasks.

The manager asks every node that holds one of the service's tasks for that task's
captured output (`/swarmlab/local-logs`), then answers in Docker's stream format:
frames of an 8-byte header (stream 1 = stdout, 2 = stderr; big-endian length) and
the line, prefixed as the docker CLI shows it: `www.1.abc123@node1    | line`.
"""
from __future__ import annotations

import asyncio
import struct
from typing import Any, Callable

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from .gateway import Gateway, ManagerSeat, internal_url_of

PeerTLS = Callable[[str], dict[str, Any]]  # aiohttp arguments to call a node by its ID (a SAN)


def frame(stream: str, text: str) -> bytes:
    data = text.encode()
    return struct.pack(">BxxxL", 2 if stream == "stderr" else 1, len(data)) + data


async def stream_logs(gw: Gateway[ManagerSeat], tls: PeerTLS, request: web.Request, ref: str,
                      task: bool) -> web.StreamResponse:
    """Each task's lines from the node that holds it (`/swarmlab/local-logs` on its
    internal API, over mutual TLS), merged by time."""
    # streamed from here (-f): not forwarded
    found = await gw.read(lambda tx: _holders(tx, ref, task), local=True)
    by_host: dict[tuple[str, str, str], list[str]] = {}
    for tid, host, hostname, node_id in found:
        by_host.setdefault((host, hostname, node_id), []).append(tid)
    tail = request.query.get("tail", "all")
    timestamps = request.query.get("timestamps", "").lower() in ("1", "true")
    lines: list[tuple[float, str, str]] = []
    async with ClientSession(timeout=ClientTimeout(total=5)) as http:
        async def fetch(addr: str, hostname: str, node_id: str, ids: list[str]) -> None:
            url = internal_url_of(addr) + "/swarmlab/local-logs"
            try:
                async with http.get(url, params={"tasks": ",".join(ids), "tail": tail},
                                    **tls(node_id)) as r:
                    for name, ts, stream, line in await r.json():
                        prefix = f"{name}@{hostname}    | "
                        lines.append((ts, stream, prefix + _ts(ts, timestamps) + line))
            except (OSError, ClientError, asyncio.TimeoutError, ValueError):
                pass  # a node that cannot be reached shows nothing, as with Docker
        await asyncio.gather(*(fetch(h, hn, nid, ids) for (h, hn, nid), ids in by_host.items()))
    lines.sort(key=lambda x: x[0])
    resp = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.raw-stream"})
    await resp.prepare(request)
    for _, stream, text in lines:
        await resp.write(frame(stream, text if text.endswith("\n") else text + "\n"))
    await resp.write_eof()
    return resp


def _holders(tx: Any, ref: str, task: bool) -> list[tuple[str, str, str, str]]:
    """(task ID, node address, hostname, node ID) of the task, or of the service's tasks."""
    tasks = [tx.lookup("task", ref)] if task else tx.tasks(tx.lookup("service", ref).id)
    nodes = {n.id: n for n in tx.nodes()}
    return [(t.id, nodes[t.node_id].status.addr, nodes[t.node_id].hostname, t.node_id)
            for t in tasks if t.node_id in nodes]


def _ts(ts: float, on: bool) -> str:
    if not on:
        return ""
    from ..objects import format_time
    return format_time(int(ts * 1e9)) + " "

