"""Polling until a lab reaches a state: what the lab's own steps and the notebooks wait with."""
from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(pred: Callable[[], Any], timeout: float = 30.0,
             what: str | Callable[[], str] = "", interval: float = 0.1) -> Any:
    """Poll `pred` until it returns something true; raise TimeoutError with `what`
    (a text, or a function giving one: e.g. the state the cluster is stuck in)."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - a node may be down while we wait
            last_exc = e
        time.sleep(interval)
    if callable(what):
        what = what()
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or pred}"
                       + (f" (last error: {last_exc})" if last_exc else ""))
