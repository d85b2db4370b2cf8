"""What the worker needs from its node, and nothing more (swarmkit's narrow agent interfaces).

The node (`swarmlab.node.NodeDaemon`) satisfies this structurally; the worker never imports
it, so a test or a simulator can hand the worker any object with these names.
"""
from __future__ import annotations

from typing import Any, Protocol

from aiohttp import ClientSession

from ..profiles import TimingProfile


class TLSInfo(Protocol):
    def tls_info(self) -> dict[str, str]:
        """Docker's node `TLSInfo`: the root the node trusts and its certificate's issuer."""


class NodePort(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def node_id(self) -> str: ...
    @property
    def profile(self) -> TimingProfile: ...
    @property
    def swarm_addr_str(self) -> str: ...
    @property
    def security(self) -> TLSInfo: ...

    def tls(self, server_hostname: str = ...) -> dict[str, Any]:
        """aiohttp arguments for a call to a manager over mutual TLS."""

    def blocked_url(self, url: str | None) -> bool:
        """Whether the lab's faults cut this node off from `url`."""

    async def pick_manager_url(self, http: ClientSession) -> str | None:
        """The leader's internal API, as far as the node knows."""

    def remember_managers(self, managers: dict[str, str]) -> None: ...

    async def follow_role(self, doc: dict) -> None:
        """Become what the assignment says: manager or worker, certificate renewed."""

    async def update_mesh(self, doc: dict) -> None:
        """Make the node's routing mesh and service discovery match the mesh table."""
