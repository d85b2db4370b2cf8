"""The Engine API's errors: Docker's messages, status codes and `{"message": ...}` body.

A leaf of the engine: handlers raise, the `docker_errors` middleware answers. A write that
reached a manager that is not the leader is handed to the app's gateway (`app["gateway"]`),
which forwards it to the leader's API, as Docker's followers do.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Protocol

from aiohttp import web

from ..objects import (
    AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, SequenceError, SwarmError,
    Unimplemented,
)
from ..raft.core import NotLeader, ProposalDropped
from ..store import ProposalNotApplied

log = logging.getLogger("swarmlab.engine.api")

NOT_IN_SWARM = ("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm "
                "join\" to connect this node to swarm and try again.")
WORKER_REFUSAL = ("This node is not a swarm manager. Worker nodes can't be used to view or "
                  "modify cluster state. Please run this command on a manager node or promote "
                  "the current node to a manager.")
NO_LEADER = ("rpc error: code = Unknown desc = The swarm does not have a leader. It's possible "
             "that too few managers are online. Make sure more than half of the managers are "
             "online.")
ALREADY_IN_SWARM = ("This node is already part of a swarm. Use \"docker swarm leave\" to leave "
                    "this swarm and join another one.")

LEAVE_AS_MANAGER = ("You are attempting to leave the swarm on a node that is participating as a "
                    "manager. Removing the last manager erases all current state of the swarm. "
                    "Use `--force` to ignore this message.")


class APIError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ForwardToLeader(Exception):
    """This manager cannot write: the request goes to the leader's API."""


class Forwarder(Protocol):
    """Who takes a request this manager cannot answer (the gateway)."""

    async def forward(self, request: web.Request,
                      retry: Callable[[], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        ...


def error_response(status: int, message: str) -> web.Response:
    # exactly "application/json" (no charset): the docker CLI only then reads the message
    return web.Response(body=json.dumps({"message": message}).encode(), status=status,
                        headers={"Content-Type": "application/json"})


_STATUS = [(NotFound, 404), (InvalidArgument, 400), (AlreadyExists, 409),
           (FailedPrecondition, 503), (Unimplemented, 501), (SequenceError, 500),
           (SwarmError, 500)]


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
        forwarder: Forwarder = request.app["gateway"]
        return await forwarder.forward(request, lambda: docker_errors(request, handler))
    except ProposalNotApplied as e:
        msg = str(e) or NO_LEADER
        return error_response(503 if "leader" in msg else 500, msg)
    except SwarmError as e:
        return error_response(status_for(e), str(e))
    except json.JSONDecodeError as e:
        return error_response(400, f"invalid JSON: {e.msg} (line {e.lineno} column {e.colno})")
    except (ValueError, TypeError, KeyError) as e:
        return error_response(400, f"invalid request: {e}")
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        # no such route, or not with this method: dockerd answers both alike, in JSON
        return error_response(404, "page not found")
    except web.HTTPException:
        raise
    except Exception as e:  # noqa: BLE001 - the API answers, the node stays up
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, f"{type(e).__name__}: {e}")


__all__ = ["ALREADY_IN_SWARM", "APIError", "ForwardToLeader", "Forwarder", "LEAVE_AS_MANAGER",
           "NOT_IN_SWARM",
           "NO_LEADER", "WORKER_REFUSAL", "docker_errors", "error_response", "status_for"]
