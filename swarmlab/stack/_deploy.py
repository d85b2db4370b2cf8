"""`deploy()`: a compose file onto a swarm, in `docker stack deploy`'s steps and words.

Theory of operation: load and convert the whole file (pure, `_load`, `_convert`),
then a pre-flight that only reads from the swarm (external secrets, configs and
networks exist; names are valid; constraints parse; ports are free; no foreign
service holds a stack name). Only when all of that passes does the first write go
out: networks, secrets, configs, then services (created, or updated in place with
their current version). So a refused file leaves the swarm exactly as it was.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ._convert import NAMESPACE, StackPlan, plan
from ._engine import Engine
from ._errors import ComposeError, StackError
from ._load import load
from ._project import ComposeProject

Progress = Callable[[str], None]
_DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")


@dataclass
class DeployResult:
    """What a deploy did; `networks_skipped` lists the networks not created because
    the swarm has no network API (their attachments are still in the service specs)."""

    stack: str
    created: list[str] = field(default_factory=list)       # services
    updated: list[str] = field(default_factory=list)       # services
    removed: list[str] = field(default_factory=list)       # services, with prune
    secrets: list[str] = field(default_factory=list)       # created
    configs: list[str] = field(default_factory=list)       # created
    networks: list[str] = field(default_factory=list)      # created
    networks_skipped: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)      # service name -> ID


def deploy(client: Any, compose: Any, name: str, progress: Progress = print, *,
           prune: bool = False, env: dict[str, str] | None = None) -> DeployResult:
    """Deploy `compose` (a path, a list of paths, compose text or a `ComposeProject`)
    as stack `name`. Raises ComposeError (nothing changed) or StackError."""
    project = compose if isinstance(compose, ComposeProject) else load(compose, env)
    _check_stack_name(project, name)
    for line in project.warnings:
        progress(line)
    _report_ignored(project, progress)
    stack_plan = plan(project, name)
    engine = Engine(client)
    state = _preflight(engine, project, stack_plan)
    return _apply(engine, stack_plan, state, progress, prune)


def _check_stack_name(project: ComposeProject, name: str) -> None:
    if not name or not _DNS_NAME.match(name):
        raise ComposeError(project.filename, 1, "", f"invalid stack name: {name!r} (it must be "
                           "valid as the start of a DNS name: letters, digits, - and _)")
    for svc in project.services:
        full = f"{name}_{svc}"
        if len(full) > 63 or not _DNS_NAME.match(full):
            raise project.error(("services", svc),
                                f"service {full}: name must be valid as a DNS name component")


def _report_ignored(project: ComposeProject, progress: Progress) -> None:
    if project.unsupported:
        progress(f"Ignoring unsupported options: {', '.join(project.unsupported)}\n")
    if project.deprecated:
        lines = "\n".join(f"{k}: {v}" for k, v in project.deprecated)
        progress(f"Ignoring deprecated options:\n\n{lines}\n")
    if project.not_run:
        progress(f"swarmlab: these options are accepted but have no effect on swarmlab tasks: "
                 f"{', '.join(project.not_run)}")


@dataclass
class _State:
    """What the pre-flight read from the swarm."""

    services: dict[str, dict]          # name -> service object, all services
    secrets: dict[str, str]            # name -> ID
    configs: dict[str, str]
    networks: dict[str, dict] | None   # name -> network, None without a network API


def _preflight(engine: Engine, project: ComposeProject, sp: StackPlan) -> _State:
    read = engine.call
    state = _State({s["Spec"]["Name"]: s for s in read("failed to list services", engine.services)},
                   {s["Spec"]["Name"]: s["ID"] for s in read("failed to list secrets", engine.secrets)},
                   {c["Spec"]["Name"]: c["ID"] for c in read("failed to list configs", engine.configs)},
                   read("failed to list networks", engine.networks))
    for kind, names, have in (("secret", sp.external_secrets, state.secrets),
                              ("config", sp.external_configs, state.configs)):
        for ext in names:
            if ext not in have:
                raise project.error((f"{kind}s",), f"{kind} not found: {ext}")
    if state.networks is not None:
        for ext in sp.external_networks:
            if ext not in state.networks:
                raise project.error(("networks",), f'network "{ext}" is declared as external, '
                                    "but could not be found. You need to create a swarm-scoped "
                                    "network before the stack is deployed")
    for full, spec in sp.services.items():
        _check_service(project, sp.name, full, spec, state)
    _check_ports(project, sp, state)
    return state


def _check_service(project: ComposeProject, stack: str, full: str, spec: dict, state: _State) -> None:
    """The daemon's own checks, run before anything is written (see manager/services.py)."""
    from swarmlab.objects import ServiceSpec, SwarmError, from_json
    from swarmlab.scheduler import parse_all
    short = full[len(stack) + 1:]
    at = ("services", short)
    existing = state.services.get(full)
    if existing is not None and (existing["Spec"].get("Labels") or {}).get(NAMESPACE) != stack:
        raise project.error(at, f"failed to create service {full}: name conflicts with an "
                                f"existing object (a service outside stack {stack!r})")
    try:
        from_json(ServiceSpec, spec)
    except ValueError as err:
        raise project.error(at, f"service {short}: {err}") from None
    try:
        parse_all(spec["TaskTemplate"]["Placement"].get("Constraints", ()))
    except SwarmError as err:
        raise project.error(at + ("deploy", "placement", "constraints"),
                            f"service {short}: {err.message}") from None


