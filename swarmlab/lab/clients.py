"""docker-py clients on a node's Engine API, made in one place.

Every client of a lab's node (`Lab.client`, the CLI's calls, the cluster snapshot) is
built here, so the one work-around is written once: with TLS, requests must not read
`REQUESTS_CA_BUNDLE` from the environment, or it would replace the lab's CA and every
call would fail to verify the node (requests#3829). docker-py is imported when a
client is made, so importing the lab does not load it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import tls

if TYPE_CHECKING:
    import docker

    from .registry import LabRecord, NodeRecord

API_VERSION = "1.44"  # what swarmlab's nodes speak
TIMEOUT_S = 30.0


def _trust_lab_ca(api: "docker.APIClient", tls_config: Any) -> None:
    if tls_config:
        api.trust_env = False


def api_client(url: str, tls_config: Any = None, timeout: float = TIMEOUT_S,
               version: str = API_VERSION) -> "docker.APIClient":
    """docker-py's low-level client on `url` (http:// or, with `tls_config`, https://)."""
    import docker
    api = docker.APIClient(base_url=url, version=version, timeout=timeout,
                           tls=tls_config or False)
    _trust_lab_ca(api, tls_config)
    return api


def docker_client(url: str, tls_config: Any = None,
                  timeout: float = TIMEOUT_S) -> "docker.DockerClient":
    """docker-py's DockerClient on `url`. Without TLS the version is negotiated: a lab
    node speaks 1.44, a real dockerd 20.10 (the docker-swarm engine) 1.41."""
    import docker
    if tls_config is None:
        return docker.DockerClient(base_url=url.replace("http://", "tcp://"), version="auto",
                                   timeout=timeout)
    client = docker.DockerClient(base_url=url, version=API_VERSION, timeout=timeout,
                                 tls=tls_config)
    _trust_lab_ca(client.api, tls_config)
    return client


def node_client(record: "LabRecord", node: "NodeRecord",
                timeout: float = TIMEOUT_S) -> "docker.DockerClient":
    """A DockerClient on one node of a lab, with the lab's client certificate if it has one."""
    return docker_client(node.api_url, tls.docker_tls(record), timeout)


def node_api_client(record: "LabRecord", node: "NodeRecord",
                    timeout: float = TIMEOUT_S) -> "docker.APIClient":
    return api_client(node.api_url, tls.docker_tls(record), timeout)


def operator_get(socket_path: str, path: str, timeout: float = TIMEOUT_S) -> bytes:
    """`GET path` on a node's operator socket (`engine/operator.py`): backups and keys,
    which the TCP port refuses. An error answer raises OSError with Docker's message."""
    import http.client
    import json
    import socket

    class _Unix(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(socket_path)

    conn = _Unix("localhost", timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    if r.status != 200:
        try:
            message = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            message = body.decode(errors="replace")
        raise OSError(f"{path}: {r.status} {message}")
    return body


__all__ = ["API_VERSION", "operator_get", "api_client", "docker_client", "node_api_client", "node_client"]
