"""`service logs` / task logs: gathered from the nodes that ran the tasks.

The manager asks every node that holds one of the service's tasks for that task's
captured output (`/swarmlab/local-logs`), then answers in Docker's stream format:
frames of an 8-byte header (stream 1 = stdout, 2 = stderr; big-endian length) and
the line, prefixed as the docker CLI shows it: `www.1.abc123@node1    | line`.
"""
from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from .api import add_routes

if TYPE_CHECKING:
    from ..node.daemon import NodeDaemon


def frame(stream: str, text: str) -> bytes:
    data = text.encode()
    return struct.pack(">BxxxL", 2 if stream == "stderr" else 1, len(data)) + data


async def local_logs(request: web.Request) -> web.Response:
    from ..node.internal import require_manager_caller
    d: NodeDaemon = request.app["daemon"]
    require_manager_caller(request)  # only a manager gathers logs (mutual TLS)
    ids = {t for t in request.query.get("tasks", "").split(",") if t}
    tail = request.query.get("tail")
    n = int(tail) if tail and tail.isdigit() else None
    lines = d.worker.logs(ids, n) if d.worker else []
    return web.json_response([[name, ln.timestamp, ln.stream, ln.line] for name, ln in lines])


async def stream_logs(d: "NodeDaemon", request: web.Request, ref: str, task: bool) -> web.StreamResponse:
    def find(tx: Any) -> list[tuple[str, str]]:
        if task:
            t = tx.lookup("task", ref)
            tasks = [t]
        else:
            tasks = tx.tasks(tx.lookup("service", ref).id)
        nodes = {n.id: n for n in tx.nodes()}
        return [(t.id, nodes[t.node_id].status.addr, nodes[t.node_id].hostname, t.node_id)
                for t in tasks if t.node_id in nodes]
    found = await d.manager_read(find, local=True)  # streamed from here (-f): not forwarded
    by_host: dict[tuple[str, str, str], list[str]] = {}
    for tid, host, hostname, node_id in found:
        by_host.setdefault((host, hostname, node_id), []).append(tid)
    tail = request.query.get("tail", "all")
    timestamps = request.query.get("timestamps", "").lower() in ("1", "true")
    lines: list[tuple[float, str, str]] = []
    async with ClientSession(timeout=ClientTimeout(total=5)) as http:
        async def fetch(addr: str, hostname: str, node_id: str, ids: list[str]) -> None:
            url = d.internal_url_of(addr) + "/swarmlab/local-logs"
            try:
                async with http.get(url, params={"tasks": ",".join(ids), "tail": tail},
                                    ssl=d.security.client_context(),
                                    server_hostname=node_id) as r:  # a SAN
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


def _ts(ts: float, on: bool) -> str:
    if not on:
        return ""
    from ..objects import format_time
    return format_time(int(ts * 1e9)) + " "


def setup_log_routes(app: web.Application) -> None:
    add_routes(app, [("GET", "/swarmlab/local-logs", local_logs)])
