"""`swarmlab service logs`: the service's log stream with Docker's per-task prefix.

The CLI asks for details (as Docker's does) and reads the task, service and node IDs
from each line's details field (`com.docker.swarm.task.id=...,...`), then prints
`www.1.abcdef123456@node1    | message`. Lines without details print as they came.
"""
from __future__ import annotations

import datetime as dt
import time
import urllib.parse

import docker.errors

from ..units import parse_duration


def add_log_flags(p) -> None:
    p.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("--no-resolve", action="store_true", help="Do not map IDs to Names in output")
    p.add_argument("--no-task-ids", action="store_true", help="Do not include task IDs in output")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("--raw", action="store_true", help="Do not neatly format logs")
    p.add_argument("--since", help="Show logs since timestamp or relative (e.g. 42m for 42 minutes)")
    p.add_argument("-n", "--tail", default="all", help="Number of lines to show from the end of the logs")
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("service", metavar="SERVICE|TASK")


def parse_details(field: str) -> dict[str, str] | None:
    """`k=v,k2=v2` (values URL-encoded) -> dict; None when it is not a details field."""
    out = {}
    for pair in field.split(","):
        key, sep, value = pair.partition("=")
        if not sep:
            return None
        out[urllib.parse.unquote(key)] = urllib.parse.unquote(value)
    return out


class Prefixer:
    """Turn raw log lines into Docker's `task@node    | message` lines."""

    def __init__(self, ctx, args) -> None:
        self.ctx, self.args = ctx, args
        self.tasks: dict[str, dict] = {}
        self.services: dict[str, str] = {}
        self.nodes: dict[str, str] = {}

    def line(self, raw: str) -> str:
        if self.args.raw:
            return raw
        parts = raw.split(" ", 2 if self.args.timestamps else 1)
        stamp = parts.pop(0) + " " if self.args.timestamps and len(parts) > 1 else ""
        details = parse_details(parts[0]) if len(parts) == 2 else None
        if not details or "com.docker.swarm.task.id" not in details:
            return raw
        message = parts[1]
        task_id = details.pop("com.docker.swarm.task.id")
        node_id = details.pop("com.docker.swarm.node.id", "")
        service_id = details.pop("com.docker.swarm.service.id", "")
        # as the docker CLI: with --details, the other details and a space, even if none
        extra = ",".join(f"{k}={v}" for k, v in sorted(details.items())) + " " \
            if self.args.details else ""
        return f"{stamp}{self._context(task_id, node_id, service_id)}    | {extra}{message}"

    def _context(self, task_id: str, node_id: str, service_id: str) -> str:
        short = task_id if self.args.no_trunc else task_id[:12]
        if self.args.no_resolve:
            name = f"{service_id}.{short}"
            return f"{name}@{node_id}"
        task = self._task(task_id)
        service = self._name(self.services, service_id, lambda c: c.inspect_service(service_id)["Spec"]["Name"])
        node = self._name(self.nodes, node_id,
                          lambda c: c.inspect_node(node_id)["Description"]["Hostname"])
        slot = task.get("Slot") or node_id
        name = f"{service}.{slot}" if self.args.no_task_ids else f"{service}.{slot}.{short}"
        return f"{name}@{node}"

    def _task(self, task_id: str) -> dict:
        if task_id not in self.tasks:
            try:
                self.tasks[task_id] = self.ctx.call(lambda c: c.inspect_task(task_id))
            except docker.errors.APIError:
                self.tasks[task_id] = {}
        return self.tasks[task_id]

    def _name(self, cache: dict, ident: str, fetch) -> str:
        if ident not in cache:
            try:
                cache[ident] = self.ctx.call(fetch)
            except (docker.errors.APIError, KeyError):
                cache[ident] = ident
        return cache[ident]


def since_value(text: str | None, now: float | None = None) -> str | int:
    """`--since 42m` or an RFC 3339 time -> the Unix timestamp the API takes, as
    Docker's CLI converts it; a plain number goes as it is."""
    if not text:
        return 0
    now = time.time() if now is None else now
    try:
        return f"{now - parse_duration(text) / 1e9:.9f}"
    except ValueError:
        pass
    try:
        return f"{dt.datetime.fromisoformat(text.replace('Z', '+00:00')).timestamp():.9f}"
    except ValueError:
        return text


def print_logs(ctx, args) -> None:
    # details carry the task's context: asked for unless --raw prints lines as they came
    details = args.details or not args.raw
    stream = ctx.call(lambda c: c.service_logs(
        args.service, details=details, follow=args.follow, stdout=True, stderr=True,
        timestamps=args.timestamps, tail=args.tail, is_tty=False, since=since_value(args.since)))
    prefixer = Prefixer(ctx, args)
    pending = ""
    try:
        for chunk in stream:
            pending += chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
            *lines, pending = pending.split("\n")
            for raw in lines:
                ctx.print(prefixer.line(raw))
    except KeyboardInterrupt:
        return
    if pending:
        ctx.print(prefixer.line(pending))
