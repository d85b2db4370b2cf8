"""A client of a Raft manager: one pipelined connection (`RaftClient`), and its errors."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from .codec import CodecError, FrameKind, decode_value, encode_value, frame
from .conn import Address, Conn

log = logging.getLogger("swarmlab.raft.shell.transport")


class ClientError(Exception):
    def __init__(self, info: Any) -> None:
        super().__init__(info.get("error") if isinstance(info, dict) else str(info))
        self.info = info


class NotLeaderError(ClientError):
    @property
    def leader_address(self) -> Address | None:
        addr = self.info.get("leader_address")
        if not addr:
            return None
        host, _, port = addr.rpartition(":")
        return host, int(port)


class RaftClient:
    """One connection to one manager. Requests are pipelined: every request made in
    one event-loop turn travels in one frame; answers are matched by request id."""

    def __init__(self) -> None:
        self.conn: Conn | None = None
        self._next_id = 1
        self._waiting: dict[int, asyncio.Future] = {}
        self._batch: list[list] = []

    @classmethod
    async def connect(cls, addr: Address, timeout: float = 2.0) -> "RaftClient":
        self = cls()
        loop = asyncio.get_running_loop()
        _, self.conn = await asyncio.wait_for(
            loop.create_connection(lambda: Conn(self._on_frame, self._on_lost), *addr), timeout)
        return self

    def request(self, op: str, arg: Any = None) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        if self.conn is None or self.conn.transport is None:
            fut.set_exception(ConnectionError("not connected"))
            return fut
        rid, self._next_id = self._next_id, self._next_id + 1
        self._waiting[rid] = fut
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch.append([rid, op, arg])
        return fut

    async def put(self, data: bytes) -> int:
        return await self.request("put", data)

    async def status(self) -> dict:
        return await self.request("status")

    async def read(self, lo: int, hi: int) -> list[tuple[int, bytes]]:
        return [(i, d) for i, d in await self.request("read", [lo, hi])]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def _flush(self) -> None:
        if self.conn is not None and self._batch:
            self.conn.write(frame(FrameKind.CLIENT_REQ, encode_value(self._batch)))
        self._batch = []

    def _on_frame(self, conn: Conn, kind: FrameKind, body: bytes) -> None:
        try:
            answers = decode_value(body)
        except CodecError as e:
            log.warning("client: dropped a malformed answer: %s", e)
            return
        for rid, ok, value in answers:
            fut = self._waiting.pop(rid, None)
            if fut is None or fut.done():
                continue
            if ok:
                fut.set_result(value)
            elif isinstance(value, dict) and value.get("error") == "not leader":
                fut.set_exception(NotLeaderError(value))
            else:
                fut.set_exception(ClientError(value))

    def _on_lost(self, conn: Conn) -> None:
        self.conn = None
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection to the manager lost"))
        self._waiting.clear()