def _check_ports(project: ComposeProject, sp: StackPlan, state: _State) -> None:
    owner: dict[tuple[str, int], str] = {}
    for name, svc in state.services.items():
        if name in sp.services:
            continue  # its ports are about to be replaced by this deploy
        for p in (svc.get("Endpoint") or {}).get("Ports") or []:
            if p.get("PublishMode", "ingress") == "ingress" and p.get("PublishedPort"):
                owner[(p.get("Protocol", "tcp"), p["PublishedPort"])] = f"'{name}' ({svc['ID']})"
    for full, spec in sp.services.items():
        for p in spec["EndpointSpec"].get("Ports", []):
            key = (p["Protocol"], p.get("PublishedPort", 0))
            if p["PublishMode"] != "ingress" or not key[1]:
                continue
            if key in owner and owner[key] != full:
                raise project.error(("services", full[len(sp.name) + 1:], "ports"),
                                    f"port '{key[1]}' is already in use by service {owner[key]} "
                                    "as an ingress port")
            owner[key] = full


def _apply(engine: Engine, sp: StackPlan, state: _State, progress: Progress,
           prune: bool) -> DeployResult:
    result = DeployResult(sp.name)
    mine = {n: s for n, s in state.services.items()
            if (s["Spec"].get("Labels") or {}).get(NAMESPACE) == sp.name}
    if prune:
        for name in sorted(set(mine) - set(sp.services)):
            progress(f"Removing service {name}")
            engine.call(f"failed to remove service {name}", engine.remove_service, mine[name]["ID"])
            result.removed.append(name)
    _create_networks(engine, sp, state, progress, result)
    for kind, specs, have, created in (("secret", sp.secrets, state.secrets, result.secrets),
                                       ("config", sp.configs, state.configs, result.configs)):
        for spec in specs:
            if spec["Name"] in have:
                continue  # Docker would update it; only its labels could change
            progress(f"Creating {kind} {spec['Name']}")
            have[spec["Name"]] = engine.call(f"failed to create {kind} {spec['Name']}",
                                             engine.create, kind, spec)
            created.append(spec["Name"])
    for full, spec in sp.services.items():
        spec = _with_ids(spec, state)
        if full in mine:
            current = mine[full]
            progress(f"Updating service {full} (id: {current['ID']})")
            spec["TaskTemplate"]["ForceUpdate"] = current["Spec"]["TaskTemplate"].get("ForceUpdate", 0)
            engine.call(f"failed to update service {full}", engine.update_service,
                        current["ID"], current["Version"]["Index"], spec)
            result.updated.append(full)
            result.ids[full] = current["ID"]
        else:
            progress(f"Creating service {full}")
            result.ids[full] = engine.call(f"failed to create service {full}",
                                           engine.create_service, spec)
            result.created.append(full)
    return result


def _create_networks(engine: Engine, sp: StackPlan, state: _State, progress: Progress,
                     result: DeployResult) -> None:
    if state.networks is None:
        result.networks_skipped = sorted(sp.networks)
        return
    for name, opts in sorted(sp.networks.items()):
        if name in state.networks:
            continue
        progress(f"Creating network {name}")
        engine.call(f"failed to create network {name}", engine.create_network, name, opts)
        result.networks.append(name)


def _with_ids(spec: dict, state: _State) -> dict:
    """The spec with `SecretID`/`ConfigID` filled in from the names (a fresh copy)."""
    import copy
    spec = copy.deepcopy(spec)
    container = spec["TaskTemplate"]["ContainerSpec"]
    for ref in container.get("Secrets", []):
        ref["SecretID"] = state.secrets[ref["SecretName"]]
    for ref in container.get("Configs", []):
        ref["ConfigID"] = state.configs[ref["ConfigName"]]
    return spec
