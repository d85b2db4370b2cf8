"""The node's own operator: routes that hand out keys answer only on the local socket.

Theory of operation: the Engine API on TCP (2375) is plain HTTP, as `dockerd -H tcp://`
is, and whoever reaches the port can drive the swarm (Docker documents it). Two routes
hand out what protects the swarm's secrets at rest, though: `GET /swarmlab/backup` (the
swarm directory with the KEK, so every secret in the store) and `GET /swarm/unlockkey`
(the key the KEK derives from with autolock). Like dockerd's `/var/run/docker.sock`,
every node also serves its whole Engine API on a unix socket, `operator_socket(state
dir)`, mode 0600 and owned by the user running the node (the lab's user): another local
user cannot connect. The two routes answer there, or over TLS with a client certificate
of the operator's CA (`--tlsverify`, `engine/tls.py`); on plain TCP they are refused with
a 403 that says how to reach them.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import socket
import tempfile
from typing import Any, Awaitable, Callable

from aiohttp import web

from .errors import error_response

SOCKET_NAME = "docker.sock"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux; keep a margin

#: (method, path without the /vX.Y prefix) answered on the operator's channel only
OPERATOR_ROUTES = {("GET", "/swarmlab/backup"), ("GET", "/swarm/unlockkey")}


def operator_socket(state_dir: str | pathlib.Path) -> pathlib.Path:
    """Where a node with this state directory serves its operator's socket: in the state
    directory, or (a path too long for a unix socket) in a private directory of the
    user's under the temporary directory, named after the state directory."""
    state_dir = pathlib.Path(state_dir).resolve()
    p = state_dir / SOCKET_NAME
    if len(str(p)) <= MAX_SOCKET_PATH:
        return p
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:20]
    return pathlib.Path(tempfile.gettempdir()) / f"swarmlab-{os.getuid()}" / f"{digest}.sock"


def refusal(path: str) -> str:
    return (f"{path} hands out the swarm's keys: it is served only to the node's operator, "
            "on the node's unix socket (unix://<state dir>/docker.sock, mode 0600; "
            "`swarmlab --node NODE ...` and `Lab` use it) or over TLS with a client "
            "certificate (--tlsverify), not on the plain TCP port")


def is_operator(request: web.Request) -> bool:
    """The request came on the unix socket, or over TLS with a verified client
    certificate (the handshake of a `--tlsverify` node requires one)."""
    transport = request.transport
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family == socket.AF_UNIX:
        return True
    return bool(transport.get_extra_info("peercert"))


def _route_path(path: str) -> str:
    if path.startswith("/v") and "/" in path[1:]:
        head, _, rest = path[1:].partition("/")
        if head[1:].replace(".", "").isdigit():
            return "/" + rest
    return path


@web.middleware
async def operator_only(request: web.Request, handler: Callable[..., Awaitable]) -> Any:
    if (request.method, _route_path(request.path)) in OPERATOR_ROUTES \
            and not is_operator(request):
        return error_response(403, refusal(_route_path(request.path)))
    return await handler(request)


async def serve_operator_socket(runner: web.AppRunner, path: pathlib.Path) -> web.UnixSite:
    """The Engine API on a unix socket only this user can open (0600; its directory 0700
    when it is not the state directory)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.name != SOCKET_NAME:
        os.chmod(path.parent, 0o700)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale socket of an earlier run
    old = os.umask(0o177)  # never, even for a moment, a socket others may open
    try:
        site = web.UnixSite(runner, str(path))
        await site.start()
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return site


__all__ = ["OPERATOR_ROUTES", "is_operator", "operator_only", "operator_socket", "refusal",
           "serve_operator_socket"]
