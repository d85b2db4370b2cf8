"""Parsed `service create|update` flags -> the ServiceSpec JSON Docker's CLI would send.

Pure: no I/O. Secret and config names are resolved to IDs by a function the caller
passes in. `create_spec` starts from the skeleton `docker service create` sends
(`Labels: {}`, `Init: false`, empty Resources, Placement and DNSConfig, endpoint mode
vip) and applies the same setters as `update_spec`, so create and update agree on
what each flag means. Groups of flags (update config, restart policy, health
check...) are only written when one of their flags was given, as Docker does.
"""
from __future__ import annotations

import copy
import shlex

from ._opts import env_list
from ._service_lists import Resolver, SpecError, apply_lists

SECOND_NS = 1_000_000_000

# swarmkit's defaults, which Docker's CLI starts from when one flag of a group is set.
DEFAULT_UPDATE = {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5 * SECOND_NS,
                  "MaxFailureRatio": 0, "Order": "stop-first"}
DEFAULT_RESTART = {"Condition": "any", "Delay": 5 * SECOND_NS, "MaxAttempts": 0}




def create_spec(args, resolve: Resolver) -> dict:
    spec = {
        "Name": args.name,
        "Labels": {},
        "TaskTemplate": {
            "ContainerSpec": {"Image": normalize_image(args.image), "Init": False, "DNSConfig": {}},
            "Resources": {"Limits": {}, "Reservations": {}},
            "Placement": {},
            "ForceUpdate": 0,
        },
        "Mode": _create_mode(args),
        "EndpointSpec": {"Mode": args.endpoint_mode or "vip"},
    }
    if not args.name:
        del spec["Name"]  # Go's omitempty; the manager names the service
    if args.command:
        spec["TaskTemplate"]["ContainerSpec"]["Args"] = list(args.command)
    if args.env:
        spec["TaskTemplate"]["ContainerSpec"]["Env"] = env_list(args.env)
    if args.publish:
        spec["EndpointSpec"]["Ports"] = [p for group in args.publish for p in group]
    lists = {name: (getattr(args, name), None) for name in _LIST_ATTRS if name not in ("env", "publish")}
    _apply(spec, args, lists, resolve, create=True)
    return spec


def update_spec(current: dict, args, resolve: Resolver) -> dict:
    """The new spec for `service update`: the current one with the flags applied."""
    spec = copy.deepcopy(current)
    tt = spec.setdefault("TaskTemplate", {})
    cs = tt.setdefault("ContainerSpec", {})
    if args.image is not None:
        cs["Image"] = normalize_image(args.image)
    if args.args is not None:
        cs["Args"] = shlex.split(args.args)
    if args.replicas is not None:
        _set_replicas(spec.setdefault("Mode", {}), args.replicas)
    lists = {name: (getattr(args, f"{name}_add"), getattr(args, f"{name}_rm"))
             for name in _LIST_ATTRS}
    _apply(spec, args, lists, resolve, create=False)
    if args.force:
        tt["ForceUpdate"] = tt.get("ForceUpdate", 0) + 1
    return spec


_LIST_ATTRS = ["env", "label", "container_label", "constraint", "placement_pref", "publish",
               "secret", "config", "mount", "network", "group"]


def normalize_image(image: str) -> str:
    """Docker's CLI sends a familiar reference with its tag: `nginx` -> `nginx:latest`."""
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    return image + ":latest"


def _create_mode(args) -> dict:
    mode = args.mode
    if args.replicas is not None and mode not in ("replicated", "replicated-job"):
        raise SpecError("replicas can only be used with replicated or replicated-job mode")
    if args.replicas_max_per_node is not None and mode not in ("replicated", "replicated-job"):
        raise SpecError("replicas-max-per-node can only be used with replicated or replicated-job mode")
    if args.max_concurrent is not None and mode != "replicated-job":
        raise SpecError("max-concurrent can only be used with replicated-job mode")
    if mode == "replicated":
        return {"Replicated": {} if args.replicas is None else {"Replicas": args.replicas}}
    if mode == "global":
        return {"Global": {}}
    if mode == "global-job":
        return {"GlobalJob": {}}
    job = {}
    concurrent = args.max_concurrent if args.max_concurrent is not None else args.replicas
    if concurrent is not None:
        job["MaxConcurrent"] = concurrent
    if args.replicas is not None:
        job["TotalCompletions"] = args.replicas
    return {"ReplicatedJob": job}


def _set_replicas(mode: dict, replicas: int) -> None:
    if "Replicated" in mode:
        mode["Replicated"] = {**(mode["Replicated"] or {}), "Replicas": replicas}
    elif "ReplicatedJob" in mode:
        mode["ReplicatedJob"] = {**(mode["ReplicatedJob"] or {}), "TotalCompletions": replicas}
    else:
        raise SpecError("replicas can only be used with replicated or replicated-job mode")


