"""Helpers for the runtime tests: coroutines under a deadline, process checks in /proc."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path


def arun(coro, timeout: float = 30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def live_pids(pids) -> list[int]:
    """Those of `pids` that still exist and are not zombies."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def pids_with_env(marker: str) -> list[int]:
    """Processes whose environment holds `marker` (the test's unique tag)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if marker.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return live_pids(found)




def settle(marker: str, timeout: float = 3.0) -> list[int]:
    """Wait a little for processes tagged `marker` to go; those left."""
    import time
    deadline = time.monotonic() + timeout
    while (left := pids_with_env(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
