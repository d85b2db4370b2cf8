"""The worker's logic stepped in one process, for the simulator and the control-plane harness.

A real node's worker follows the dispatcher's answers over HTTP and drives a real runtime
asynchronously. Here the caller holds the session (it calls the dispatcher in process) and
hands over each assignment; the decisions are the production `plan`'s, over the fake
runtime (`swarmlab.runtime.fake`), stepped once per heartbeat. As TigerBeetle's simulator
does: stub what is not deterministic (processes, sockets, time), not the code. The task
documents go through the same wire form as a real node's (`to_json`, `status_json`).
"""
from __future__ import annotations

from typing import Any, Iterable

from ..objects import TaskStatus, from_json
from ..runtime.base import TaskState
from ..runtime.fake import FakeExecutor
from .reconcile import Held, Launch, Lost, Remove, Start, Stop, plan, status_json


class InProcessWorker:
    def __init__(self, node_name: str, executor: FakeExecutor) -> None:
        self.node_name, self.executor = node_name, executor
        self._docs: dict[str, tuple[int, dict]] = {}  # task id -> (version, its JSON)
        self._lost: dict[str, dict] = {}  # task id -> its lost status, as first reported

    def held(self) -> dict[str, Held]:
        return {c.spec.task_id: Held(c.status.state, c.target >= TaskState.RUNNING)
                for c in self.executor.controllers}

    def step(self, tasks: Iterable[Any], secrets: Iterable[Any] = (),
             configs: Iterable[Any] = ()) -> list[tuple[str, TaskStatus]]:
        """One heartbeat: the runtime moves every task one step, the worker follows the
        assignment; returns the reports that move a task forward in the store."""
        self.executor.step()
        tasks = list(tasks)
        doc = {"Tasks": self._task_docs(tasks), "Secrets": [s.to_json() for s in secrets],
               "Configs": [c.to_json() for c in configs]}
        lost: dict[str, dict] = {}
        for action in plan(doc, self.held(), self.node_name):
            if isinstance(action, Launch):
                self.executor.controller(action.spec).want(
                    TaskState.RUNNING if action.start else TaskState.READY)
            elif isinstance(action, Start):
                self._ctl(action.task_id).want(TaskState.RUNNING)
            elif isinstance(action, Stop):
                self._ctl(action.task_id).stop()  # no converge delay: no mesh in here
            elif isinstance(action, Remove):
                ctl = self._ctl(action.task_id)
                ctl.stop()
                self.executor.forget(ctl)
            elif isinstance(action, Lost):
                lost[action.task_id] = self._lost.get(action.task_id) or action.to_json(
                    int(self.executor.clock() * 1_000_000_000))
        self._lost = lost
        return self._reports(tasks, lost)

    def _task_docs(self, tasks: list[Any]) -> list[dict]:
        """The tasks' JSON, made again only for a task the store changed since."""
        docs = {}
        for t in tasks:
            known = self._docs.get(t.id)
            docs[t.id] = known if known and known[0] == t.version.index else (
                t.version.index, t.to_json())
        self._docs = docs
        return [doc for _, doc in docs.values()]

    def _ctl(self, task_id: str):
        ctl = self.executor.get(task_id)
        assert ctl is not None, f"plan acted on task {task_id}, which the node does not hold"
        return ctl

    def _reports(self, tasks: list[Any], lost: dict[str, dict]) -> list[tuple[str, TaskStatus]]:
        out = []
        for t in tasks:
            ctl = self.executor.get(t.id)
            doc = status_json(ctl.status) if ctl is not None else lost.get(t.id)
            if doc is None or TaskState(doc["State"]) <= t.status.state:
                continue  # the store has it already (or more)
            out.append((t.id, from_json(TaskStatus, doc)))
        return out
