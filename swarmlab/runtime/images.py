"""Images for the process runtime: the lab catalog, read as Docker reads an image.

An image gives a default command (Docker's CMD), environment, exposed port and
health check. The task's spec overrides them as `docker service create` does:
`--entrypoint` (spec.command) replaces the program and takes spec.args;
`IMAGE CMD...` (spec.args alone) replaces CMD; `--health-cmd` replaces the check.
`python3` at the head of a command is the agent's own interpreter, which has the
`swarmlab.workloads` package the lab images are made of.
"""
from __future__ import annotations

import dataclasses
import sys

from swarmlab.workloads import catalog

from .base import HealthCheck, TaskRejected, TaskRuntimeSpec
from .health import probe_argv


def resolve_image(reference: str) -> catalog.ImageInfo:
    try:
        return catalog.lookup(reference)
    except catalog.NoSuchImage as exc:
        raise TaskRejected(str(exc)) from None


def _python(argv: list[str]) -> list[str]:
    if argv and argv[0] in ("python3", "python"):
        return [sys.executable, *argv[1:]]
    return argv


def image_program(info: catalog.ImageInfo, spec: TaskRuntimeSpec) -> tuple[list[str], HealthCheck | None, int]:
    """(argv, health check, exposed port) for this task."""
    if spec.command:
        argv = [*spec.command, *spec.args]
    else:
        argv = list(spec.args or info.command)
    if not argv:
        raise TaskRejected("starting container failed: no command specified")
    check = spec.healthcheck
    if check is None and info.healthcheck is not None:
        c = info.healthcheck
        check = HealthCheck(tuple(c.test), c.interval_s, c.timeout_s, c.retries, c.start_period_s,
                            getattr(c, "start_interval_s", 0.0))
    if check is not None and not check.disabled:
        _validate(check.test)
        check = dataclasses.replace(check, test=_health_test(check.test))
    return _python(argv), check, info.port or 0


CATALOG_CHECK = ("swarmlab.workloads.healthcheck",)


def builtin_http_check(test: tuple[str, ...]) -> str | None:
    """The path, if `test` is the lab images' own check (`python3 -m
    swarmlab.workloads.healthcheck [PATH]`: GET PATH on SWARMLAB_BIND:PORT, 200 is
    healthy). The runtime then does that GET itself: same verdict, without two
    interpreter start-ups per probe (~0.1 s of CPU each, too much for 20 replicas
    on two cores)."""
    if len(test) in (4, 5) and test[0] == "CMD" and test[2] == "-m" and test[3] == CATALOG_CHECK[0] \
            and test[1] in ("python3", "python", sys.executable):
        return test[4] if len(test) == 5 else "/health"
    return None


def _validate(test: tuple[str, ...]) -> None:
    try:
        argv = probe_argv(test)
    except ValueError as exc:
        raise TaskRejected(f"invalid health check: {exc}") from None
    if not argv or not argv[-1]:
        raise TaskRejected(f"invalid health check: empty test {list(test)}")


def _health_test(test: tuple[str, ...]) -> tuple[str, ...]:
    if test and test[0] == "CMD":
        return ("CMD", *_python(list(test[1:])))
    return test
