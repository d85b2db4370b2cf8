"""Waiting for a service to converge, with Docker's progress display.

    overall progress: 2 out of 3 tasks
    1/3: running   [==================================================>]
    2/3: running   [==================================================>]
    3/3: no suitable node (scheduling constraints not satisfied on 3 nodes)
    verify: Waiting 5 seconds to verify that tasks are stable...

`SlotProgress.update()` is pure (service, tasks, active nodes -> lines, converged), after
Docker's replicated and global progress updaters; `wait()` polls the API every 200 ms.
On a terminal the block is redrawn in place; elsewhere, as docker does, lines that carry
a progress bar are left out and each other line is printed when it changes. Unlike
Docker it gives up after a timeout, printing the tasks' errors, so a service that
cannot converge does not hang a lesson.
"""
from __future__ import annotations

import os
import shutil
import time

from ._errors import CliError

NUMBERED = {"new": 1, "allocated": 2, "pending": 3, "assigned": 4, "accepted": 5,
            "preparing": 6, "ready": 7, "starting": 8, "running": 9}
TERMINAL = {"complete", "shutdown", "failed", "rejected", "remove", "orphaned"}
LONGEST_STATE = len("preparing")
MAX_BARS = 100
DEFAULT_MONITOR_NS = 5_000_000_000
POLL_S = 0.2


def default_timeout_s() -> float:
    return float(os.environ.get("SWARMLAB_CONVERGE_TIMEOUT", "120"))


