"""A trace recorded as JSON (a live lab's `Lab.trace()`) back into `TraceEvent`s."""
from __future__ import annotations

import re
from typing import Any, Iterable

from ..raft.trace import TraceEvent

_KEYS = ("kind", "node", "term", "tick", "time")


def event_from_dict(d: dict) -> TraceEvent:
    """The inverse of `TraceEvent.to_dict()`, for traces recorded as JSON (a live lab's)."""
    fields = {k: v for k, v in d.items() if k not in _KEYS}
    return TraceEvent(d["kind"], int(d["node"]), int(d["term"]), int(d.get("tick", 0)),
                      fields, d.get("time"))


_PEERS = ("src", "dst", "to", "leader")


def live_trace(events: Iterable[dict], since: float | None = None,
               down: dict[str, float] | None = None) -> list[TraceEvent]:
    """A live lab's trace (`Lab.trace()`: nodes by hostname, wall-clock times) as the
    simulator's: `nodeN` becomes N (another name a number from 1001 up), times count
    from the first event kept (`since`: drop what came before that wall-clock time).
    `down` names the nodes killed (hostname: wall-clock time of the kill): a dead
    manager traces nothing, so a `crash` is added for it and it is drawn down."""
    docs = [d for d in events if since is None or d.get("time", since) >= since]
    docs += [{"kind": "crash", "node": host, "term": 0, "time": t}
             for host, t in sorted((down or {}).items()) if since is None or t >= since]
    ids: dict[str, int] = {}

    def num(v: Any) -> Any:
        text = str(v)
        if text.isdigit():
            return int(text)
        m = re.fullmatch(r"node(\d+)", text)
        return int(m.group(1)) if m else ids.setdefault(text, 1001 + len(ids))

    t0 = min((d["time"] for d in docs if d.get("time") is not None), default=0.0)
    out = []
    for d in docs:
        fields = {k: (num(v) if k in _PEERS else v) for k, v in d.items() if k not in _KEYS}
        time = d.get("time")
        out.append(TraceEvent(d["kind"], num(d["node"]), int(d["term"]), int(d.get("tick", 0)),
                              fields, None if time is None else round(time - t0, 4)))
    return out
