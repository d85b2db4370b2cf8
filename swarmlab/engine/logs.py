"""`service logs` / task logs: gathered from the nodes that ran the tasks.

The manager asks every node that holds one of the service's tasks for that task's
captured output (`/swarmlab/local-logs`), then answers as dockerd does: frames of an
8-byte header (stream 1 = stdout, 2 = stderr; big-endian length) and the line, which
is the bare message, after `timestamps` its time (RFC 3339, nine fixed digits) and after
`details` its details: `com.docker.swarm.node.id=...,com.docker.swarm.service.id=...,
com.docker.swarm.task.id=...`, from which the docker CLI makes its `www.1.abc@node1 |`
prefix. With `follow`, the nodes are asked again for what came since, until the client
goes (or the service does); tasks that start meanwhile are followed too.
"""
from __future__ import annotations

import asyncio
import struct
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from ..objects import NotFound, format_time
from .api import API_VERSION
from .errors import APIError
from .gateway import Gateway, ManagerSeat, internal_url_of

PeerTLS = Callable[[str], dict[str, Any]]  # aiohttp arguments to call a node by its ID (a SAN)
FOLLOW_POLL_S = 0.5
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"  # API 1.42 on; before, raw-stream
RAW = "application/vnd.docker.raw-stream"


def frame(stream: str, text: str) -> bytes:
    data = text.encode()
    return struct.pack(">BxxxL", 2 if stream == "stderr" else 1, len(data)) + data


def _bool(request: web.Request, name: str) -> bool:
    """dockerd's reading of a boolean query parameter."""
    return request.query.get(name, "").strip().lower() not in ("", "0", "no", "false", "none")


@dataclass(frozen=True)
class LogOptions:
    stdout: bool
    stderr: bool
    follow: bool
    timestamps: bool
    details: bool
    tail: int | None  # None: all lines
    since: float | None  # Unix seconds

    @classmethod
    def parse(cls, request: web.Request) -> "LogOptions":
        """The query, checked before the stream starts (after that no status can say no)."""
        stdout, stderr = _bool(request, "stdout"), _bool(request, "stderr")
        if not stdout and not stderr:
            raise APIError(400, "must specify at least one of 'stdout' or 'stderr'")
        return cls(stdout, stderr, _bool(request, "follow"), _bool(request, "timestamps"),
                   _bool(request, "details"), _tail(request.query.get("tail", "")),
                   _since(request.query.get("since", "")))

    def wants(self, stream: str) -> bool:
        return self.stderr if stream == "stderr" else self.stdout


def _tail(text: str) -> int | None:
    if text in ("", "all"):
        return None
    try:
        n = int(text)
    except ValueError:
        raise APIError(500, 'tail value must be a positive integer or "all"') from None
    if n < 0:
        raise APIError(500, "negative tail values not supported")
    return n


def _since(text: str) -> float | None:
    """dockerd's `seconds[.nanoseconds]`."""
    if not text:
        return None
    secs, _, nanos = text.partition(".")
    bad = f'invalid value for "since": invalid timestamp "{text}": '
    if not secs.lstrip("-").isdigit():
        raise APIError(400, bad + f'invalid seconds "{secs}": invalid syntax')
    for i, ch in enumerate(nanos):
        if not ch.isdigit():
            raise APIError(400, bad + f"invalid nanoseconds: invalid character '{ch}' at "
                                      f"position {i}")
    return int(secs) + (int(nanos[:9].ljust(9, "0")) / 1e9 if nanos else 0.0)


@dataclass(frozen=True)
class Holder:
    """A task, and the node that holds its output."""
    task_id: str
    service_id: str
    node_id: str
    addr: str  # the node's swarm address (its internal API is on the next port)


def render_line(opts: LogOptions, h: Holder, ts: float, line: str) -> str:
    out = line if line.endswith("\n") else line + "\n"
    if opts.details:
        attrs = sorted({"com.docker.swarm.node.id": h.node_id,
                        "com.docker.swarm.service.id": h.service_id,
                        "com.docker.swarm.task.id": h.task_id}.items())
        out = ",".join(f"{urllib.parse.quote_plus(k)}={urllib.parse.quote_plus(v)}"
                       for k, v in attrs) + " " + out
    if opts.timestamps:
        out = _fixed_time(ts) + " " + out
    return out


def _fixed_time(ts: float) -> str:
    """RFC 3339 with nanoseconds padded to nine digits, as dockerd stamps log lines."""
    secs, nanos = divmod(round(ts * 1e9), 1_000_000_000)
    return f"{format_time(secs * 1_000_000_000).rstrip('Z')}.{nanos:09d}Z"


