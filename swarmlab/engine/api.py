"""The Docker-shaped Engine API every node serves (swarm mode subset): request parsing.

Theory of operation: routes follow the Docker Engine API (`/v1.44/nodes`, or
plain `/nodes`), with Docker's JSON field names, status codes and
`{"message": ...}` errors (`errors.py`), so docker-py and the docker CLI are the
clients. Handlers are thin: they parse, call the control plane through the gateway
(`gateway.py`: it runs the work on the manager's control thread) or the node's
membership (`node_view.py`), and render JSON (`render.py`). A manager that is not
the Raft leader forwards writes to the leader, as Docker's followers do.
"""
from __future__ import annotations

import functools
import json
from typing import Any, Awaitable, Callable

from aiohttp import web

from .errors import APIError

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"


async def read_json(request: web.Request) -> Any:
    body = await request.read()
    if not body:
        return {}
    return json.loads(body)


def query_bool(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def query_version(request: web.Request) -> int:
    v = request.query.get("version")
    if v is None or not v.isdigit():
        raise APIError(400, "invalid or missing version parameter")
    return int(v)


def parse_filters(request: web.Request) -> dict[str, list[str]]:
    """Docker's `filters` query: {"name": ["www"]} or the older {"name": {"www": true}}."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise APIError(400, "invalid filters")
    out: dict[str, list[str]] = {}
    for k, v in doc.items():
        out[k] = list(v.keys()) if isinstance(v, dict) else [str(x) for x in v]
    return out


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def check_api_version(version: str) -> None:
    """dockerd's version middleware: a path's `/vX.Y` outside what is served is refused
    (400, an invalid parameter), before the route runs."""
    if _version_key(version) < _version_key(MIN_API_VERSION):
        raise APIError(400, f"client version {version} is too old. Minimum supported API "
                            f"version is {MIN_API_VERSION}, please upgrade your client to a "
                            "newer version")
    if _version_key(version) > _version_key(API_VERSION):
        raise APIError(400, f"client version {version} is too new. Maximum supported API "
                            f"version is {API_VERSION}")


def _versioned(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
               ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        check_api_version(request.match_info["version"])
        return await handler(request)
    return checked


def add_routes(app: web.Application, routes: list[tuple[str, str, Callable]]) -> None:
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, r"/v{version:\d+\.\d+}" + path, _versioned(handler))
