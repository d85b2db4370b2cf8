"""The control thread: the one thread that reads and writes a manager's store.

Theory of operation: the store and the control plane (`swarmlab.manager`) are
synchronous and single-threaded by design; Raft and the HTTP API are asyncio.
A manager runs every store access on one `ControlThread`:
- the API and the reconcile loop submit jobs (`await control.call(fn)`);
- the Raft shell hands over committed entries (`control.deliver(entries)`),
  which the thread applies to the store in log order;
- a store write inside a job proposes through `RaftProposer`: the entry goes to
  Raft on the event loop, and the control thread keeps applying committed
  entries until its own comes back (then `update()` returns), or until it
  learns the entry was lost (leadership changed) or a deadline passes.
Jobs that arrive while a write waits run after it; snapshots are taken on this
thread too, so a snapshot always matches the applied index exactly.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from ..raft.messages import Entry, EntryType
from ..store import MemoryStore, ProposalNotApplied

log = logging.getLogger("swarmlab.node.control")

PROPOSAL_TIMEOUT_S = 5.0


@dataclass
class _Job:
    fn: Callable[[], Any]
    future: concurrent.futures.Future


@dataclass
class _Apply:
    entries: list[Entry]


@dataclass
class _Restore:
    data: bytes
    index: int


@dataclass
class _Snapshot:
    future: concurrent.futures.Future


class NoQuorum(ProposalNotApplied):
    """Raft did not commit the write in time: the managers have lost quorum."""


class ControlThread:
    def __init__(self, store: MemoryStore, name: str = "control") -> None:
        self.store = store
        self.applied_index = 0
        self._q: queue.Queue = queue.Queue()
        self._deferred: deque[_Job] = deque()
        self._applied_terms: dict[int, int] = {}  # recent index -> term, for proposers
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.on_applied: Callable[[], None] | None = None  # called after each batch

    # -- from other threads -------------------------------------------------------------
    async def call(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.wrap_future(self.submit(fn))

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._q.put(_Job(fn, fut))
        return fut

    def deliver(self, entries: list[Entry]) -> None:
        self._q.put(_Apply(entries))

    def restore(self, data: bytes, index: int) -> None:
        self._q.put(_Restore(data, index))

    def snapshot(self, timeout: float = 10.0) -> tuple[int, bytes]:
        """(applied index, store snapshot), taken between two applied entries."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._q.put(_Snapshot(fut))
        return fut.result(timeout)

    def close(self) -> None:
        self._stop = True
        self._q.put(None)
        self._thread.join(timeout=5)

    # -- on the control thread ----------------------------------------------------------
    def in_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def _run(self) -> None:
        while not self._stop:
            if self._deferred:
                self._run_job(self._deferred.popleft())
                continue
            item = self._q.get()
            if item is None:
                break
            self._handle(item, defer_jobs=False)

    def _handle(self, item: Any, defer_jobs: bool) -> None:
        if isinstance(item, _Job):
            if defer_jobs:
                self._deferred.append(item)
            else:
                self._run_job(item)
        elif isinstance(item, _Apply):
            self._apply(item.entries)
        elif isinstance(item, _Restore):
            self.store.restore(item.data)
            self.applied_index = item.index
            if self.on_applied:
                self.on_applied()
        elif isinstance(item, _Snapshot):
            item.future.set_result((self.applied_index, self.store.snapshot()))

    def _run_job(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            job.future.set_result(job.fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            job.future.set_exception(exc)

    def _apply(self, entries: list[Entry]) -> None:
        for e in entries:
            if e.index <= self.applied_index:
                continue
            self.applied_index = e.index
            self._applied_terms[e.index] = e.term
            if e.type is EntryType.NORMAL and e.data:
                try:
                    self.store.apply(e.data)
                except Exception:  # noqa: BLE001 - a committed entry must never stop the node
                    log.exception("applying entry %d failed", e.index)
        if len(self._applied_terms) > 4096:
            for k in sorted(self._applied_terms)[:2048]:
                del self._applied_terms[k]
        if self.on_applied:
            self.on_applied()

    def wait_applied(self, index: int, term: int, timeout: float) -> None:
        """Apply committed entries until `index` is applied; it must have `term`."""
        assert self.in_thread()
        deadline = time.monotonic() + timeout
        while self.applied_index < index:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NoQuorum(
                    "rpc error: code = Unknown desc = The swarm does not have a leader. It's "
                    "possible that too few managers are online. Make sure more than half of "
                    "the managers are online.")
            try:
                item = self._q.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if item is None:
                self._stop = True
                raise ProposalNotApplied("node is shutting down")
            self._handle(item, defer_jobs=True)
        if self._applied_terms.get(index, term) != term:
            raise ProposalNotApplied("leadership changed before the write was committed; retry")


class RaftProposer:
    """The store's `Proposer` for a manager: propose on the Raft loop, wait on this thread."""

    def __init__(self, control: ControlThread, loop: asyncio.AbstractEventLoop,
                 propose: Callable[[bytes], tuple[int, int]],
                 timeout: float = PROPOSAL_TIMEOUT_S) -> None:
        self.control = control
        self.loop = loop
        self._propose = propose  # runs on the loop: returns (index, term) or raises
        self.timeout = timeout

    def propose(self, command: bytes) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._on_loop(command), self.loop)
        index, term = fut.result(self.timeout)
        self.control.wait_applied(index, term, self.timeout)

    async def _on_loop(self, command: bytes) -> tuple[int, int]:
        return self._propose(command)