async def stream_logs(gw: Gateway[ManagerSeat], tls: PeerTLS, request: web.Request, ref: str,
                      task: bool) -> web.StreamResponse:
    """Each task's lines from the node that holds it (`/swarmlab/local-logs` on its
    internal API, over mutual TLS), merged by time."""
    opts = LogOptions.parse(request)
    # streamed from here (-f): not forwarded
    holders = await gw.read(lambda tx: _holders(tx, ref, task), local=True)
    version = request.match_info.get("version", API_VERSION)
    old = tuple(int(p) for p in version.split(".")) < (1, 42)
    resp = web.StreamResponse(headers={"Content-Type": RAW if old else MULTIPLEXED})
    await resp.prepare(request)
    sent = Sent(since=opts.since, following_from=time.time())
    try:
        async with ClientSession(timeout=ClientTimeout(total=5)) as http:
            first = True
            while True:
                lines = await _gather(http, tls, holders, opts, sent, first)
                for ts, stream, h, line in sorted(lines, key=lambda x: x[0]):
                    await resp.write(frame(stream, render_line(opts, h, ts, line)))
                if not opts.follow or request.transport is None \
                        or request.transport.is_closing():
                    break
                first = False
                await asyncio.sleep(FOLLOW_POLL_S)
                try:
                    holders = await gw.read(lambda tx: _holders(tx, ref, task), local=True)
                except (NotFound, APIError):
                    break  # the service (or task) is gone: so is its log
        await resp.write_eof()
    except ConnectionResetError:
        pass  # the client stopped following
    return resp


@dataclass
class Sent:
    """What a followed stream has sent of each task: the time of its last line, and how
    many lines it sent at that very time (a node answers `since` inclusively)."""
    since: float | None
    following_from: float
    last: dict[str, tuple[float, int]] = field(default_factory=dict)

    def since_for(self, task_ids: list[str], first: bool) -> float | None:
        if first:
            return self.since
        # a task with no line yet: what it logs from when following began
        times = [self.last[t][0] if t in self.last else max(self.following_from,
                                                             self.since or 0.0)
                 for t in task_ids]
        return min(times, default=None)

    def fresh(self, rows: list[list[Any]]) -> list[list[Any]]:
        """The rows not sent before, in the node's order; remembers them as sent."""
        before = dict(self.last)
        skip = {t: n for t, (_, n) in before.items()}
        out = []
        for row in rows:
            tid, ts = row[0], row[1]
            if tid in before:
                if ts < before[tid][0]:
                    continue
                if ts == before[tid][0] and skip[tid] > 0:
                    skip[tid] -= 1
                    continue
            last, n = self.last.get(tid, (None, 0))
            self.last[tid] = (ts, n + 1) if ts == last else (ts, 1)
            out.append(row)
        return out


async def _gather(http: ClientSession, tls: PeerTLS, holders: list[Holder], opts: LogOptions,
                  sent: Sent, first: bool) -> list[tuple[float, str, Holder, str]]:
    """New lines of every task: at first the last `tail` from `since`; when following,
    what each node logged since the last line sent of each of its tasks."""
    by_node: dict[tuple[str, str], list[Holder]] = {}
    for h in holders:
        by_node.setdefault((h.addr, h.node_id), []).append(h)
    out: list[tuple[float, str, Holder, str]] = []

    async def fetch(addr: str, node_id: str, hs: list[Holder]) -> None:
        by_id = {h.task_id: h for h in hs}
        params = {"tasks": ",".join(by_id)}
        if first and opts.tail is not None:
            params["tail"] = str(opts.tail)
        since = sent.since_for(list(by_id), first)
        if since is not None:
            params["since"] = repr(since)
        try:
            async with http.get(internal_url_of(addr) + "/swarmlab/local-logs", params=params,
                                **tls(node_id)) as r:
                rows = [row for row in await r.json() if row[0] in by_id]
        except (OSError, ClientError, asyncio.TimeoutError, ValueError):
            return  # a node that cannot be reached shows nothing, as with Docker
        for tid, ts, stream, line in sent.fresh(rows):
            if opts.wants(stream):
                out.append((ts, stream, by_id[tid], line))
    await asyncio.gather(*(fetch(a, n, hs) for (a, n), hs in by_node.items()))
    return out


def _holders(tx: Any, ref: str, task: bool) -> list[Holder]:
    """The task, or the service's tasks, that were placed on a node."""
    tasks = [tx.lookup("task", ref)] if task else tx.tasks(tx.lookup("service", ref).id)
    nodes = {n.id: n for n in tx.nodes()}
    return [Holder(t.id, t.service_id, t.node_id, nodes[t.node_id].status.addr)
            for t in tasks if t.node_id in nodes]
