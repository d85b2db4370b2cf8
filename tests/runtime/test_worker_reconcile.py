"""The node's worker against real task processes: what it does with each assignment.

The dispatcher answers a heartbeat only when the node's assignment changes, so every
step the worker owes an assignment must follow from that one answer: nothing asks twice.
"""
from __future__ import annotations

import asyncio
import types

from runtime_helpers import arun

from swarmlab.agent.worker import Worker
from swarmlab.profiles import LAB
from swarmlab.objects import TaskState


def _task(tid: str, marker: str, desired: str) -> dict:
    return {"ID": tid, "Slot": 1, "DesiredState": desired, "Status": {"State": "assigned"},
            "ServiceAnnotations": {"Name": "www"},
            "Spec": {"ContainerSpec": {"Image": "swarmlab/web:1", "Env": [marker]}}}


def test_a_task_deleted_while_it_stops_is_removed_once_stopped(node):
    executor, spec, marker = node
    ex = executor()
    make = ex.controller

    def controller(s, on_status=None):  # as `docker stop`: the call returns a little after
        ctl = make(s, on_status=on_status)  # the container's death was reported
        down = ctl.shutdown

        async def shutdown(grace_s=None):
            await down(grace_s)
            await asyncio.sleep(0.5)
        ctl.shutdown = shutdown
        return ctl
    ex.controller = controller
    tid = spec().task_id

    async def scenario():
        w = Worker(types.SimpleNamespace(name=ex.node_name, profile=LAB), ex)
        await w.reconcile({"Tasks": [_task(tid, marker, "running")]})
        while w.controllers[tid].status.state != TaskState.RUNNING:
            await asyncio.sleep(0.05)
        await w.reconcile({"Tasks": [_task(tid, marker, "shutdown")]})
        while w.controllers[tid].status.state != TaskState.SHUTDOWN:
            await asyncio.sleep(0.05)
        # the store deletes the task once it is reported shut down: the next (and last)
        # assignment no longer holds it, while the stop call has not returned yet
        await w.reconcile({"Tasks": []})
        for _ in range(60):
            if not w.controllers:
                break
            await asyncio.sleep(0.05)
        assert not w.controllers, "a deleted task stays on its node"
        assert not w.runners
    arun(scenario())


def test_a_task_lost_in_a_restart_is_reported_with_the_time_it_was_found_lost():
    from swarmlab.agent.reconcile import LOST, Lost, plan
    from swarmlab.objects import parse_time
    task = {"ID": "t1", "DesiredState": "running", "Status": {"State": "running"},
            "Spec": {"ContainerSpec": {"Image": "swarmlab/web:1"}}, "ServiceID": "s1", "Slot": 1}
    [lost] = plan({"Tasks": [task]}, {}, "node1")
    assert lost == Lost("t1", TaskState.FAILED, LOST, LOST)
    doc = lost.to_json(1_700_000_000_123_000_000)
    assert doc["State"] == "failed" and doc["Err"] == LOST
    assert parse_time(doc["Timestamp"]) == 1_700_000_000_123_000_000
