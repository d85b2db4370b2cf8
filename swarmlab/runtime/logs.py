"""A task's logs: a bounded buffer of timestamped lines, for `service logs`.

Docker keeps a container's output in its log driver (json-file by default, with
`max-size`); here each task keeps its last `max_lines` lines in memory, so a
chatty task cannot grow the agent without bound. Long lines are cut at
`max_line_bytes`, as Docker splits lines at 16 KiB.
"""
from __future__ import annotations

import asyncio
import collections
import time
from typing import AsyncIterator

from .base import LogLine

MAX_LINES = 2000
MAX_LINE_BYTES = 16 * 1024


class LogBuffer:
    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self._lines: collections.deque[tuple[int, LogLine]] = collections.deque(maxlen=max_lines)
        self._seq = 0  # lines ever appended; numbers the lines for `follow`
        self._changed = asyncio.Event()
        self.closed = False

    def append(self, stream: str, line: str, timestamp: float | None = None) -> None:
        self._seq += 1
        self._lines.append((self._seq, LogLine(timestamp or time.time(), stream, line)))
        self._changed.set()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    def lines(self, tail: int | None = None, since: float | None = None) -> list[LogLine]:
        selected = [ln for _, ln in self._lines if since is None or ln.timestamp >= since]
        return selected[len(selected) - tail:] if tail is not None and 0 <= tail < len(selected) else selected

    async def follow(self, tail: int | None = None) -> AsyncIterator[LogLine]:
        """The last `tail` lines, then new ones until the task's output ends."""
        numbered = list(self._lines)
        if tail is not None and tail >= 0:
            numbered = numbered[len(numbered) - tail:] if tail else []
        seen = numbered[0][0] - 1 if numbered else self._seq
        while True:
            for seq, line in list(self._lines):
                if seq > seen:
                    seen = seq
                    yield line
            if self._seq > seen:  # appended while the consumer held the last line
                continue
            if self.closed:
                return
            self._changed.clear()
            await self._changed.wait()


async def pump(stream: asyncio.StreamReader, name: str, buffer: LogBuffer) -> None:
    """Read a child's pipe into the buffer line by line, cutting long lines."""
    pending = b""
    while chunk := await stream.read(64 * 1024):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            _append(buffer, name, raw)
        while len(pending) > MAX_LINE_BYTES:
            _append(buffer, name, pending[:MAX_LINE_BYTES])
            pending = pending[MAX_LINE_BYTES:]
    if pending:
        _append(buffer, name, pending)


def _append(buffer: LogBuffer, name: str, raw: bytes) -> None:
    for start in range(0, max(len(raw), 1), MAX_LINE_BYTES):
        buffer.append(name, raw[start:start + MAX_LINE_BYTES].decode("utf-8", "replace").rstrip("\r"))
