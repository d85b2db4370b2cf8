"""The worker's session with the leader's dispatcher (swarmkit's `agent/session.go`).

Theory of operation: every exchange is a heartbeat carrying the status of every task and
where the running ones answer; the answer is the node's assignment (its tasks, and only
the secrets and configs those use) plus the routing mesh's table. The heartbeat stands in
for swarmkit's assignment stream: it carries the fingerprint of the assignment the node
holds (`Known`), and the leader answers as soon as the assignment differs (or after half
the heartbeat period, `Unchanged`), so a change reaches the node at once and an idle node
sends two heartbeats per period. While a heartbeat waits, a task status change is sent at
once on its own (`status`, after `REPORT_BATCH_S`, so the changes of several tasks go
together), as swarmkit's agent reports them. A lost leader just means trying the next
manager; tasks keep running.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Protocol

from aiohttp import ClientError, ClientSession, ClientTimeout

from .node_port import NodePort

log = logging.getLogger("swarmlab.agent.worker")

NS = 1_000_000_000
RETRY_S = 0.2        # after a failed exchange (with jitter): try another manager
REQUEST_S = 5.0      # a manager that does not answer within this (beyond a hold) is lost
REPORT_BATCH_S = 0.02


class Tasks(Protocol):
    """The worker's side of the session: what it reports, and how it follows an answer."""

    def statuses(self) -> list[dict]: ...
    def endpoints(self) -> dict[str, dict]: ...
    async def reconcile(self, doc: dict) -> None: ...


class Session:
    def __init__(self, node: NodePort, tasks: Tasks) -> None:
        self.node, self.tasks = node, tasks
        self.session_id: str | None = None
        self.manager_url: str | None = None
        self.hold_s = 0.0                # how long the leader may hold a heartbeat
        self.connected = False
        self._doc: dict = {}             # the assignment last followed in full (its `Known`)
        self._changed = asyncio.Event()  # a task status moved: report it now
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def notify(self) -> None:
        """A task's status changed: send it without waiting for the next heartbeat."""
        self._changed.set()

    async def _loop(self) -> None:
        async with ClientSession() as http:
            reporter = asyncio.create_task(self._report_loop(http))
            try:
                while True:
                    await self._session_loop(http)
            finally:
                reporter.cancel()
                await asyncio.gather(reporter, return_exceptions=True)

    async def _session_loop(self, http: ClientSession) -> None:
        try:
            await self._exchange(http)
            self.connected = True
            await asyncio.sleep(REPORT_BATCH_S)  # never a busy loop, whatever the answers
        except (ClientError, asyncio.TimeoutError, OSError, Redial) as e:
            log.debug("%s: dispatcher unreachable (%s); trying another manager",
                      self.node.name, e)
            self.connected = False
            self.session_id, self.manager_url, self._doc = None, None, {}
            await asyncio.sleep(RETRY_S + random.random() * RETRY_S)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the worker must keep going
            log.exception("%s: worker loop error", self.node.name)
            self._doc = {}  # the next heartbeat asks for the whole assignment again
            await asyncio.sleep(1.0)

    async def _report_loop(self, http: ClientSession) -> None:
        """Send task status changes while the heartbeat waits for the next assignment."""
        while True:
            await self._changed.wait()
            await asyncio.sleep(REPORT_BATCH_S)
            self._changed.clear()
            if self.session_id is None or self.manager_url is None:
                continue  # the next heartbeat carries them
            try:
                await self._post(http, "/swarmlab/dispatcher/status", {
                    "NodeID": self.node.node_id, "SessionID": self.session_id,
                    "Statuses": self.tasks.statuses(), "Endpoints": self.tasks.endpoints()})
            except (ClientError, asyncio.TimeoutError, OSError, Redial) as e:
                log.debug("%s: status report failed (%s); the heartbeat carries it",
                          self.node.name, e)

    async def _post(self, http: ClientSession, path: str, body: dict, hold_s: float = 0.0) -> dict:
        if self.node.blocked_url(self.manager_url):
            raise Redial("partitioned from the manager")
        assert self.manager_url is not None
        async with http.post(self.manager_url + path, json=body, **self.node.tls(),
                             timeout=ClientTimeout(total=hold_s + REQUEST_S),
                             headers={"X-Swarmlab-Node": self.node.name}) as r:
            doc = await r.json(content_type=None)
            if r.status >= 400:
                raise Redial(doc.get("message", r.status) if isinstance(doc, dict) else r.status)
            return doc

    async def _open(self, http: ClientSession) -> None:
        if self.manager_url is None:
            self.manager_url = await self.node.pick_manager_url(http)
            if self.manager_url is None:
                raise Redial("no manager reachable")
        if self.session_id is None:
            doc = await self._post(http, "/swarmlab/dispatcher/session",
                                   {"NodeID": self.node.node_id, "Addr": self.node.swarm_addr_str,
                                    "Hostname": self.node.name})
            self.session_id, self._doc = doc["SessionID"], {}
            self.hold_s = doc.get("Period", 0) / NS / 2

    async def _exchange(self, http: ClientSession) -> None:
        await self._open(http)
        self._changed.clear()  # this heartbeat carries every status
        doc = await self._post(http, "/swarmlab/dispatcher/heartbeat", {
            "NodeID": self.node.node_id, "SessionID": self.session_id,
            "Statuses": self.tasks.statuses(), "Endpoints": self.tasks.endpoints(),
            "TLSInfo": self.node.security.tls_info(),
            "Known": self._doc.get("Known", ""), "Wait": self.hold_s}, hold_s=self.hold_s)
        self.hold_s = doc.get("Period", 0) / NS / 2  # `swarm update --dispatcher-heartbeat`
        if doc.get("Unchanged"):
            # the same answer as last time: still follow it (a renewal that is due by
            # time, or one that failed, is tried again)
            await self.node.follow_role(self._doc)
            return
        self.node.remember_managers(doc.get("Managers") or [])
        await self.node.follow_role(doc)
        await self.tasks.reconcile(doc)
        await self.node.update_mesh(doc.get("Mesh") or {})
        self._doc = doc  # followed in full: the next heartbeat waits for a change to it


class Redial(Exception):
    """This manager will not do: drop the session and find the leader again."""