def _apply(spec: dict, args, lists: dict, resolve: Resolver, *, create: bool) -> None:
    tt = spec["TaskTemplate"]
    cs = tt["ContainerSpec"]
    _container_fields(cs, args)
    _resources(tt, args)
    _healthcheck(cs, args)
    _policies(spec, args)
    apply_lists(spec, lists, resolve, create=create)
    placement = tt.setdefault("Placement", {})
    if args.replicas_max_per_node is not None:
        placement["MaxReplicas"] = args.replicas_max_per_node
    if args.endpoint_mode is not None:
        spec.setdefault("EndpointSpec", {})["Mode"] = args.endpoint_mode


_CONTAINER_FIELDS = [("hostname", "Hostname"), ("workdir", "Dir"), ("user", "User"),
                     ("stop_signal", "StopSignal"), ("init", "Init"), ("tty", "TTY"),
                     ("read_only", "ReadOnly"), ("stop_grace_period", "StopGracePeriod")]


def _container_fields(cs: dict, args) -> None:
    for attr, key in _CONTAINER_FIELDS:
        value = getattr(args, attr)
        if value is not None:
            cs[key] = value
    if args.entrypoint is not None:
        cs["Command"] = shlex.split(args.entrypoint)


def _resources(tt: dict, args) -> None:
    res = tt.setdefault("Resources", {})
    for attr, group, key in (("limit_cpu", "Limits", "NanoCPUs"),
                             ("limit_memory", "Limits", "MemoryBytes"),
                             ("limit_pids", "Limits", "Pids"),
                             ("reserve_cpu", "Reservations", "NanoCPUs"),
                             ("reserve_memory", "Reservations", "MemoryBytes")):
        value = getattr(args, attr)
        if value is not None:
            res[group] = {**(res.get(group) or {}), key: value}


_HEALTH = [("health_interval", "Interval"), ("health_timeout", "Timeout"),
           ("health_start_period", "StartPeriod"), ("health_retries", "Retries")]


def _healthcheck(cs: dict, args) -> None:
    given = args.health_cmd is not None or any(getattr(args, a) is not None for a, _ in _HEALTH)
    if args.no_healthcheck:
        if given:
            raise SpecError("--no-healthcheck conflicts with --health-* options")
        cs["Healthcheck"] = {"Test": ["NONE"]}
        return
    if not given:
        return
    hc = dict(cs.get("Healthcheck") or {})
    if hc.get("Test", [None])[0] == "NONE":
        hc.pop("Test")
    if args.health_cmd is not None:
        if args.health_cmd:
            hc["Test"] = ["CMD-SHELL", args.health_cmd]
        else:
            hc.pop("Test", None)
    for attr, key in _HEALTH:
        if getattr(args, attr) is not None:
            hc[key] = getattr(args, attr)
    order = ["Test", "Interval", "Timeout", "StartPeriod", "Retries"]
    cs["Healthcheck"] = {k: hc[k] for k in order if hc.get(k)}


_UPDATE_ORDER = ["Parallelism", "Delay", "FailureAction", "Monitor", "MaxFailureRatio", "Order"]
_UPDATE_OMITEMPTY = {"Delay", "FailureAction", "Monitor"}  # Go's `json:",omitempty"`


def _policies(spec: dict, args) -> None:
    for kind, key in (("update", "UpdateConfig"), ("rollback", "RollbackConfig")):
        values = {
            "Parallelism": getattr(args, f"{kind}_parallelism"),
            "Delay": getattr(args, f"{kind}_delay"),
            "FailureAction": getattr(args, f"{kind}_failure_action"),
            "Monitor": getattr(args, f"{kind}_monitor"),
            "MaxFailureRatio": getattr(args, f"{kind}_max_failure_ratio"),
            "Order": getattr(args, f"{kind}_order"),
        }
        if any(v is not None for v in values.values()):
            cfg = dict(spec.get(key) or DEFAULT_UPDATE)
            cfg.update({k: v for k, v in values.items() if v is not None})
            spec[key] = {k: cfg[k] for k in _UPDATE_ORDER
                         if k in cfg and (cfg[k] or k not in _UPDATE_OMITEMPTY)}
    values = {"Condition": args.restart_condition, "Delay": args.restart_delay,
              "MaxAttempts": args.restart_max_attempts, "Window": args.restart_window}
    if any(v is not None for v in values.values()):
        tt = spec["TaskTemplate"]
        policy = dict(tt.get("RestartPolicy") or DEFAULT_RESTART)
        policy.update({k: v for k, v in values.items() if v is not None})
        tt["RestartPolicy"] = policy
