"""The list-valued service flags: `--X` on create, `--X-add` / `--X-rm` on update.

Each handler follows Docker's update rules: environment by key, labels by key,
constraints sorted after add and remove, ports removed by target port and kept
sorted, secrets and configs removed by name, mounts by target, networks by name.
"""
from __future__ import annotations

from typing import Callable

from ._opts import env_list, kv_map, parse_file_reference

Resolver = Callable[[str, list[str]], dict[str, str]]  # kind, names -> {name: id}


class SpecError(ValueError):
    """A flag combination Docker's CLI refuses (printed as is, exit 1)."""


def apply_lists(spec: dict, lists: dict, resolve: Resolver, *, create: bool) -> None:
    for name, (add, rm) in lists.items():
        if add is None and rm is None:
            continue
        _HANDLERS[name](spec, add or [], rm or [], resolve, create)


def _cs(spec: dict) -> dict:
    return spec["TaskTemplate"]["ContainerSpec"]


def _env(spec, add, rm, resolve, create):
    def key(entry: str) -> str:
        return entry.partition("=")[0]
    current = [e for e in _cs(spec).get("Env") or [] if key(e) not in set(rm)]
    for entry in env_list(add):
        current = [e for e in current if key(e) != key(entry)] + [entry]
    _set_or_drop(_cs(spec), "Env", current)


def _labels(target_of: Callable[[dict], dict], key: str):
    def handler(spec, add, rm, resolve, create):
        owner = target_of(spec)
        labels = dict(owner.get(key) or {})
        for k in rm:
            labels.pop(k, None)
        labels.update(kv_map(add))
        owner[key] = labels
    return handler


def _constraints(spec, add, rm, resolve, create):
    placement = spec["TaskTemplate"].setdefault("Placement", {})
    values = list(placement.get("Constraints") or []) + list(add)
    values = [c for c in values if c not in set(rm)]
    _set_or_drop(placement, "Constraints", values if create else sorted(values))


def _preferences(spec, add, rm, resolve, create):
    placement = spec["TaskTemplate"].setdefault("Placement", {})
    drop = {r.partition("=")[2] for r in rm}
    prefs = [p for p in placement.get("Preferences") or []
             if (p.get("Spread") or {}).get("SpreadDescriptor") not in drop]
    _set_or_drop(placement, "Preferences", prefs + list(add))


def _port_string(p: dict) -> str:
    return (f"{p.get('PublishedPort', 0)}:{p.get('TargetPort', 0)}/"
            f"{p.get('Protocol', 'tcp')}/{p.get('PublishMode', 'ingress')}")


def _ports(spec, add, rm, resolve, create):
    endpoint = spec.setdefault("EndpointSpec", {})
    current: dict[str, dict] = {}
    for port in endpoint.get("Ports") or []:
        current.setdefault(_port_string(port), port)
    removing = [p for group in rm for p in group]
    kept = [p for p in current.values() if not any(
        p.get("TargetPort") == r.get("TargetPort")
        and p.get("Protocol", "tcp") == r.get("Protocol", "tcp") for r in removing)]
    for port in (p for group in add for p in group):
        if _port_string(port) not in current:
            kept.append(port)
    _set_or_drop(endpoint, "Ports", sorted(kept, key=_port_string))


def _files(kind: str):
    key, field = ("Secret", "Secrets") if kind == "secret" else ("Config", "Configs")

    def handler(spec, add, rm, resolve, create):
        cs = _cs(spec)
        kept = [r for r in cs.get(field) or [] if r.get(f"{key}Name") not in set(rm)]
        _set_or_drop(cs, field, kept + file_references(add, kind, resolve))
    return handler


def file_references(values: list[str], kind: str, resolve: Resolver) -> list[dict]:
    """`--secret`/`--config` values -> references with IDs, refusing duplicate targets."""
    if not values:
        return []
    refs = [parse_file_reference(v, is_config=(kind == "config")) for v in values]
    key = "Secret" if kind == "secret" else "Config"
    ids = resolve(kind, sorted({r[f"{key}Name"] for r in refs}))
    targets: set[str] = set()
    for ref in refs:
        name = ref[f"{key}Name"]
        if name not in ids:
            raise SpecError(f"{kind} not found: {name}")
        ref[f"{key}ID"] = ids[name]
        if ref["File"]["Name"] in targets:
            raise SpecError(f"duplicate {kind} target for {name} not allowed")
        targets.add(ref["File"]["Name"])
    return refs


def _mounts(spec, add, rm, resolve, create):
    cs = _cs(spec)
    targets = set(rm) | {m["Target"] for m in add}
    kept = [m for m in cs.get("Mounts") or [] if m.get("Target") not in targets]
    _set_or_drop(cs, "Mounts", kept + list(add))


def _networks(spec, add, rm, resolve, create):
    tt = spec["TaskTemplate"]
    kept = [n for n in tt.get("Networks") or [] if n.get("Target") not in set(rm)]
    names = {n.get("Target") for n in kept}
    kept += [{"Target": name} for name in add if name not in names]
    _set_or_drop(tt, "Networks", kept)


def _groups(spec, add, rm, resolve, create):
    cs = _cs(spec)
    groups = [g for g in cs.get("Groups") or [] if g not in set(rm)]
    _set_or_drop(cs, "Groups", groups + [g for g in add if g not in groups])


def _set_or_drop(owner: dict, key: str, values: list) -> None:
    """Go's omitempty: an empty list is not sent."""
    if values:
        owner[key] = values
    else:
        owner.pop(key, None)


_HANDLERS = {
    "env": _env,
    "label": _labels(lambda spec: spec, "Labels"),
    "container_label": _labels(_cs, "Labels"),
    "constraint": _constraints,
    "placement_pref": _preferences,
    "publish": _ports,
    "secret": _files("secret"),
    "config": _files("config"),
    "mount": _mounts,
    "network": _networks,
    "group": _groups,
}
