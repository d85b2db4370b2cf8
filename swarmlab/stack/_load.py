"""`load()`: a compose file to a validated `ComposeProject`, or a `ComposeError`.

The steps and their order are Docker's (`docker stack deploy`'s loader): parse the
YAML, refuse forbidden options, interpolate, validate against the schema of the
file's version, then check what the schema cannot (ports, sizes, references) by
converting every service once. Nothing here talks to a swarm.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path as FsPath
from typing import Any, Mapping

from ._convert import check, check_service_count
from ._errors import ComposeError
from ._interpolate import interpolate
from ._project import ComposeProject
from ._schema import validate
from ._yaml import MAX_FILE_BYTES, Marks, parse

#: Options Swarm does not use; reported, then ignored (docker/cli's list).
UNSUPPORTED = ("build", "cap_add", "cap_drop", "cgroup_parent", "devices", "domainname",
               "external_links", "ipc", "links", "mac_address", "network_mode", "pid",
               "privileged", "restart", "security_opt", "shm_size", "sysctls", "ulimits",
               "userns_mode")
DEPRECATED = {
    "container_name": "Setting the container name is not supported.",
    "expose": "Exposing ports is unnecessary - services on the same network can access "
              "each other's containers on any port.",
}
FORBIDDEN = {
    "extends": "Support for `extends` is not implemented yet.",
    "volume_driver": "Instead of setting the volume driver on the service, define a volume "
                     "using the top-level `volumes` option and specify the driver there.",
    "volumes_from": "To share a volume between services, define it using the top-level "
                    "`volumes` option and reference it from each service that shares it "
                    "using the service-level `volumes` option.",
    "cpu_quota": "Set resource limits using deploy.resources",
    "cpu_shares": "Set resource limits using deploy.resources",
    "cpuset": "Set resource limits using deploy.resources",
    "mem_limit": "Set resource limits using deploy.resources",
    "memswap_limit": "Set resource limits using deploy.resources",
}
#: Service options Docker converts but swarmlab's tasks have no use for (no mounts,
#: no TTY, no DNS or log drivers); reported so that nobody expects them to work.
NOT_RUN = ("volumes", "tmpfs", "tty", "stdin_open", "init", "read_only", "dns",
           "dns_search", "extra_hosts", "logging", "isolation", "credential_spec",
           "env_file")


def load(source: Any, env: Mapping[str, str] | None = None) -> ComposeProject:
    """Load compose text, a file path ("-" is stdin), or a list of paths merged in order.
    `env` is what `${VAR}` reads (default: the process environment)."""
    env = dict(os.environ if env is None else env)
    items = source if isinstance(source, (list, tuple)) else [source]
    if not items:
        raise ComposeError("<none>", 1, "", "No files specified")
    projects = [_load_one(item, env) for item in items]
    project = projects[0] if len(projects) == 1 else _merge(projects)
    check(project)
    return project


def _read(source: Any) -> tuple[str, str, str]:
    """(text, name for messages, working directory for relative `file:` paths)."""
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{")):
        return source, "<string>", os.getcwd()
    if source == "-":
        return _bounded(sys.stdin.read(MAX_FILE_BYTES + 1), "<stdin>"), "<stdin>", os.getcwd()
    path = FsPath(source)
    try:
        with path.open() as f:  # no more than the limit is read (a compose file of /dev/zero)
            text = f.read(MAX_FILE_BYTES + 1)
    except (OSError, UnicodeDecodeError) as err:
        raise ComposeError(str(path), 1, "", f"open {path}: {getattr(err, 'strerror', None) or err}") from None
    return _bounded(text, str(path)), str(path), str(path.resolve().parent)


def _bounded(text: str, name: str) -> str:
    if len(text) > MAX_FILE_BYTES:
        raise ComposeError(name, 1, "", f"file too large: more than {MAX_FILE_BYTES} bytes")
    return text


def _load_one(source: Any, env: Mapping[str, str]) -> ComposeProject:
    text, name, workdir = _read(source)
    data, marks = parse(text, name)
    if isinstance(data.get("services"), dict):  # before the schema has thousands to check
        check_service_count(len(data["services"]), name, marks.line(("services",)))
    _refuse_forbidden(data, name, marks)
    warnings: list[str] = []
    data = interpolate(data, env, name, marks, warnings.append)
    version = validate(data, name, marks)
    services = data.get("services") or {}
    _environment_from_shell(services, env)
    used = lambda keys: sorted({k for s in services.values() if isinstance(s, dict) for k in s if k in keys})  # noqa: E731
    return ComposeProject(
        name, workdir, version, data, marks,
        unsupported=tuple(used(UNSUPPORTED)),
        deprecated=tuple((k, DEPRECATED[k]) for k in used(DEPRECATED)),
        not_run=tuple(used(NOT_RUN)), warnings=tuple(warnings))


def _environment_from_shell(services: dict, env: Mapping[str, str]) -> None:
    """`environment: {KEY: }` (or `- KEY`) takes KEY from the deploying shell, as in Docker."""
    for svc in services.values():
        if not isinstance(svc, dict) or svc.get("environment") is None:
            continue
        value = svc["environment"]
        if isinstance(value, list):
            value = dict(str(v).split("=", 1) if "=" in str(v) else (str(v), None) for v in value)
        svc["environment"] = {k: env[k] if (v is None or v == "") and k in env else v
                              for k, v in value.items()}


def _refuse_forbidden(data: dict, name: str, marks: Marks) -> None:
    services = data.get("services")
    if not isinstance(services, dict):
        return
    found = {}
    for svc, body in services.items():
        if isinstance(body, dict):
            for key in body:
                if key in FORBIDDEN:
                    found.setdefault(key, ("services", svc, key))
    if found:
        first = min(found.values(), key=lambda p: marks.line(p))
        lines = "\n".join(f"{k}: {FORBIDDEN[k]}" for k in sorted(found))
        raise ComposeError(name, marks.line(first), ".".join(first),
                           f"Compose file contains unsupported options:\n\n{lines}\n")


def _merge(projects: list[ComposeProject]) -> ComposeProject:
    """Later files override earlier ones key by key (mappings merged, the rest replaced)."""
    first = projects[0]
    for other in projects[1:]:
        if other.version != first.version:
            raise ComposeError(other.filename, other.line("version"), "version",
                               f"version mismatched between two composefiles : "
                               f"{first.version} and {other.version}")
    config: dict = {}
    for p in projects:
        config = _deep_merge(config, p.config)
    return ComposeProject(
        first.filename, first.workdir, first.version, config, first.marks,
        tuple(sorted({u for p in projects for u in p.unsupported})),
        tuple(sorted({d for p in projects for d in p.deprecated})),
        tuple(sorted({n for p in projects for n in p.not_run})),
        tuple(w for p in projects for w in p.warnings))


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = _deep_merge(base.get(k), v) if k in base else v
        return out
    return override

