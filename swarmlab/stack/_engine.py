"""The Engine API calls a stack needs, over a docker-py client, with specs sent as-is.

docker-py's high-level helpers rebuild specs from keyword arguments (and fill
`update_service` gaps from the current spec); a stack deploy must send exactly the
spec it converted, as the docker CLI does, so the JSON goes through the client's
own request plumbing unchanged.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from ._errors import StackError

T = TypeVar("T")


def explain(err: Exception) -> str:
    """Docker's `Error response from daemon: ...` text for a docker-py error."""
    text = getattr(err, "explanation", None) or str(err)
    return f"Error response from daemon: {text}" if hasattr(err, "response") else str(text)


def network_name(network: dict) -> str:
    """Docker's `/networks` objects are flat (`Name`); swarm objects keep it in `Spec`."""
    return network.get("Name") or (network.get("Spec") or {}).get("Name", "")


def object_id(obj: dict) -> str:
    return obj.get("ID") or obj.get("Id") or ""


class Engine:
    def __init__(self, client: Any):
        self.api = getattr(client, "api", client)  # a DockerClient or an APIClient

    def call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except StackError:
            raise
        except Exception as err:  # docker.errors.APIError, requests errors
            raise StackError(f"{what}: {explain(err)}") from err

    # -- reads --------------------------------------------------------------------------
    def services(self) -> list[dict]:
        return self.api.services(status=True)

    def tasks(self, service_ids: list[str]) -> list[dict]:
        return self.api.tasks(filters={"service": service_ids}) if service_ids else []

    def secrets(self) -> list[dict]:
        return self.api.secrets()

    def configs(self) -> list[dict]:
        return self.api.configs()

    def nodes(self) -> list[dict]:
        return self.api.nodes()

    def networks(self) -> dict[str, dict] | None:
        """Networks by name, or None when the swarm serves no `/networks` at all."""
        import docker
        try:
            found = self.api.networks()
        except docker.errors.NotFound:
            return None
        return {network_name(n): n for n in found}

    # -- writes -------------------------------------------------------------------------
    def _post(self, path: str, spec: dict, **params: Any) -> Any:
        resp = self.api._post_json(self.api._url(path), data=spec, params=params or None)
        return self.api._result(resp, json=True)

    def create(self, kind: str, spec: dict) -> str:
        return self._post(f"/{kind}s/create", spec)["ID"]

    def create_service(self, spec: dict) -> str:
        return self._post("/services/create", spec)["ID"]

    def update_service(self, service_id: str, version: int, spec: dict) -> None:
        self._post(f"/services/{service_id}/update", spec, version=version)

    def create_network(self, name: str, opts: dict) -> str:
        answer = self._post("/networks/create", {"Name": name, "CheckDuplicate": True, **opts})
        return answer.get("Id") or answer.get("ID")

    def remove_service(self, service_id: str) -> None:
        self.api.remove_service(service_id)

    def remove_secret(self, secret_id: str) -> None:
        self.api.remove_secret(secret_id)

    def remove_config(self, config_id: str) -> None:
        self.api.remove_config(config_id)

    def remove_network(self, network_id: str) -> None:
        self.api.remove_network(network_id)
