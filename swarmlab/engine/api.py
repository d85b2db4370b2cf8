"""The Docker-shaped Engine API every node serves (swarm mode subset).

Theory of operation: routes follow the Docker Engine API (`/v1.44/nodes`, or
plain `/nodes`), with Docker's JSON field names, status codes and
`{"message": ...}` errors, so docker-py and the docker CLI are the clients.
Handlers are thin: they parse, call the node daemon (which runs control-plane
code on the manager's control thread), and render JSON. A manager that is not
the Raft leader forwards writes to the leader, as Docker's followers do.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from ..objects import (
    AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, SequenceError, SwarmError,
)
from ..raft.core import NotLeader, ProposalDropped
from ..store import ProposalNotApplied

if TYPE_CHECKING:
    from ..node.daemon import NodeDaemon

log = logging.getLogger("swarmlab.engine.api")

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"

NOT_IN_SWARM = ("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm "
                "join\" to connect this node to swarm and try again.")
WORKER_REFUSAL = ("This node is not a swarm manager. Worker nodes can't be used to view or "
                  "modify cluster state. Please run this command on a manager node or promote "
                  "the current node to a manager.")
NO_LEADER = ("rpc error: code = Unknown desc = The swarm does not have a leader. It's possible "
             "that too few managers are online. Make sure more than half of the managers are "
             "online.")


class APIError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ForwardToLeader(Exception):
    """This manager cannot write: the request goes to the leader's API."""


def error_response(status: int, message: str) -> web.Response:
    # exactly "application/json" (no charset): the docker CLI only then reads the message
    return web.Response(body=json.dumps({"message": message}).encode(), status=status,
                        headers={"Content-Type": "application/json"})


_STATUS = [(NotFound, 404), (InvalidArgument, 400), (AlreadyExists, 409),
           (FailedPrecondition, 503), (SequenceError, 500), (SwarmError, 500)]


def status_for(exc: SwarmError) -> int:
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return 500


@web.middleware
async def docker_errors(request: web.Request, handler: Callable[..., Awaitable]) -> Any:
    try:
        return await handler(request)
    except APIError as e:
        return error_response(e.status, e.message)
    except (NotLeader, ProposalDropped, ForwardToLeader):
        return await forward_to_leader(request, handler)
    except ProposalNotApplied as e:
        msg = str(e) or NO_LEADER
        return error_response(503 if "leader" in msg else 500, msg)
    except SwarmError as e:
        return error_response(status_for(e), str(e))
    except json.JSONDecodeError as e:
        return error_response(400, f"invalid JSON: {e.msg} (line {e.lineno} column {e.colno})")
    except (ValueError, TypeError, KeyError) as e:
        return error_response(400, f"invalid request: {e}")
    except web.HTTPException:
        raise
    except Exception as e:  # noqa: BLE001 - the API answers, the node stays up
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"{type(e).__name__}: {e}")


async def forward_to_leader(request: web.Request,
                            handler: Callable[..., Awaitable]) -> web.StreamResponse:
    daemon: NodeDaemon = request.app["daemon"]
    if request.headers.get("X-Swarmlab-Forwarded"):
        return error_response(503, NO_LEADER)
    m = daemon.manager
    if daemon.leader_api_url() is None and m is not None:
        # no leader known yet (just promoted, or an election): wait for one, as swarmkit
        await m.wait_for_leader(lambda: m.is_leader() or daemon.leader_api_url() is not None)
        if m.is_leader() and not request.get("swarmlab.retried"):
            request["swarmlab.retried"] = True  # this manager won: it answers itself, once
            return await docker_errors(request, handler)
    url = daemon.leader_api_url()
    if url is None:
        return error_response(503, NO_LEADER)
    body = await request.read()
    headers = {"Content-Type": request.headers.get("Content-Type", "application/json"),
               "X-Swarmlab-Forwarded": daemon.name}
    try:
        # a leader whose node was just killed never answers the connect: give up in 2 s
        # with Docker's no-leader error (the client retries) instead of holding the call
        async with ClientSession(timeout=ClientTimeout(total=30, sock_connect=2)) as s:
            tls = daemon.engine_tls.client_context() if daemon.engine_tls else True
            async with s.request(request.method, url + request.path_qs, data=body,
                                 headers=headers, ssl=tls) as r:
                data = await r.read()
                return web.Response(status=r.status, body=data,
                                    content_type=r.content_type or "application/json")
    except (ClientError, OSError, asyncio.TimeoutError):
        # the leader we knew is gone and no new one is elected: as Docker answers
        return error_response(503, NO_LEADER)


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


def add_routes(app: web.Application, routes: list[tuple[str, str, Callable]]) -> None:
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, r"/v{version:\d+\.\d+}" + path, handler)
