"""Compose services to Engine API specs: what `docker stack deploy` sends, as JSON.

Pure functions of a `ComposeProject` and a stack name; the deploy shell adds only
the secret and config IDs it learns from the swarm. Names are scoped
(`vote` + `redis` -> `vote_redis`), every object gets the
`com.docker.stack.namespace` label, and the conversions follow docker/cli's
`cli/compose/convert` (entrypoint -> `Command`, command -> `Args`, deploy keys ->
`Mode`, `Placement`, `UpdateConfig`, ...). Errors carry the file, line and key.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import ComposeError
from ._project import ComposeProject
from ._units import Port, command, duration_ns, nano_cpus, ram_bytes, short_ports

#: What one stack may ask of a lab (docs/stacks.md, "Limits"); Docker has no such limits,
#: but a lab's tasks are processes on one machine.
MAX_SERVICES = 100
MAX_REPLICAS = 100
MAX_PORTS = 100
#: swarmkit's own limits on a secret's and a config's data (`MaxSecretSize`, `MaxConfigSize`).
MAX_SECRET_BYTES = 500 * 1024
MAX_CONFIG_BYTES = 1000 * 1024

NAMESPACE = "com.docker.stack.namespace"
IMAGE_LABEL = "com.docker.stack.image"
DEFAULT_NETWORK = "default"


@dataclass
class StackPlan:
    """Everything one deploy creates or updates, before any ID is known."""

    name: str
    services: dict[str, dict] = field(default_factory=dict)       # scoped name -> spec
    secrets: list[dict] = field(default_factory=list)             # SecretSpec JSON
    configs: list[dict] = field(default_factory=list)             # ConfigSpec JSON
    networks: dict[str, dict] = field(default_factory=dict)       # name -> create options
    external_secrets: list[str] = field(default_factory=list)
    external_configs: list[str] = field(default_factory=list)
    external_networks: list[str] = field(default_factory=list)


def scope(stack: str, name: str) -> str:
    return f"{stack}_{name}"


def with_stack_label(stack: str, labels: dict | None) -> dict[str, str]:
    return {**(labels or {}), NAMESPACE: stack}


def check(project: ComposeProject) -> None:
    """Convert once with a placeholder name: raises what a deploy would raise."""
    check_service_count(len(project.services), project.filename, project.line("services"))
    plan(project, "stack")


def check_service_count(count: int, filename: str, line: int) -> None:
    if count > MAX_SERVICES:
        raise ComposeError(filename, line, "services",
                           f"too many services: {count}; a stack has at most {MAX_SERVICES} "
                           "in swarmlab")


def plan(project: ComposeProject, stack: str) -> StackPlan:
    out = StackPlan(stack)
    out.secrets, out.external_secrets = _file_objects(project, stack, "secrets")
    out.configs, out.external_configs = _file_objects(project, stack, "configs")
    out.networks, out.external_networks = _networks(project, stack)
    for name, svc in sorted(project.services.items()):
        out.services[scope(stack, name)] = service_spec(project, stack, name, svc)
    return out


# -- top-level objects ---------------------------------------------------------------------
def labels(value: Any) -> dict[str, str]:
    """`labels:` as a mapping or a list of ``key=value``."""
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    out: dict[str, str] = {}
    for item in value or []:
        key, _, val = str(item).partition("=")
        out[key] = val
    return out


def _external(obj: dict, name: str) -> str | None:
    """The swarm name of an external object, or None if the stack owns it."""
    ext = obj.get("external")
    if isinstance(ext, dict):
        return ext.get("name") or obj.get("name") or name
    return (obj.get("name") or name) if ext else None


def _file_objects(project: ComposeProject, stack: str, kind: str) -> tuple[list[dict], list[str]]:
    specs, external = [], []
    for key, obj in sorted(project.section(kind).items()):
        ext = _external(obj, key)
        if ext is not None:
            external.append(ext)
            continue
        if not obj.get("file"):
            raise project.error((kind, key), f"{kind[:-1]} {key}: only file: sources are supported "
                                             "by swarmlab (driver/environment sources are not)")
        path = Path(project.workdir, obj["file"])
        limit = MAX_SECRET_BYTES if kind == "secrets" else MAX_CONFIG_BYTES
        try:
            with path.open("rb") as f:  # no more than the swarm takes (a file of /dev/zero)
                data = f.read(limit)
        except OSError as err:
            raise project.error((kind, key, "file"), f"open {path}: {err.strerror}") from None
        if len(data) >= limit:  # swarmkit's check and words
            raise project.error((kind, key, "file"), f"{kind[:-1]} data must be larger than 0 "
                                                     f"and less than {limit} bytes")
        spec = {"Name": obj.get("name") or scope(stack, key),
                "Labels": with_stack_label(stack, labels(obj.get("labels"))),
                "Data": base64.b64encode(data).decode()}
        if obj.get("template_driver"):
            spec["Templating"] = {"Name": obj["template_driver"]}
        specs.append(spec)
    return specs, external


def _networks(project: ComposeProject, stack: str) -> tuple[dict[str, dict], list[str]]:
    declared = project.section("networks")
    used: set[str] = set()
    for svc in project.services.values():
        used |= set(_service_networks(svc)) or {DEFAULT_NETWORK}
    create, external = {}, []
    for key in sorted(used):
        net = declared.get(key, {})
        ext = _external(net, key)
        if ext is not None:
            external.append(ext)
            continue
        opts = {"Driver": net.get("driver") or "overlay", "Scope": "swarm",
                "Labels": with_stack_label(stack, labels(net.get("labels"))),
                "Internal": bool(net.get("internal")), "Attachable": bool(net.get("attachable"))}
        if net.get("driver_opts"):
            opts["Options"] = {str(k): str(v) for k, v in net["driver_opts"].items()}
        create[net.get("name") or scope(stack, key)] = opts
    return create, external


def _service_networks(svc: dict) -> dict[str, dict]:
    nets = svc.get("networks") or {}
    if isinstance(nets, list):
        return {str(n): {} for n in nets}
    return {str(k): (v or {}) for k, v in nets.items()}


# -- one service ---------------------------------------------------------------------------
def service_spec(project: ComposeProject, stack: str, name: str, svc: dict) -> dict:
    at = ("services", name)
    deploy = svc.get("deploy") or {}
    container: dict[str, Any] = {"Image": svc.get("image") or ""}
    if not container["Image"]:
        raise project.error(at, f"service {name}: image is required (swarm cannot build images)")
    container["Labels"] = with_stack_label(stack, labels(svc.get("labels")))
    for key, api in (("entrypoint", "Command"), ("command", "Args")):
        if svc.get(key) is not None:
            container[api] = _try(project, at + (key,), command, svc[key])
    for key, api in (("hostname", "Hostname"), ("working_dir", "Dir"), ("user", "User"),
                     ("stop_signal", "StopSignal")):
        if svc.get(key):
            container[api] = str(svc[key])
    if svc.get("environment") is not None:
        container["Env"] = environment(svc["environment"])
    if svc.get("stop_grace_period"):
        container["StopGracePeriod"] = _try(project, at + ("stop_grace_period",), duration_ns,
                                            svc["stop_grace_period"])
    if svc.get("healthcheck") is not None:
        container["Healthcheck"] = healthcheck(project, at + ("healthcheck",), svc["healthcheck"])
    container["Secrets"] = _refs(project, stack, name, svc, "secrets")
    container["Configs"] = _refs(project, stack, name, svc, "configs")
    container = {k: v for k, v in container.items() if v not in (None, [], {})}
    task = {"ContainerSpec": container,
            "Resources": resources(project, at + ("deploy", "resources"), deploy.get("resources")),
            "Placement": placement(deploy.get("placement") or {}),
            "Networks": attachments(project, stack, name, svc)}
    policy = restart_policy(project, at, deploy.get("restart_policy"), svc.get("restart"))
    if policy is not None:
        task["RestartPolicy"] = policy
    spec = {"Name": scope(stack, name),
            "Labels": {**with_stack_label(stack, labels(deploy.get("labels"))),
                       IMAGE_LABEL: container["Image"]},
            "TaskTemplate": task,
            "Mode": mode(project, at + ("deploy",), deploy),
            "EndpointSpec": endpoint(project, at, deploy.get("endpoint_mode"), svc.get("ports"))}
    for key, api in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig")):
        if deploy.get(key) is not None:
            spec[api] = update_config(project, at + ("deploy", key), deploy[key])
    return spec


def _try(project: ComposeProject, path: tuple, fn: Any, value: Any, *args: Any) -> Any:
    try:
        return fn(value, *args)
    except ValueError as err:
        raise project.error(path, str(err)) from None


def environment(value: Any) -> list[str]:
    """Sorted ``KEY=value`` (``KEY`` alone for a null value, as Docker sends it)."""
    if isinstance(value, dict):
        items = [k if v is None else f"{k}={_text(v)}" for k, v in value.items()]
    else:
        items = [str(v) for v in value]
    return sorted(items)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def healthcheck(project: ComposeProject, at: tuple, hc: dict) -> dict:
    if hc.get("disable"):
        if hc.get("test"):
            raise project.error(at, "test and disable can't be set at the same time")
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    test = hc.get("test")
    if test is not None:
        out["Test"] = ["CMD-SHELL", test] if isinstance(test, str) else [str(t) for t in test]
    for key, api in (("interval", "Interval"), ("timeout", "Timeout"),
                     ("start_period", "StartPeriod")):
        if hc.get(key) is not None:
            out[api] = _try(project, at + (key,), duration_ns, hc[key])
    if hc.get("retries") is not None:
        out["Retries"] = int(hc["retries"])
    return out


def resources(project: ComposeProject, at: tuple, res: dict | None) -> dict:
    out: dict[str, dict] = {}
    for key, api in (("limits", "Limits"), ("reservations", "Reservations")):
        part = (res or {}).get(key)
        if part is None:
            continue
        amounts: dict[str, int] = {}
        if part.get("cpus") not in (None, ""):
            amounts["NanoCPUs"] = _try(project, at + (key, "cpus"), nano_cpus, part["cpus"])
        if part.get("memory") not in (None, ""):
            amounts["MemoryBytes"] = _try(project, at + (key, "memory"), ram_bytes, part["memory"])
        if part.get("pids"):
            amounts["Pids"] = int(part["pids"])
        out[api] = amounts
    return out


def placement(p: dict) -> dict:
    out: dict[str, Any] = {}
    if p.get("constraints"):
        out["Constraints"] = [str(c) for c in p["constraints"]]
    if p.get("preferences"):
        out["Preferences"] = [{"Spread": {"SpreadDescriptor": pref.get("spread", "")}}
                              for pref in p["preferences"]]
    if p.get("max_replicas_per_node"):
        out["MaxReplicas"] = int(p["max_replicas_per_node"])
    return out


def restart_policy(project: ComposeProject, at: tuple, rp: dict | None, legacy: Any) -> dict | None:
    if rp is not None:
        out: dict[str, Any] = {}
        if rp.get("condition"):
            out["Condition"] = str(rp["condition"])
        for key, api in (("delay", "Delay"), ("window", "Window")):
            if rp.get(key) is not None:
                out[api] = _try(project, at + ("deploy", "restart_policy", key), duration_ns, rp[key])
        if rp.get("max_attempts") is not None:
            out["MaxAttempts"] = int(rp["max_attempts"])
        return out
    return _legacy_restart(project, at + ("restart",), legacy) if legacy else None


def _legacy_restart(project: ComposeProject, at: tuple, value: str) -> dict | None:
    """`restart:` when no `deploy.restart_policy` is given (newer docker CLIs fall back to it)."""
    name, _, count = str(value).partition(":")
    attempts = int(count) if count.isdigit() and int(count) > 0 else None
    if name in ("no", ""):
        return None
    if name in ("always", "unless-stopped"):
        return {"Condition": "any", **({"MaxAttempts": attempts} if attempts else {})}
    if name == "on-failure":
        return {"Condition": "on-failure", **({"MaxAttempts": attempts} if attempts else {})}
    raise project.error(at, f"invalid restart policy: unknown policy '{name}' (must be one of "
                            "'no', 'always', 'on-failure', or 'unless-stopped')")


def mode(project: ComposeProject, at: tuple, deploy: dict) -> dict:
    kind, replicas = deploy.get("mode") or "replicated", deploy.get("replicas")
    if kind in ("global", "global-job") and replicas is not None:
        raise project.error(at + ("replicas",),
                            "replicas can only be used with replicated or replicated-job mode")
    if replicas is not None and int(replicas) < 0:
        raise project.error(at + ("replicas",), "replicas cannot be negative")
    if replicas is not None and int(replicas) > MAX_REPLICAS:
        raise project.error(at + ("replicas",), f"replicas: {int(replicas)} is more than "
                                                f"{MAX_REPLICAS}, swarmlab's limit for one service")
    if kind == "replicated":
        return {"Replicated": {} if replicas is None else {"Replicas": int(replicas)}}
    if kind == "global":
        return {"Global": {}}
    if kind == "replicated-job":
        n = 1 if replicas is None else int(replicas)
        return {"ReplicatedJob": {"MaxConcurrent": n, "TotalCompletions": n}}
    if kind == "global-job":
        return {"GlobalJob": {}}
    raise project.error(at + ("mode",), f"unknown mode: {kind}")


def update_config(project: ComposeProject, at: tuple, uc: dict) -> dict:
    out: dict[str, Any] = {"Parallelism": 1 if uc.get("parallelism") is None else int(uc["parallelism"])}
    for key, api in (("delay", "Delay"), ("monitor", "Monitor")):
        if uc.get(key):
            out[api] = _try(project, at + (key,), duration_ns, uc[key])
    if uc.get("failure_action"):
        action = str(uc["failure_action"])
        if action not in ("pause", "continue", "rollback"):
            raise project.error(at + ("failure_action",),
                                f'invalid failure action "{action}": must be one of '
                                '"pause", "continue" or "rollback"')
        out["FailureAction"] = action
    ratio = float(uc.get("max_failure_ratio") or 0)
    if not 0 <= ratio <= 1:
        raise project.error(at + ("max_failure_ratio",), "max failure ratio must be between 0 and 1")
    out["MaxFailureRatio"] = ratio
    if uc.get("order"):
        out["Order"] = str(uc["order"])
    return out


def endpoint(project: ComposeProject, at: tuple, mode_: Any, ports: list | None) -> dict:
    converted: list[Port] = []
    for i, p in enumerate(ports or []):
        if isinstance(p, dict):
            converted.append(Port(int(p.get("target") or 0), int(p.get("published") or 0),
                                  str(p.get("protocol") or "tcp").lower(),
                                  str(p.get("mode") or "ingress")))
        else:
            converted.extend(_try(project, at + ("ports", i), short_ports, p, MAX_PORTS))
        if len(converted) > MAX_PORTS:
            raise project.error(at + ("ports", i), f"too many ports: more than {MAX_PORTS} "
                                                   "for one service in swarmlab")
    for i, p in enumerate(converted):
        if not 0 < p.target <= 65535 or not 0 <= p.published <= 65535:
            raise project.error(at + ("ports",), f"invalid port: {p.target} -> {p.published}")
        if p.protocol not in ("tcp", "udp", "sctp"):
            raise project.error(at + ("ports",), f"invalid protocol: {p.protocol}")
        if p.mode not in ("ingress", "host"):
            raise project.error(at + ("ports",), f"invalid publish mode: {p.mode}")
    converted.sort(key=lambda p: (p.published, p.target, p.protocol))
    out: dict[str, Any] = {}
    if mode_:
        resolution = str(mode_).lower()
        if resolution not in ("vip", "dnsrr"):
            raise project.error(at + ("deploy", "endpoint_mode"),
                                f'invalid endpoint mode "{resolution}": must be "vip" or "dnsrr"')
        out["Mode"] = resolution
    if converted:
        out["Ports"] = [{"Protocol": p.protocol, "TargetPort": p.target,
                         **({"PublishedPort": p.published} if p.published else {}),
                         "PublishMode": p.mode} for p in converted]
    return out


def attachments(project: ComposeProject, stack: str, name: str, svc: dict) -> list[dict]:
    declared = project.section("networks")
    nets = _service_networks(svc) or {DEFAULT_NETWORK: {}}
    out = []
    for key, cfg in nets.items():
        if key not in declared and key != DEFAULT_NETWORK:
            raise project.error(("services", name, "networks"), f'undefined network "{key}"')
        net = declared.get(key, {})
        target = _external(net, key) or net.get("name") or scope(stack, key)
        aliases = [str(a) for a in (cfg.get("aliases") or [])] + [name]
        out.append({"Target": target, "Aliases": aliases})
    return sorted(out, key=lambda a: a["Target"])


def _refs(project: ComposeProject, stack: str, name: str, svc: dict, kind: str) -> list[dict]:
    declared = project.section(kind)
    refs = []
    for i, ref in enumerate(svc.get(kind) or []):
        ref = {"source": ref} if isinstance(ref, str) else ref
        source = str(ref.get("source") or "")
        if source not in declared:
            raise project.error(("services", name, kind, i), f'undefined {kind[:-1]} "{source}"')
        obj = declared[source]
        swarm_name = _external(obj, source) or obj.get("name") or scope(stack, source)
        mode_ = ref.get("mode")
        target = {"Name": str(ref.get("target") or source), "UID": str(ref.get("uid") or "0"),
                  "GID": str(ref.get("gid") or "0"), "Mode": 0o444 if mode_ is None else int(mode_)}
        key = "SecretName" if kind == "secrets" else "ConfigName"
        refs.append({"File": target, key: swarm_name})
    return sorted(refs, key=lambda r: r.get("SecretName") or r.get("ConfigName"))
