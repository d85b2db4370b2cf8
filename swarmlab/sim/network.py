"""An in-memory network with faults, driven by the virtual clock.

Every message gets a delay drawn from the simulation's one PRNG. Faults:
- `disconnect(n)`: n neither sends nor receives (6.5840's disconnect);
- `partition(groups)`: only nodes in the same group talk (both directions);
- `loss` (and per-link loss): requests and replies dropped independently;
- unreliable mode (6.5840): 10 % of requests and 10 % of replies dropped, the rest
  delayed up to 27 ms; long reordering delays some replies by up to ~2 s.
A message is checked when sent and again when it arrives, so a cut made while
it travels stops it too.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from ..clock import VirtualClock
from ..raft.messages import Message, MessageType as MT

REQUESTS = frozenset({MT.VOTE, MT.PRE_VOTE, MT.APP, MT.HEARTBEAT, MT.SNAP, MT.TIMEOUT_NOW})


def message_size(m: Message) -> int:
    """Bytes this message takes on the wire (the codec's framing when available)."""
    try:
        from ..raft.shell.codec import encode_message  # the real wire format
    except ImportError:  # pragma: no cover - codec not built yet
        return 48 + sum(len(e.data) + 16 for e in m.entries) + (
            len(m.snapshot.data) + 32 if m.snapshot else 0)
    return len(encode_message(m))


@dataclass
class NetStats:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    bytes: int = 0
    requests_to: dict[int, int] = field(default_factory=dict)


class SimNetwork:
    def __init__(self, clock: VirtualClock, rng: random.Random,
                 deliver: Callable[[Message], None], count_bytes: bool = True) -> None:
        self.clock = clock
        self.rng = rng
        self.deliver = deliver
        self.count_bytes = count_bytes
        self.reliable = True
        self.long_reordering = False
        self.loss = 0.0
        self.link_loss: dict[tuple[int, int], float] = {}
        self.delay = (0.0005, 0.002)  # seconds, reliable mode
        self.disconnected: set[int] = set()
        self.groups: dict[int, int] = {}  # node -> partition group; absent = group 0
        self.stats = NetStats()

    # -- faults ----------------------------------------------------------------
    def disconnect(self, n: int) -> None:
        self.disconnected.add(n)

    def connect(self, n: int) -> None:
        self.disconnected.discard(n)

    def partition(self, *groups: set[int] | list[int] | tuple[int, ...]) -> None:
        """Cut the network into groups; nodes not named stay in group 0 together."""
        self.groups = {n: gi + 1 for gi, g in enumerate(groups) for n in g}

    def heal(self) -> None:
        self.groups = {}
        self.disconnected.clear()
        self.link_loss.clear()
        self.loss = 0.0

    def can_pass(self, a: int, b: int) -> bool:
        return (a not in self.disconnected and b not in self.disconnected
                and self.groups.get(a, 0) == self.groups.get(b, 0))

    # -- sending ---------------------------------------------------------------
    def send(self, m: Message) -> None:
        st = self.stats
        st.sent += 1
        if self.count_bytes:
            st.bytes += message_size(m)
        if not self.can_pass(m.src, m.dst):
            st.dropped += 1
            return
        rng = self.rng
        is_request = m.type in REQUESTS
        loss = max(self.loss, self.link_loss.get((m.src, m.dst), 0.0))
        if not self.reliable:
            loss = max(loss, 0.1)
        if loss and rng.random() < loss:
            st.dropped += 1
            return
        if self.reliable:
            delay = rng.uniform(*self.delay)
        else:
            delay = rng.uniform(0.0, 0.027)
        if self.long_reordering and not is_request and rng.randrange(900) < 600:
            delay = 0.2 + rng.randrange(1 + rng.randrange(2000)) / 1000.0
        self.clock.after(delay, self._arrive, m)

    def _arrive(self, m: Message) -> None:
        if not self.can_pass(m.src, m.dst):
            self.stats.dropped += 1
            return
        self.stats.delivered += 1
        if m.type in REQUESTS:
            self.stats.requests_to[m.dst] = self.stats.requests_to.get(m.dst, 0) + 1
        self.deliver(m)
