"""The machinery under the checks: which lab, reading the API, polling while pending."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

_LAB: list[Any] = []


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str          # what was seen (ok), or what is wrong and a hint (not ok)
    pending: bool = False  # the right change was made; the cluster is converging
    command: str = ""     # the command that would do it, shown only on request

    def _ipython_display_(self) -> None:
        """A check ending a cell has printed its verdict already: no `Result(...)` under it."""


class CheckFailed(AssertionError):
    """A check that does not hold yet: what is wrong, then a hint toward the concept; the
    command that would do it is kept (`command`) and shown only on request
    (`check.show_command()`). In a notebook it shows as those words alone, not under a
    traceback: the cluster is not as asked, the student's code did not crash (`%tb` still
    prints the traceback on request)."""

    def __init__(self, message: str, command: str = "") -> None:
        super().__init__(message)
        self.message, self.command = message, command


_LAST: list[CheckFailed] = []


def show_command() -> None:
    """Print the command the last failed check would have you type."""
    if not _LAST:
        print("no check has failed yet")
    elif not _LAST[0].command:
        print("that check names no command: its hint is all there is")
    else:
        print(_LAST[0].command)


def _show_in_notebook(shell, etype, value, tb, tb_offset=None) -> list[str]:
    lines = [f"\u2717 not yet: {value}"]
    if getattr(value, "command", ""):
        lines.append("  (check.show_command() shows the command)")
    shell._showtraceback(etype, value, lines)  # the frontend's error output: these lines
    return lines


def _register_with_ipython() -> None:
    """Show `CheckFailed` briefly in an IPython kernel (where the checks run in a lab)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or CheckFailed in getattr(shell, "custom_exceptions", ()):
        return
    others = tuple(e for e in getattr(shell, "custom_exceptions", ()) if e is not CheckFailed)
    if others:  # another handler is installed: leave it, and the traceback, alone
        return
    shell.set_custom_exc((CheckFailed,), _show_in_notebook)


_register_with_ipython()


def use(lab: Any) -> Any:
    """Make `lab` the one the checks inspect (returns it)."""
    _LAB[:] = [lab]
    return lab


def current_lab(lab: Any = None) -> Any:
    if lab is not None:
        return lab
    if _LAB:
        return _LAB[0]
    from ..lab import Lab
    return Lab.attach()


def that(condition: object, hint: str) -> None:
    """A check written in the notebook: `check.that(ANSWER == 2, "why, as a hint")`."""
    if not condition:
        failed = CheckFailed(hint)
        _LAST[:] = [failed]
        raise failed


def run(probe: Callable[[Any], Result], lab: Any = None, wait: float = 15.0) -> Result:
    """Evaluate `probe(api)` until it is done, or not pending, or `wait` runs out."""
    lab = current_lab(lab)
    deadline = time.monotonic() + wait
    while True:
        try:
            r = probe(lab.client().api)
        except Exception as e:  # noqa: BLE001 - no leader, a node down...: say it
            r = Result(False, f"the cluster did not answer ({_short(e)}); is the lab up, "
                              f"with a leader? (swarmlab raft status)", pending=True)
        if r.ok:
            print("ok:", r.message)
            return r
        if not r.pending or time.monotonic() >= deadline:
            failed = CheckFailed(r.message, r.command)
            _LAST[:] = [failed]
            raise failed
        time.sleep(0.3)


def _short(e: Exception) -> str:
    text = getattr(e, "explanation", None) or str(e)
    return str(text).splitlines()[0][:160]


def here(docker_cmd: str) -> str:
    """The swarmlab spelling of a docker command; it names the lab being checked, so it
    works when pasted (into a notebook's `!` or a shell)."""
    name = getattr(_LAB[0], "name", "") if _LAB else ""
    lab = f"--lab {name} " if name else ""
    return f"swarmlab {lab}{docker_cmd.removeprefix('docker ')}"


def both(docker_cmd: str) -> str:
    """A command in Docker's and swarmlab's spelling."""
    return f"`{docker_cmd}` (here: `{here(docker_cmd)}`)"


def find_node(api: Any, name: str) -> dict | None:
    return next((n for n in api.nodes()
                 if n["Description"]["Hostname"] == name or n["ID"] == name), None)


def find_service(api: Any, name: str) -> dict | None:
    return next((s for s in api.services() if s["Spec"]["Name"] == name), None)


def running_tasks(api: Any, service: str) -> list[dict]:
    """The service's running tasks; none once the service is gone (a task filter naming a
    service that does not exist is a 404, as dockerd answers it)."""
    try:
        tasks = api.tasks(filters={"service": service})
    except Exception as e:  # noqa: BLE001 - docker.errors.NotFound, without importing docker
        if getattr(getattr(e, "response", None), "status_code", None) == 404:
            return []
        raise
    return [t for t in tasks if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


def node_names(api: Any) -> dict[str, str]:
    return {n["ID"]: n["Description"]["Hostname"] for n in api.nodes()}
