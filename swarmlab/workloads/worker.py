"""``swarmlab/worker:1``: moves votes from the KV queue to per-option counters.

The worker of Docker's voting app reads votes from Redis and upserts them into a
database, one row per voter. Here the KV store is both: ``vote:<voter>`` holds each
voter's current choice and ``count:<option>`` the totals, so a voter who changes
their mind moves one vote, not adds one. It keeps retrying while the KV store is
unreachable, as a service must while its dependency is being scheduled.

Environment: ``KV_HOST`` (kv), ``KV_PORT`` (80), ``WORKER_QUEUE`` (votes),
``WORKER_POLL_S`` (0.2).
"""
from __future__ import annotations

import json
import signal
import threading
from typing import Any

from ._http import KvClient, KvError, env, log, task_name


def record(kv: KvClient, item: str) -> str:
    """Apply one queued vote; return a log line that says what changed."""
    try:
        vote = json.loads(item)
        voter, choice = str(vote["voter_id"]), str(vote["vote"])
    except (ValueError, KeyError, TypeError):
        return f"skipped malformed item {item!r}"
    previous = kv.get(f"vote:{voter}")
    if previous == choice:
        return f"voter {voter} already voted {choice}"
    kv.set(f"vote:{voter}", choice)
    kv.incr(f"count:{choice}")
    if previous is not None:
        kv.incr(f"count:{previous}", -1)
        return f"voter {voter} changed {previous} -> {choice}"
    return f"processed vote for {choice} by {voter}"


def run(kv: KvClient, queue: str, poll_s: float, stop: threading.Event) -> None:
    connected = None
    while not stop.is_set():
        try:
            item = kv.rpop(queue)
            if connected is not True:
                log(f"connected to kv store {kv.host}:{kv.port}")
                connected = True
        except KvError as exc:
            if connected is not False:
                log(f"waiting for kv store: {exc}")
                connected = False
            stop.wait(1.0)
            continue
        if item is None:
            stop.wait(poll_s)
        else:
            log(record(kv, item))


def main() -> None:
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log(f"worker: signal {signum}, shutting down")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    kv = KvClient()
    log(f"worker {task_name()} reading queue {env('WORKER_QUEUE', 'votes')}")
    run(kv, env("WORKER_QUEUE", "votes"), float(env("WORKER_POLL_S", "0.2")), stop)


if __name__ == "__main__":
    main()
