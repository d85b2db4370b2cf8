"""Health checks, as Docker runs `HEALTHCHECK`: a command every `interval`.

Docker's rules, kept here: the status starts as `starting`; a probe that exits 0
makes it `healthy` and resets the failing streak; a probe that exits non-zero or
runs past `timeout` adds to the streak, and `retries` failures in a row make it
`unhealthy`, except that failures during `start_period` do not count (a success
during it still makes the task healthy). The last 5 probe results are kept,
like `State.Health.Log`.

`HealthPolicy` is the pure rule; `probe()` runs one test command.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass, field

from .base import HealthCheck, HealthState

STARTING, HEALTHY, UNHEALTHY, NONE = "starting", "healthy", "unhealthy", "none"
_LOG_KEEP = 5


@dataclass
class HealthPolicy:
    check: HealthCheck
    started_at: float
    status: str = STARTING
    failing_streak: int = 0
    log: list[str] = field(default_factory=list)

    def record(self, now: float, ok: bool, output: str) -> str:
        """Apply one probe result; returns the new status."""
        self.log = (self.log + [output])[-_LOG_KEEP:]
        if ok:
            self.status, self.failing_streak = HEALTHY, 0
        elif now - self.started_at >= self.check.start_period_s or self.status == HEALTHY:
            self.failing_streak += 1
            if self.failing_streak >= max(1, self.check.retries):
                self.status = UNHEALTHY
        return self.status

    def next_delay(self, now: float) -> float:
        """Seconds to the next probe: `start_interval` while starting within the
        start period, `interval` otherwise."""
        starting = self.status == STARTING and now - self.started_at < self.check.start_period_s
        if starting and self.check.start_interval_s > 0:
            return self.check.start_interval_s
        return self.check.interval_s

    def state(self) -> HealthState:
        return HealthState(self.status, self.failing_streak, tuple(self.log))


def probe_argv(test: tuple[str, ...]) -> list[str]:
    kind, *rest = test
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(rest)]
    if kind == "CMD":
        return list(rest)
    raise ValueError(f"unknown health test kind {kind!r} (expected CMD, CMD-SHELL or NONE)")


async def probe(argv: list[str], env: dict[str, str], cwd: str, timeout_s: float) -> tuple[bool, str]:
    """Run one health test (`argv`: `probe_argv(test)`, or the runtime's wrapper
    around it); (passed, its output or the reason)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
    except OSError as exc:
        return False, f"health check could not start: {exc}"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except asyncio.TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        return False, f"Health check exceeded timeout ({timeout_s:g}s)"
    finally:
        if proc.returncode is None:  # cancelled: leave no probe behind
            _kill_group(proc.pid)
            with contextlib.suppress(Exception):
                await asyncio.shield(proc.wait())
    text = out.decode("utf-8", "replace").strip()[:4096]
    return proc.returncode == 0, text


async def http_probe(host: str, port: int, path: str, timeout_s: float) -> tuple[bool, str]:
    """`GET path` answered 200: what the lab images' check command does, done here
    without starting two interpreters per probe (see images.builtin_http_check)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, asyncio.TimeoutError) as exc:
        return False, f"unhealthy ({exc or 'timeout'})"
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        status = await asyncio.wait_for(reader.readline(), timeout_s)
        ok = status.split()[1:2] == [b"200"]
        return ok, "healthy" if ok else f"unhealthy ({status.decode(errors='replace').strip()})"
    except (OSError, asyncio.TimeoutError):
        return False, f"Health check exceeded timeout ({timeout_s:g}s)"
    finally:
        writer.close()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
