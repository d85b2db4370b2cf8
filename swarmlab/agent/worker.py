"""The worker: the part of every node that runs what the managers assign.

Theory of operation (swarmkit's `agent`): the worker keeps a session with the
leader's dispatcher. Every poll it sends a heartbeat carrying the status of
its tasks and gets back its assignment (its tasks, and only the secrets and
configs those tasks use) plus the routing mesh's table. It then reconciles:
a task assigned and desired running gets a runtime controller
(prepare -> start -> wait); a task whose desired state moved past running is
shut down with its grace period; a task no longer assigned is removed. Task
status only moves forward; the runtime reports, the worker forwards.
A lost leader just means trying the next manager; tasks keep running.
A task desired `ready` is prepared (its container created) but started only once it
is desired `running`, as swarmkit's agent does: the new task of a restart or a
stop-first update gets ready while the task it replaces stops. Stopping a running
task behind the routing mesh (published ports, or attached to a network: dockerd's
"service binding") waits the profile's converge delay first, as dockerd's executor
waits 2 s after it takes such a task out of the load balancer: the leader's mesh
table drops a task as soon as its desired state moves past running, and every node
picks that up within a poll, so no new connection goes to a task that is stopping.
Timing: the heartbeat stands in for swarmkit's assignment stream. It carries the
fingerprint of the assignment the node holds, and the leader answers as soon as the
assignment differs (or after half the heartbeat period, `Unchanged`), so a change
reaches the node at once and an idle node sends two heartbeats per period. While a
heartbeat waits, a task status change is sent at once on its own (`status`, after
`REPORT_BATCH_S`, so the changes of several tasks go together), as swarmkit's agent
reports them; every heartbeat also carries every status, so nothing is lost with a
leader.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError, ClientSession, ClientTimeout

from ..runtime import (
    Controller, FileMount, HealthCheck, PortConfig, TaskRuntimeSpec, TaskState as RState,
)
from ..runtime import TaskStatus as RStatus

if TYPE_CHECKING:
    from ..node.daemon import NodeDaemon

log = logging.getLogger("swarmlab.agent.worker")

NS = 1_000_000_000
LOST = "task: the node restarted and the task's process is gone"
RETRY_S = 0.2        # after a failed exchange (with jitter): try another manager
REQUEST_S = 5.0      # a manager that does not answer within this (beyond a hold) is lost
REPORT_BATCH_S = 0.02
DESIRED_RUNNING = {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting",
                   "running"}


def runtime_spec(task: dict, node_name: str, secrets: dict[str, dict],
                 configs: dict[str, dict]) -> TaskRuntimeSpec:
    """Engine-API task JSON -> what the runtime needs (plain values only)."""
    import base64
    spec = task.get("Spec", {})
    cs = spec.get("ContainerSpec", {})
    service = task.get("ServiceAnnotations", {}).get("Name") or task.get("_ServiceName", "")
    slot = task.get("Slot") or task.get("NodeID", "")
    hc = cs.get("Healthcheck")
    health = None
    if hc and hc.get("Test"):
        health = HealthCheck(tuple(hc["Test"]), interval_s=hc.get("Interval", 30 * NS) / NS,
                             timeout_s=hc.get("Timeout", 30 * NS) / NS,
                             retries=hc.get("Retries", 3),
                             start_period_s=hc.get("StartPeriod", 0) / NS)
    mounts = []
    for ref in cs.get("Secrets") or []:
        s = secrets.get(ref.get("SecretID", ""))
        if s is None:
            continue
        f = ref.get("File") or {}
        mounts.append(FileMount(f.get("Name") or ref.get("SecretName", ""),
                                base64.b64decode(s["Spec"].get("Data", "")),
                                int(f.get("UID", "0") or 0), int(f.get("GID", "0") or 0),
                                f.get("Mode", 0o444)))
    cmounts = []
    for ref in cs.get("Configs") or []:
        c = configs.get(ref.get("ConfigID", ""))
        if c is None:
            continue
        f = ref.get("File") or {}
        target = f.get("Name") or "/" + ref.get("ConfigName", "")
        cmounts.append(FileMount(target, base64.b64decode(c["Spec"].get("Data", "")),
                                 int(f.get("UID", "0") or 0), int(f.get("GID", "0") or 0),
                                 f.get("Mode", 0o444)))
    ports = tuple(PortConfig(p.get("TargetPort", 0), p.get("PublishedPort", 0),
                             p.get("Protocol", "tcp"), p.get("PublishMode", "ingress"))
                  for p in (task.get("Endpoint", {}).get("Spec", {}).get("Ports") or
                            task.get("_Ports") or []))
    return TaskRuntimeSpec(
        task_id=task["ID"], task_name=f"{service}.{slot}.{task['ID']}", service_name=service,
        node_name=node_name, image=cs.get("Image", ""), command=tuple(cs.get("Command") or ()),
        args=tuple(cs.get("Args") or ()), env=tuple(cs.get("Env") or ()), ports=ports,
        healthcheck=health, stop_grace_period_s=(cs.get("StopGracePeriod") or 10 * NS) / NS,
        secrets=tuple(mounts), configs=tuple(cmounts), hostname=cs.get("Hostname", ""))


def status_json(st: RStatus) -> dict[str, Any]:
    from ..objects import format_time
    doc: dict[str, Any] = {"Timestamp": format_time(int(st.timestamp * NS)),
                           "State": st.state.docker_name, "Message": st.message}
    if st.err:
        doc["Err"] = st.err
    cstat: dict[str, Any] = {}
    if st.pid:
        cstat["PID"] = st.pid
    if st.exit_code:
        cstat["ExitCode"] = st.exit_code
    if cstat:
        doc["ContainerStatus"] = cstat
    return doc


class Worker:
    def __init__(self, daemon: "NodeDaemon", executor: Any) -> None:
        self.d = daemon
        self.executor = executor
        self.controllers: dict[str, Controller] = {}
        self.runners: dict[str, asyncio.Task] = {}
        self.gates: dict[str, asyncio.Event] = {}  # set: the task may start
        self.specs: dict[str, TaskRuntimeSpec] = {}
        self.session: str | None = None
        self.manager_url: str | None = None
        self._task: asyncio.Task | None = None
        self._changed = asyncio.Event()  # a task status moved: report it now
        self.hold_s = 0.0                # how long the leader may hold a heartbeat
        self._doc: dict = {}             # the assignment last followed in full (its `Known`)
        self.connected = False
        self.lost: dict[str, dict] = {}  # assigned tasks this node no longer runs
        self.converge_s = daemon.profile.converge_delay_ms / 1000

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def close(self, stop_tasks: bool) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if stop_tasks:
            await asyncio.gather(*(self._stop(tid, remove=True) for tid in list(self.controllers)),
                                 return_exceptions=True)

    # -- the session ----------------------------------------------------------------------
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
        except (ClientError, asyncio.TimeoutError, OSError, _Redial) as e:
            log.debug("%s: dispatcher unreachable (%s); trying another manager",
                      self.d.name, e)
            self.connected = False
            self.session, self.manager_url, self._doc = None, None, {}
            await asyncio.sleep(RETRY_S + random.random() * RETRY_S)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the worker must keep going
            log.exception("%s: worker loop error", self.d.name)
            self._doc = {}  # the next heartbeat asks for the whole assignment again
            await asyncio.sleep(1.0)

    async def _report_loop(self, http: ClientSession) -> None:
        """Send task status changes while the heartbeat waits for the next assignment."""
        while True:
            await self._changed.wait()
            await asyncio.sleep(REPORT_BATCH_S)
            self._changed.clear()
            if self.session is None or self.manager_url is None:
                continue  # the next heartbeat carries them
            try:
                await self._post(http, "/swarmlab/dispatcher/status", {
                    "NodeID": self.d.node_id, "SessionID": self.session,
                    "Statuses": self._statuses(), "Endpoints": self._endpoints()})
            except (ClientError, asyncio.TimeoutError, OSError, _Redial) as e:
                log.debug("%s: status report failed (%s); the heartbeat carries it", self.d.name, e)

    def _on_status(self, _status: RStatus) -> None:
        self._changed.set()

    async def _post(self, http: ClientSession, path: str, body: dict, hold_s: float = 0.0) -> dict:
        if self.d.blocked_url(self.manager_url):
            raise _Redial("partitioned from the manager")
        async with http.post(self.manager_url + path, json=body, **self.d.tls(),
                             timeout=ClientTimeout(total=hold_s + REQUEST_S),
                             headers={"X-Swarmlab-Node": self.d.name}) as r:
            doc = await r.json(content_type=None)
            if r.status >= 400:
                raise _Redial(doc.get("message", r.status) if isinstance(doc, dict) else r.status)
            return doc

    async def _exchange(self, http: ClientSession) -> None:
        if self.manager_url is None:
            self.manager_url = await self.d.pick_manager_url(http)
            if self.manager_url is None:
                raise _Redial("no manager reachable")
        if self.session is None:
            doc = await self._post(http, "/swarmlab/dispatcher/session",
                                   {"NodeID": self.d.node_id, "Addr": self.d.swarm_addr_str,
                                    "Hostname": self.d.name})
            self.session, self._doc = doc["SessionID"], {}
            self.hold_s = doc.get("Period", 0) / NS / 2
        self._changed.clear()  # this heartbeat carries every status
        doc = await self._post(http, "/swarmlab/dispatcher/heartbeat", {
            "NodeID": self.d.node_id, "SessionID": self.session,
            "Statuses": self._statuses(), "Endpoints": self._endpoints(),
            "TLSInfo": self.d.security.tls_info(),
            "Known": self._doc.get("Known", ""), "Wait": self.hold_s}, hold_s=self.hold_s)
        self.hold_s = doc.get("Period", 0) / NS / 2  # `swarm update --dispatcher-heartbeat`
        if doc.get("Unchanged"):
            # the same answer as last time: still follow it (a renewal that is due by
            # time, or one that failed, is tried again)
            await self.d.follow_role(self._doc)
            return
        self.d.remember_managers(doc.get("Managers") or [])
        await self.d.follow_role(doc)
        await self._reconcile(doc)
        await self.d.update_mesh(doc.get("Mesh") or {})
        self._doc = doc  # followed in full: the next heartbeat waits for a change to it

    def _statuses(self) -> list[dict]:
        return ([{"TaskID": tid, "Status": status_json(c.status)}
                 for tid, c in self.controllers.items()] +
                [{"TaskID": tid, "Status": st} for tid, st in self.lost.items()])

    def _endpoints(self) -> dict[str, dict]:
        """Where each running task answers (its own address), and whether it is ready:
        running, and healthy if it has a health check."""
        out = {}
        for tid, c in self.controllers.items():
            if c.status.state == RState.RUNNING and getattr(c, "address", ""):
                healthy = c.health().status != "unhealthy"
                out[tid] = {"Address": c.address, "Ready": healthy,
                            "Remapped": not getattr(self.executor, "privileged", True)}
        return out

    # -- reconciling tasks ----------------------------------------------------------------
    async def _reconcile(self, doc: dict) -> None:
        secrets = {s["ID"]: s for s in doc.get("Secrets") or []}
        configs = {c["ID"]: c for c in doc.get("Configs") or []}
        assigned = {t["ID"]: t for t in doc.get("Tasks") or []}
        published = {s.get("Name") for s in (doc.get("Mesh") or {}).get("Services") or []
                     if s.get("Ports")}
        self.lost = {}
        for tid, t in assigned.items():
            desired = t.get("DesiredState", "running")
            if desired in DESIRED_RUNNING and tid not in self.controllers:
                state = t.get("Status", {}).get("State", "new")
                if state in ("assigned", "accepted", "new", "pending"):
                    self._launch(runtime_spec(t, self.d.name, secrets, configs),
                                 start=desired == "running")
                elif state in DESIRED_RUNNING:
                    # started by this node before it restarted: its process is gone
                    self.lost[tid] = {"State": "failed", "Message": LOST, "Err": LOST}
            elif desired == "running" and tid in self.gates:
                self.gates[tid].set()
            elif desired not in DESIRED_RUNNING and tid in self.controllers:
                self._stop_soon(tid, remove=False,
                                converge=_service_binding(t, self.specs[tid], published))
            elif (desired not in DESIRED_RUNNING
                  and t.get("Status", {}).get("State") in DESIRED_RUNNING):
                # to stop, and not here (its process died with a restart, or it never
                # started): it is shut down, as swarmkit's agent reports a task whose
                # container is gone. Sent on every heartbeat until the store has it, so a
                # report lost with a leader's queue is sent again.
                self.lost[tid] = {"State": "shutdown", "Message": "shutdown"}
        for tid in list(self.controllers):
            if tid not in assigned:
                self._stop_soon(tid, remove=True)

    def _launch(self, spec: TaskRuntimeSpec, start: bool = True) -> None:
        ctl = self.executor.controller(spec, on_status=self._on_status)
        self.controllers[spec.task_id] = ctl
        self.specs[spec.task_id] = spec
        gate = self.gates[spec.task_id] = asyncio.Event()
        if start:
            gate.set()
        self.runners[spec.task_id] = asyncio.create_task(self._run(ctl, gate))

    async def _run(self, ctl: Controller, gate: asyncio.Event) -> None:
        try:
            await ctl.prepare()
            await gate.wait()  # desired `ready`: prepared, not started yet
            await ctl.start()
            await ctl.wait()
        except Exception as e:  # noqa: BLE001 - the status already says rejected/failed
            log.info("%s: task %s ended: %s", self.d.name, ctl.spec.task_name, e)

    def _stop_soon(self, tid: str, remove: bool, converge: bool = False) -> None:
        # A removal asked for while the stop runs (the task deleted during its converge
        # delay) follows that stop: the assignment does not change again to ask twice.
        key = f"{'remove' if remove else 'stop'}:{tid}"
        if key in self.runners and not self.runners[key].done():
            return
        before = self.runners.get(f"stop:{tid}") if remove else None
        self.runners[key] = asyncio.create_task(self._stop(tid, remove, converge, before))

    async def _stop(self, tid: str, remove: bool, converge: bool = False,
                    before: asyncio.Task | None = None) -> None:
        """Shut the task down (after the converge delay, if `converge` and it runs) and,
        if `remove`, forget it (after the stop `before`, if one runs)."""
        if before is not None and not before.done():
            await asyncio.wait([before])
        ctl = self.controllers.get(tid)
        if ctl is None:
            return
        if ctl.status.state < RState.COMPLETE:
            if converge and ctl.status.state == RState.RUNNING:
                await asyncio.sleep(self.converge_s)  # out of every node's mesh first
            await ctl.shutdown()
        gate = self.gates.get(tid)
        if gate is not None:
            gate.set()  # prepared and never started: its runner ends (it is shut down)
        if remove:
            await ctl.remove()
            self.controllers.pop(tid, None)
            self.specs.pop(tid, None)
            self.gates.pop(tid, None)
            self.runners.pop(f"stop:{tid}", None)
            self.runners.pop(f"remove:{tid}", None)
            run = self.runners.pop(tid, None)
            if run:
                run.cancel()

    def logs(self, task_ids: set[str], tail: int | None) -> list[tuple[str, Any]]:
        out = []
        for tid in task_ids:
            ctl = self.controllers.get(tid)
            if ctl is not None:
                out += [(self.specs[tid].task_name, line) for line in ctl.logs(tail=tail)]
        return out


def _service_binding(task: dict, spec: TaskRuntimeSpec, published: set[str]) -> bool:
    """Whether the routing mesh leads to this task (dockerd's `hasServiceBinding`): its
    service publishes ports now (the mesh table says so, even if the task predates them),
    or it is attached to a network."""
    return spec.service_name in published or bool(task.get("Spec", {}).get("Networks"))


class _Redial(Exception):
    pass
