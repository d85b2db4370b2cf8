"""EngineAPIDouble: a TEST DOUBLE of the server side only, for the CLI's tests.

A tiny aiohttp server, in a background thread on 127.0.0.1, that serves recorded
Docker Engine API JSON (shapes as in the Engine API reference, v1.44) for the routes
the CLI uses, keeps the few objects it is given, and records every request so tests
can assert on the exact JSON the CLI sent. It is not swarmlab's node API (the lead
builds that); it exists so the CLI can be run end to end through docker-py here.
"""
from __future__ import annotations

import asyncio
import copy
import json
import struct
import threading

from aiohttp import web


def _json(value, status: int = 200) -> web.Response:
    # exactly `application/json`, as dockerd sends it (docker's CLI matches it exactly)
    return web.Response(body=json.dumps(value).encode(), status=status,
                        headers={"Content-Type": "application/json"})

NOW = "2026-11-25T15:00:00.000000000Z"


def node_json(ident: str, hostname: str, *, role: str = "worker", leader: bool = False,
              availability: str = "active", state: str = "ready", addr: str = "127.0.1.1") -> dict:
    node = {
        "ID": ident, "Version": {"Index": 10}, "CreatedAt": NOW, "UpdatedAt": NOW,
        "Spec": {"Labels": {}, "Role": role, "Availability": availability},
        "Description": {"Hostname": hostname,
                        "Platform": {"Architecture": "x86_64", "OS": "linux"},
                        "Resources": {"NanoCPUs": 2000000000, "MemoryBytes": 2095882240},
                        "Engine": {"EngineVersion": "swarmlab-0.1.0"},
                        "TLSInfo": {"TrustRoot": "ROOT"}},  # equal to the cluster's: "Ready"
        "Status": {"State": state, "Addr": addr},
    }
    if role == "manager":
        node["ManagerStatus"] = {"Leader": leader, "Reachability": "reachable", "Addr": f"{addr}:2377"}
    return node


def task_json(ident: str, service_id: str, slot: int, node_id: str, *, state: str = "running",
              desired: str = "running", created: str = NOW, image: str = "swarmlab/web:1",
              err: str = "") -> dict:
    status = {"Timestamp": created, "State": state, "Message": state}
    if err:
        status["Err"] = err
    return {"ID": ident, "Version": {"Index": 20}, "CreatedAt": created, "UpdatedAt": created,
            "Spec": {"ContainerSpec": {"Image": image}}, "ServiceID": service_id, "Slot": slot,
            "NodeID": node_id, "Status": status, "DesiredState": desired}


def _route_path(request) -> str:
    """Versioned (/v1.44/...) and plain paths are the same routes, as on Docker."""
    path = request.path
    if path.startswith("/v1."):
        path = "/" + (path.split("/", 2) + [""])[2]
    return path


