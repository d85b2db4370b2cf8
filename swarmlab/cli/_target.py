"""Which node's API a command talks to: `--host`, `--node`, or a manager of the lab.

Like running `docker` on a machine: `--node node2` addresses node2's API, as if the
student had logged into node2. Without it the CLI picks a manager (the Raft leader
when it can tell), or, before any swarm exists, the lab's first node, so that
`swarmlab swarm init` lands on node1 as the course expects.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import docker
import requests

from ._errors import CliError, Unreachable

API_VERSION = "1.44"
PROBE_TIMEOUT_S = 2.0
CALL_TIMEOUT_S = 60.0


TLS_BY_URL: dict[str, object] = {}  # https URL -> docker-py TLSConfig (labs with --tlsverify)


def api_client(url: str, timeout: float = CALL_TIMEOUT_S) -> docker.APIClient:
    from swarmlab.lab.clients import api_client as make
    tls = TLS_BY_URL.get(url) or (_env_tls() if url.startswith("https://") else None)
    return make(url, tls, timeout, API_VERSION)


def _env_tls():
    """DOCKER_CERT_PATH (default ~/.docker), as the docker CLI with --tlsverify reads it."""
    from swarmlab.lab.tls import docker_tls_from
    path = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
    return docker_tls_from(path) if os.path.exists(os.path.join(path, "cert.pem")) else None


def http_url(host: str) -> str:
    """`tcp://127.0.1.1:2375` (DOCKER_HOST style) or a bare address -> an http URL (https
    with DOCKER_TLS_VERIFY set, as the docker CLI)."""
    scheme = "https" if os.environ.get("DOCKER_TLS_VERIFY") else "http"
    if host.startswith("tcp://"):
        return f"{scheme}://" + host[len("tcp://"):]
    if "://" not in host:
        return f"{scheme}://" + (host if ":" in host else f"{host}:2375")
    return host


@dataclass
class Target:
    lab: str | None = None
    node: str | None = None
    host: str | None = None
    _client: docker.APIClient | None = field(default=None, repr=False)
    name: str = ""  # the addressed node, for messages
    url: str = ""

    @classmethod
    def from_args(cls, lab: str | None, node: str | None, host: str | None) -> "Target":
        host = host or os.environ.get("SWARMLAB_HOST") or None
        return cls(lab=lab, node=node, host=host)

    def client(self) -> docker.APIClient:
        """The addressed node's APIClient, resolved once per command."""
        if self._client is None:
            self.name, self.url = self._resolve()
            self._client = api_client(self.url)
        return self._client

    def call(self, fn, *args, **kwargs):
        """Run fn(client, ...) and name the node if it cannot be reached."""
        client = self.client()
        try:
            return fn(client, *args, **kwargs)
        except requests.exceptions.ConnectionError as err:
            raise Unreachable(self.name, self.url) from err

    def operator_call(self, fn, *args, **kwargs):
        """Run fn(client, ...) on the addressed node's operator socket (backups, the
        unlock key: refused on the plain TCP port), as `docker` on that machine does
        through /var/run/docker.sock. `--host unix://PATH` names a socket; a lab's local
        node is reached at its own; otherwise (a docker lab, `--host tcp://`) the usual
        client, which a `--tlsverify` node accepts with the client certificate."""
        url = self.operator_url()
        if url is None:
            return self.call(fn, *args, **kwargs)
        client = api_client(url)
        try:
            return fn(client, *args, **kwargs)
        except requests.exceptions.ConnectionError as err:
            raise Unreachable(self.name, url) from err

    def operator_url(self) -> str | None:
        if self.host:
            return self.host if self.host.startswith("unix://") else None
        self.client()  # resolves the node
        from swarmlab.lab import registry
        from swarmlab.engine.operator import operator_socket
        record = registry.load(self.lab)
        if record.backend != "local":
            return None
        return "unix://" + str(operator_socket(record.node_dir(self.name)))

    def lab_nodes(self) -> list[tuple[str, str]]:
        """(name, api url) of every node of the lab, or of the one `--host`."""
        if self.host:
            url = http_url(self.host)
            return [(url, url)]
        from swarmlab.lab import registry

        try:
            record = registry.load(self.lab)
        except LookupError as err:
            raise CliError(f"Error: {err.args[0] if err.args else err}") from err
        if getattr(record, "tlsverify", False):
            from swarmlab.lab.tls import docker_tls
            TLS_BY_URL.update({n.api_url: docker_tls(record) for n in record.nodes})
        return [(n.name, n.api_url) for n in record.nodes]

    def _resolve(self) -> tuple[str, str]:
        nodes = self.lab_nodes()
        if self.host:
            return nodes[0]
        if self.node:
            for name, url in nodes:
                if name == self.node:
                    return name, url
            raise CliError(f"Error: lab {self.lab_name()!r} has no node named {self.node!r}")
        return pick_manager(nodes)

    def lab_name(self) -> str:
        from swarmlab.lab import registry

        return self.lab or registry.default_lab_name()


def probe_info(nodes: list[tuple[str, str]]) -> dict[str, dict | None]:
    """GET /info on every node at once; None for a node that does not answer."""
    def one(url: str) -> dict | None:
        try:
            return api_client(url, PROBE_TIMEOUT_S).info()
        except (requests.exceptions.RequestException, docker.errors.DockerException):
            return None

    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(nodes))) as pool:
        infos = list(pool.map(one, [url for _, url in nodes]))
    return {name: info for (name, _), info in zip(nodes, infos)}


def pick_manager(nodes: list[tuple[str, str]]) -> tuple[str, str]:
    """The leader if a manager says who it is, else any manager, else the first live node."""
    if not nodes:
        raise CliError("Error: the lab has no nodes")
    infos = probe_info(nodes)
    urls = dict(nodes)
    managers = [n for n, _ in nodes if (infos.get(n) or {}).get("Swarm", {}).get("ControlAvailable")]
    if managers:
        leader = _leader_name(urls[managers[0]])
        if leader in managers:
            return leader, urls[leader]
        return managers[0], urls[managers[0]]
    for name, url in nodes:
        if infos.get(name) is not None:
            return name, url
    name, url = nodes[0]
    raise Unreachable(name, url)


def _leader_name(url: str) -> str | None:
    try:
        return raft_status(api_client(url, PROBE_TIMEOUT_S)).get("Leader")
    except (requests.exceptions.RequestException, docker.errors.DockerException):
        return None


def raft_status(client: docker.APIClient) -> dict:
    """swarmlab's own `GET /swarmlab/raft` (unversioned), through docker-py's transport."""
    resp = client._get(client._url("/swarmlab/raft", versioned_api=False))
    return client._result(resp, json=True)


def post(client: docker.APIClient, path: str, data, params=None):
    """A Docker API call posted with exactly the JSON the docker CLI sends, through
    docker-py's own transport (its helpers rebuild some bodies differently)."""
    resp = client._post_json(client._url(path), data=data, params=params)
    return client._result(resp, json=bool(resp.content))
