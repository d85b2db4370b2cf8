"""The embedded backend's network faults: a firewall inside each node.

Node processes of the local backend share the host's loopback, so a partition
cannot be a cable pulled out. Instead `swarmlab lab partition` writes the lab's
`faults.json`, and every node drops what crosses the cut, both ways: Raft
frames in and out, dispatcher calls, and routing-mesh connections to tasks on
the far side. The file:

    {"groups": [["127.0.1.1", "127.100."], ["127.0.1.2", "127.101.", ...]]}

Each group lists node addresses and task-address prefixes; hosts in no group
form one more group together. A host on the other side of the cut is blocked.
"""
from __future__ import annotations

import asyncio
import json
import os


class Firewall:
    def __init__(self, path: str | None, node: str) -> None:
        self.path = path
        self.node = node
        self.groups: list[list[str]] = []
        self._mtime = 0.0
        self._task: asyncio.Task | None = None
        self.my_addr = ""

    def start(self, my_addr: str = "") -> None:
        self.my_addr = my_addr or self.my_addr
        self.reload()
        if self.path:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self.reload()

    def reload(self) -> None:
        if not self.path:
            return
        try:
            mtime = os.stat(self.path).st_mtime
        except FileNotFoundError:
            self.groups, self._mtime = [], 0.0
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            with open(self.path) as f:
                self.groups = json.load(f).get("groups", [])
        except (OSError, ValueError):
            self.groups = []

    def group_of(self, host: str) -> int:
        for i, g in enumerate(self.groups):
            for h in g:
                if host == h or (h.endswith(".") and host.startswith(h)):
                    return i
        return -1

    def blocks_host(self, host: str) -> bool:
        if not self.groups or not host:
            return False
        return self.group_of(host) != self.group_of(self.my_addr)

    def blocks_url(self, url: str | None) -> bool:
        """Whether the host of `url` (scheme://host:port) is cut off from this node."""
        if not url:
            return False
        return self.blocks_host(url.split("//", 1)[-1].rsplit(":", 1)[0])
