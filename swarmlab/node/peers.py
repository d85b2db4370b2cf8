"""The other nodes: who is calling this node's internal API, and telling the other managers.

Who calls is what the verified client certificate says (`peer_identity`), checked against
this node's swarm (`NodeSecurity.cluster_id`, in `app["security"]`). A refusal raises
PermissionDenied, answered as a 403 with swarmkit's message.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Callable

from aiohttp import ClientSession, ClientTimeout, web

from ..ca import PermissionDenied, peer_identity, require_manager, require_role
from ..engine.gateway import internal_url_of
from .security import NodeSecurity

log = logging.getLogger("swarmlab.node")


def caller(request: web.Request) -> Any:
    """The caller's (node ID, role) from its verified certificate, or None. A node removed
    from the swarm is refused, though its certificate is still valid."""
    security: NodeSecurity = request.app["security"]
    ident = peer_identity(request, organization=security.cluster_id or None)
    if ident is not None:
        security.check_not_removed(ident.node_id)
    return ident


def require_manager_caller(request: web.Request) -> str:
    """A manager's certificate whose node the store still calls a manager."""
    security: NodeSecurity = request.app["security"]
    return security.check_manager(require_manager(caller(request)))


def require_node(request: web.Request, node_id: str) -> str:
    """A node (worker or manager) speaking for itself only."""
    me = require_role(caller(request), "worker", "manager")
    if node_id != me:
        raise PermissionDenied(
            f"Permission denied: the remote certificate is node {me}'s, not node {node_id!r}'s")
    return me


async def tell_managers(name: str, managers: dict[str, str], own_api_url: str,
                        tls: Callable[[], dict[str, Any]], body: dict) -> None:
    """Keys and CA settings every manager keeps (over mutual TLS, managers only): `managers`
    maps each manager's API URL to its swarm address; this node's own is skipped."""
    async with ClientSession(timeout=ClientTimeout(total=5)) as http:
        for url, addr in managers.items():
            if url == own_api_url:
                continue
            try:
                async with http.post(internal_url_of(addr) + "/swarmlab/keys",
                                     json=body, **tls()):
                    pass
            except (OSError, asyncio.TimeoutError):
                log.warning("%s: %s missed the new keys", name, url)


async def ask_for_leader(http: ClientSession, urls: list[str], tls: dict[str, Any],
                         blocked: Callable[[str | None], bool]) -> str | None:
    """The leader's internal API as the first of the managers' `urls` that knows names it
    (asked in random order, so the nodes spread their questions)."""
    urls = list(urls)
    random.shuffle(urls)
    for url in urls:
        if blocked(url):
            continue
        try:
            async with http.get(url + "/swarmlab/leader", **tls) as r:
                if r.status == 200:
                    doc = await r.json()
                    if doc.get("API") and not blocked(doc["API"]):
                        return doc["API"]
        except (OSError, asyncio.TimeoutError, Exception):  # noqa: BLE001
            continue
    return None


__all__ = ["ask_for_leader", "caller", "require_manager_caller", "require_node",
           "tell_managers"]