class EngineAPIDouble:
    def __init__(self, *, node_id: str = "n1", control: bool = True, raft: dict | None = None) -> None:
        self.requests: list[dict] = []
        self.nodes: dict[str, dict] = {}
        self.services: dict[str, dict] = {}
        self.tasks: list[dict] = []
        self.secrets: dict[str, dict] = {}
        self.configs: dict[str, dict] = {}
        self.secret_data: dict[str, str] = {}  # name -> base64, as sent (never served back)
        self.logs: list[tuple[int, bytes]] = []
        self.node_id, self.control, self.raft = node_id, control, raft
        self.swarm = {"ID": "swarm1", "Version": {"Index": 5}, "CreatedAt": NOW, "UpdatedAt": NOW,
                      "Spec": {"Name": "default", "Labels": {}, "Orchestration": {},
                               "Raft": {"ElectionTick": 0, "HeartbeatTick": 0}, "Dispatcher": {},
                               "CAConfig": {}, "TaskDefaults": {},
                               "EncryptionConfig": {"AutoLockManagers": False}},
                      "TLSInfo": {"TrustRoot": "ROOT"},
                      "JoinTokens": {"Worker": "SWMTKN-1-abc-worker", "Manager": "SWMTKN-1-abc-manager"}}
        self.errors: dict[tuple[str, str], tuple[int, str]] = {}  # (method, path) -> status, message
        self._seq = 0
        self.unlock_key = ""
        self.tls_info = {"TrustRoot": "ROOT"}
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> "EngineAPIDouble":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            app = web.Application(middlewares=[self._middleware])
            app.router.add_route("*", "/{tail:.*}", self._dispatch)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            port = site._server.sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10), "test double did not start"
        return self

    def stop(self) -> None:
        async def cleanup() -> None:
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- plumbing ----------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request, handler):
        body = await request.read()
        path = _route_path(request)
        self.requests.append({"method": request.method, "path": path, "query": dict(request.query),
                              "json": json.loads(body) if body else None})
        err = self.errors.get((request.method, path))
        if err:
            return _json({"message": err[1]}, status=err[0])
        return await handler(request)

    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:023d}"

    async def _dispatch(self, request):
        path, method = _route_path(request), request.method
        parts = [p for p in path.split("/") if p]
        route = getattr(self, f"_{method.lower()}_{parts[0].replace('_', '').replace('-', '')}"
                        if parts else "_missing", None)
        if route is None:
            return _json({"message": f"page not found: {path}"}, status=404)
        return await route(request, parts[1:])

    @staticmethod
    def _missing(kind: str, ident: str):
        return _json({"message": f"{kind} {ident} not found"}, status=404)

    def _find(self, table: dict, ident: str) -> dict | None:
        for obj in table.values():
            if obj["ID"] == ident or obj["ID"].startswith(ident) or \
                    obj["Spec"].get("Name") == ident or \
                    (obj.get("Description") or {}).get("Hostname") == ident:
                return obj
        return None

    # -- routes ------------------------------------------------------------------
    async def _get_ping(self, request, rest):
        return web.Response(text="OK", headers={"API-Version": "1.44", "Swarm": "active/manager"})

    _head_ping = _get_ping

    async def _get_version(self, request, rest):
        return _json({"Version": "swarmlab-0.1.0", "ApiVersion": "1.44",
                                  "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64"})

    async def _get_info(self, request, rest):
        managers = sum(1 for n in self.nodes.values() if n["Spec"]["Role"] == "manager")
        return _json({"ID": "engine", "Name": "node1", "Swarm": {
            "NodeID": self.node_id, "NodeAddr": "127.0.1.1", "LocalNodeState": "active",
            "ControlAvailable": self.control, "Nodes": len(self.nodes), "Managers": managers,
            "Cluster": {"ID": self.swarm["ID"], "TLSInfo": self.tls_info},
            "RemoteManagers": [{"NodeID": self.node_id, "Addr": "127.0.1.1:2377"}]}})

    async def _get_swarmlab(self, request, rest):
        if rest == ["raft"] and self.raft is not None:
            return _json(self.raft)
        return _json({"message": "not a manager"}, status=503)

    async def _get_swarm(self, request, rest):
        if rest == ["unlockkey"]:
            return _json({"UnlockKey": self.unlock_key})
        return _json(self.swarm)

    async def _post_swarm(self, request, rest):
        if rest == ["init"]:
            return _json(self.node_id)
        if rest == ["update"]:
            if request.query.get("rotateWorkerToken") in ("true", "True", "1"):
                self.swarm["JoinTokens"]["Worker"] = "SWMTKN-1-abc-worker2"
            self.swarm["Spec"] = await request.json()
            return web.Response(status=200)
        return web.Response(status=200)

    async def _get_nodes(self, request, rest):
        if not rest:
            return _json(list(self.nodes.values()))
        node = self._find(self.nodes, rest[0])
        return _json(node) if node else self._missing("node", rest[0])

    async def _post_nodes(self, request, rest):
        node = self._find(self.nodes, rest[0])
        if node is None:
            return self._missing("node", rest[0])
        node["Spec"] = await request.json()
        node["Version"]["Index"] += 1
        return web.Response(status=200)

    async def _delete_nodes(self, request, rest):
        node = self._find(self.nodes, rest[0])
        if node is None:
            return self._missing("node", rest[0])
        del self.nodes[node["ID"]]
        return web.Response(status=200)

    async def _get_services(self, request, rest):
        if not rest:
            services = copy.deepcopy(list(self.services.values()))
            if request.query.get("status") in ("1", "true", "True"):
                for s in services:
                    s["ServiceStatus"] = self._status(s)
            return _json(services)
        service = self._find(self.services, rest[0])
        if service is None:
            return self._missing("service", rest[0])
        if rest[1:] == ["logs"]:
            return await self._logs(request)
        return _json(service)

    async def _post_services(self, request, rest):
        spec = await request.json()
        if rest == ["create"]:
            ident = self._id("svc")
            self.services[ident] = {"ID": ident, "Version": {"Index": 1}, "CreatedAt": NOW,
                                    "UpdatedAt": NOW, "Spec": spec, "Endpoint": {"Spec": {}}}
            self._reconcile(self.services[ident])
            return _json({"ID": ident}, status=201)
        service = self._find(self.services, rest[0])
        if service is None:
            return self._missing("service", rest[0])
        if int(request.query["version"]) != service["Version"]["Index"]:
            return _json({"message": "update out of sequence"}, status=500)
        if request.query.get("rollback") == "previous":
            spec = service.get("PreviousSpec") or spec
        service["PreviousSpec"], service["Spec"] = service["Spec"], spec
        service["Version"]["Index"] += 1
        self._reconcile(service)
        return _json({"Warnings": None})

    def _reconcile(self, service: dict) -> None:
        """Just enough orchestration for a CLI test: one running task per replicated slot
        with the current TaskTemplate, older ones shut down; a constraint naming "mars"
        leaves the tasks pending with the scheduler's error."""
        spec = service["Spec"]
        replicas = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1)
        template = spec.get("TaskTemplate") or {}
        impossible = any("mars" in c for c in (template.get("Placement") or {}).get("Constraints") or [])
        current = {}
        for task in self.tasks:
            if task["ServiceID"] != service["ID"] or task["DesiredState"] != "running":
                continue
            if task["Slot"] <= replicas and task["Spec"] == template:
                current[task["Slot"]] = task
            else:
                task["DesiredState"] = task["Status"]["State"] = "shutdown"
        for slot in range(1, replicas + 1):
            if slot not in current:
                task = task_json(self._id("task"), service["ID"], slot, "" if impossible else self.node_id,
                                 state="pending" if impossible else "running",
                                 err="no suitable node (scheduling constraints not satisfied on 3 nodes)"
                                 if impossible else "")
                task["Spec"] = copy.deepcopy(template)
                self.tasks.append(task)

    def _status(self, service: dict) -> dict:
        mine = [t for t in self.tasks if t["ServiceID"] == service["ID"]]
        mode = service["Spec"].get("Mode") or {}
        if "Replicated" in mode:
            desired = (mode["Replicated"] or {}).get("Replicas", 1)
        else:
            desired = sum(1 for t in mine if t["DesiredState"] == "running")
        return {"RunningTasks": sum(1 for t in mine if t["Status"]["State"] == "running"),
                "DesiredTasks": desired, "CompletedTasks": 0}

    async def _delete_services(self, request, rest):
        service = self._find(self.services, rest[0])
        if service is None:
            return self._missing("service", rest[0])
        del self.services[service["ID"]]
        return web.Response(status=200)

    async def _get_tasks(self, request, rest):
        if rest:
            task = next((t for t in self.tasks if t["ID"] == rest[0]), None)
            return _json(task) if task else self._missing("task", rest[0])
        filters = json.loads(request.query.get("filters", "{}"))
        tasks = self.tasks
        for key, field in (("service", "ServiceID"), ("node", "NodeID"), ("desired-state", "DesiredState")):
            if key in filters:
                wanted = filters[key] if isinstance(filters[key], list) else list(filters[key])
                tasks = [t for t in tasks if t[field] in wanted]
        return _json(tasks)

    async def _get_secrets(self, request, rest):
        if not rest:
            return _json(list(self.secrets.values()))
        secret = self._find(self.secrets, rest[0])
        return _json(secret) if secret else self._missing("secret", rest[0])

    async def _post_secrets(self, request, rest):
        body = await request.json()
        ident = self._id("sec")
        self.secrets[ident] = {"ID": ident, "Version": {"Index": 1}, "CreatedAt": NOW,
                               "UpdatedAt": NOW, "Spec": {"Name": body["Name"],
                                                          "Labels": body.get("Labels") or {}}}
        self.secret_data[body["Name"]] = body["Data"]
        return _json({"ID": ident}, status=201)

    async def _delete_secrets(self, request, rest):
        secret = self._find(self.secrets, rest[0])
        if secret is None:
            return self._missing("secret", rest[0])
        del self.secrets[secret["ID"]]
        return web.Response(status=204)

    async def _get_configs(self, request, rest):
        if not rest:
            return _json(list(self.configs.values()))
        config = self._find(self.configs, rest[0])
        return _json(config) if config else self._missing("config", rest[0])

    async def _post_configs(self, request, rest):
        body = await request.json()
        ident = self._id("cfg")
        self.configs[ident] = {"ID": ident, "Version": {"Index": 1}, "CreatedAt": NOW,
                               "UpdatedAt": NOW, "Spec": {"Name": body["Name"], "Data": body["Data"],
                                                          "Labels": body.get("Labels") or {}}}
        return _json({"ID": ident}, status=201)

    async def _logs(self, request):
        resp = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.raw-stream"})
        await resp.prepare(request)
        for stream, payload in self.logs:
            await resp.write(struct.pack(">BxxxL", stream, len(payload)) + payload)
        await resp.write_eof()
        return resp

    def add_service(self, service: dict) -> None:
        self.services[service["ID"]] = copy.deepcopy(service)