def bar(state: str, width_ok: bool) -> str:
    """jsonmessage's bar: '=' * percent/2 then '>' (shown only on wide terminals)."""
    if not width_ok:
        return ""
    filled = min(50, int(NUMBERED.get(state, 0) / 9 * 100) // 2)
    return "[" + "=" * filled + ">" + " " * (50 - filled) + "]"


Line = tuple[str, str, bool]  # (label, text, carries a progress bar)


class SlotProgress:
    """The lines Docker shows for one poll: `overall progress` and one per slot or node."""

    def __init__(self, bars: bool = False) -> None:
        self.slot_map: dict[object, int] = {}
        self.bars = bars

    @staticmethod
    def initial(service: dict) -> list[Line]:
        """What docker prints before the first poll: 0 done, an empty line per slot."""
        replicas = ((service["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas")
        if not replicas:
            return []
        lines = [("overall progress", f"0 out of {replicas} tasks", False)]
        if replicas <= MAX_BARS:
            lines += [(f"{i}/{replicas}", " ", False) for i in range(1, replicas + 1)]
        return lines

    def update(self, service: dict, tasks: list[dict], active_nodes: set[str],
               rollback: bool = False) -> tuple[list[Line], bool]:
        mode = service["Spec"].get("Mode") or {}
        if "Replicated" in mode:
            total = int((mode["Replicated"] or {}).get("Replicas", 1))
            current = self._by_key(tasks, active_nodes, lambda t: t.get("Slot"))
        elif "Global" in mode:
            current = self._by_key(tasks, active_nodes, lambda t: t.get("NodeID"))
            total = len(current)
            if not total:  # no task yet, or no node meets the constraints: docker waits
                return [("overall progress", "waiting for new tasks", False)], False
        else:
            return self._job(mode, tasks)
        lines: list[Line] = []
        running = 0
        for key in sorted(current, key=lambda k: (self._slot(k))):
            task = current[key]
            running += task.get("DesiredState") not in TERMINAL and task["Status"]["State"] == "running"
            label = f"{self._slot(key)}/{total}" if "Replicated" in mode else str(key)[:12]
            if total <= MAX_BARS and ("Global" in mode or self._slot(key) <= total):
                lines.append((label, *self._task_line(task)))
        verb = "rolling back update: " if rollback else ""
        # docker counts running tasks of removed slots too ("3 out of 1") until they stop
        overall = ("overall progress", f"{verb}{min(running, total)} out of {total} tasks", False)
        return [overall] + lines, running == total

    def _slot(self, key: object) -> int:
        if key not in self.slot_map:
            self.slot_map[key] = len(self.slot_map) + 1
        return self.slot_map[key]

    @staticmethod
    def _by_key(tasks: list[dict], active_nodes: set[str], key_of) -> dict:
        """Docker's tasksBySlot: per slot the task with the lowest desired state."""
        chosen: dict = {}
        for task in tasks:
            desired, state = NUMBERED.get(task.get("DesiredState"), 0), NUMBERED.get(task["Status"].get("State"), 0)
            if not desired or not state:
                continue
            key = key_of(task)
            old = chosen.get(key)
            if old is not None:
                old_desired = NUMBERED[old["DesiredState"]]
                if old_desired < desired or (old_desired == desired and NUMBERED[old["Status"]["State"]] <= state):
                    continue
            if task.get("NodeID") and task["NodeID"] not in active_nodes:
                continue
            chosen[key] = task
        return chosen

    def _task_line(self, task: dict) -> tuple[str, bool]:
        status = task["Status"]
        if status.get("Err"):
            return status["Err"], False
        return f"{status['State']:<{LONGEST_STATE}} {bar(status['State'], self.bars)}".rstrip(), True

    @staticmethod
    def _job(mode: dict, tasks: list[dict]) -> tuple[list[Line], bool]:
        done = sum(1 for t in tasks if t["Status"].get("State") == "complete")
        if "ReplicatedJob" in mode:
            total = int((mode["ReplicatedJob"] or {}).get("TotalCompletions", 1))
        else:
            total = sum(1 for t in tasks if t.get("DesiredState") == "complete") or done
        return [("job progress", f"{done} out of {total} complete", False)], done >= total


class Screen:
    """Redraw the block in place on a terminal; elsewhere print each changed line once."""

    def __init__(self, out, tty: bool) -> None:
        self.out, self.tty = out, tty
        self.lines: dict[str, str] = {}
        self.drawn = 0

    def show(self, lines: list[Line]) -> None:
        changed = [(k, v, p) for k, v, p in lines if self.lines.get(k) != v]
        self.lines.update({k: v for k, v, _ in lines})
        if self.tty:
            self.out.write("\x1b[1A\x1b[2K" * self.drawn)
            for key, text in self.lines.items():
                self.out.write(f"{key}: {text}\n")
            self.drawn = len(self.lines)
        else:
            for key, text, has_bar in changed:
                if not has_bar:
                    self.out.write(f"{key}: {text}\n")
        self.out.flush()


def up_to_date(service: dict, tasks: list[dict]) -> list[dict]:
    """The tasks of the service's current spec. Docker's daemon filters them for
    `_up-to-date`; where a daemon does not, a task whose Spec is the service's
    TaskTemplate is up to date, and while an update runs only those count."""
    template = service["Spec"].get("TaskTemplate")
    matching = [t for t in tasks if t.get("Spec") == template]
    updating = (service.get("UpdateStatus") or {}).get("State") in ("updating", "rollback_started")
    return matching if matching or updating else tasks


def _monitor_ns(service: dict, rollback: bool) -> int:
    cfg = service["Spec"].get("RollbackConfig" if rollback else "UpdateConfig") or {}
    return cfg.get("Monitor") or DEFAULT_MONITOR_NS


def _check_update_status(service: dict, converged: bool, state: dict, screen: Screen) -> bool | None:
    """Docker's reading of UpdateStatus: errors for paused updates, rollback notices.
    Returns True when there is nothing left to wait for."""
    us = service.get("UpdateStatus") or {}
    s, msg = us.get("State"), us.get("Message", "")
    if s == "updating":
        state["rollback"] = False
    elif s == "completed" and not converged:
        return True
    elif s == "paused":
        raise CliError(f"service update paused: {msg}")
    elif s == "rollback_started":
        if not state["rollback"] and msg:
            screen.show([("rollback", msg, False)])
        state["rollback"] = True
    elif s == "rollback_paused":
        raise CliError(f"service rollback paused: {msg}")
    elif s == "rollback_completed" and not converged:
        raise CliError(f"service rolled back: {msg}")
    return None


def wait(ctx, service_id: str, *, quiet: bool = False, timeout_s: float | None = None) -> None:
    """Poll until the service converges and stays so for the monitor period."""
    timeout_s = default_timeout_s() if timeout_s is None else timeout_s
    tty = ctx.terminal and not quiet
    screen = Screen(ctx.out if not quiet else _Null(), tty)
    progress = SlotProgress(bars=tty and shutil.get_terminal_size().columns > 110)
    deadline, converged_at, state = time.monotonic() + timeout_s, None, {"rollback": False}
    tasks: list[dict] = []
    started = False
    try:
        while time.monotonic() < deadline:
            service = ctx.call(lambda c: c.inspect_service(service_id))
            if not started:
                screen.show(SlotProgress.initial(service))
                started = True
            tasks = up_to_date(service, ctx.call(lambda c: c.tasks(
                filters={"service": service["ID"], "_up-to-date": "true"})))
            active = {n["ID"] for n in ctx.call(lambda c: c.nodes())
                      if (n.get("Status") or {}).get("State") != "down"}
            lines, converged = progress.update(service, tasks, active, state["rollback"])
            if _check_update_status(service, converged, state, screen):
                return
            screen.show(lines)
            if converged:
                converged_at = converged_at or time.monotonic()
                left = _monitor_ns(service, state["rollback"]) / 1e9 - (time.monotonic() - converged_at)
                if left <= 0:
                    screen.show([("verify", f"Service {service_id} converged", False)])
                    return
                screen.show([("verify", f"Waiting {int(left) + 1} seconds to verify that tasks are stable...",
                              False)])
            elif converged_at is not None:
                screen.show([("verify", "Detected task failure", False)])
                converged_at = None
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        ctx.print(f"Operation continuing in background.\n"
                  f"Use `swarmlab service ps {service_id}` to check progress.")
        raise
    raise CliError(_timeout_message(service_id, timeout_s, tasks))


def _timeout_message(service_id: str, timeout_s: float, tasks: list[dict]) -> str:
    errors = sorted({t["Status"]["Err"] for t in tasks if (t.get("Status") or {}).get("Err")})
    text = f"Error: service {service_id} did not converge within {timeout_s:g}s"
    if errors:
        text += "; task errors:\n" + "\n".join(f"  {e}" for e in errors)
    return text + f"\nThe swarm keeps trying; see `swarmlab service ps {service_id}`."


class _Null:
    def write(self, _text: str) -> None:
        pass

    def flush(self) -> None:
        pass
