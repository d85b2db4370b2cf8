"""`${VAR}` interpolation, as `docker stack deploy` does it before validating.

Forms: ``$VAR``, ``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}``
(unset), ``${VAR:?message}`` / ``${VAR?message}`` (required) and ``$$`` for a literal
dollar. Only values are interpolated, never keys; an unset variable becomes the empty
string (with a warning, as Docker logs one). A value that a number or boolean must
be, such as ``replicas: ${N}``, is cast after substitution, as Docker's loader does.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Mapping

from ._errors import ComposeError
from ._yaml import Marks, Path, dotted

_NAME = r"[_a-z][_a-z0-9]*"
_SUBST = _NAME + r"(?::?[-?][^}]*)?"
_PATTERN = re.compile(
    rf"\$(?i:(?P<escaped>\$)|(?P<named>{_SUBST})|{{(?P<braced>{_SUBST})}}|(?P<invalid>))")


#: Characters that interpolation may write, all values of one file together (a value
#: that names a long variable ten thousand times is refused, not built).
MAX_INTERPOLATED = 1 << 20


class _Invalid(Exception):
    def __init__(self, template: str):
        self.template = template


class _TooLarge(Exception):
    pass


def substitute(template: str, env: Mapping[str, str], unset: set[str] | None = None,
               budget: list[int] | None = None) -> str:
    """One string with its variables replaced; `_Invalid` for a malformed template,
    `_TooLarge` once the replacements use up `budget` (characters left)."""
    def one(match: re.Match) -> str:
        if match.group("escaped"):
            return "$"
        spec = match.group("named") or match.group("braced")
        if not spec:
            raise _Invalid(template)
        out = _apply(spec, env, unset)
        if budget is not None:
            budget[0] -= len(out)
            if budget[0] < 0:
                raise _TooLarge()
        return out
    if budget is not None:
        budget[0] -= len(template)
        if budget[0] < 0:
            raise _TooLarge()
    return _PATTERN.sub(one, template)


def _apply(spec: str, env: Mapping[str, str], unset: set[str] | None) -> str:
    for sep in (":?", "?"):
        if sep in spec:
            name, message = spec.split(sep, 1)
            value = env.get(name)
            if value is None or (sep == ":?" and value == ""):
                raise _Invalid(f"required variable {name} is missing a value: {message}")
            return value
    for sep in (":-", "-"):
        if sep in spec:
            name, default = spec.split(sep, 1)
            value = env.get(name)
            if value is None or (sep == ":-" and value == ""):
                return default
            return value
    value = env.get(spec)
    if value is None:
        if unset is not None:
            unset.add(spec)
        return ""
    return value


# Paths whose value Docker casts after interpolation ("*" matches any one key).
_INT = "int"
_FLOAT = "float"
_BOOL = "bool"
_CASTS: dict[tuple[str, ...], str] = {
    ("services", "*", "deploy", "replicas"): _INT,
    ("services", "*", "deploy", "placement", "max_replicas_per_node"): _INT,
    ("services", "*", "deploy", "update_config", "parallelism"): _INT,
    ("services", "*", "deploy", "update_config", "max_failure_ratio"): _FLOAT,
    ("services", "*", "deploy", "rollback_config", "parallelism"): _INT,
    ("services", "*", "deploy", "rollback_config", "max_failure_ratio"): _FLOAT,
    ("services", "*", "deploy", "restart_policy", "max_attempts"): _INT,
    ("services", "*", "healthcheck", "retries"): _INT,
    ("services", "*", "healthcheck", "disable"): _BOOL,
    ("services", "*", "ports", "*", "target"): _INT,
    ("services", "*", "ports", "*", "published"): _INT,
    ("services", "*", "secrets", "*", "mode"): _INT,
    ("services", "*", "configs", "*", "mode"): _INT,
    ("services", "*", "init"): _BOOL,
    ("services", "*", "read_only"): _BOOL,
    ("services", "*", "stdin_open"): _BOOL,
    ("services", "*", "tty"): _BOOL,
    ("networks", "*", "external"): _BOOL,
    ("networks", "*", "internal"): _BOOL,
    ("networks", "*", "attachable"): _BOOL,
    ("volumes", "*", "external"): _BOOL,
    ("secrets", "*", "external"): _BOOL,
    ("configs", "*", "external"): _BOOL,
}


def _cast_kind(path: Path) -> str | None:
    for pattern, kind in _CASTS.items():
        if len(pattern) == len(path) and all(p == "*" or p == k for p, k in zip(pattern, path)):
            return kind
    return None


def _cast(value: str, kind: str, fail: Callable[[str], Exception]) -> Any:
    try:
        if kind == _INT:
            return int(value)
        if kind == _FLOAT:
            return float(value)
    except ValueError:
        raise fail(f"failed to cast to expected type: invalid syntax: {value!r}") from None
    lowered = value.lower()
    if lowered in ("y", "yes", "true", "on"):
        return True
    if lowered in ("n", "no", "false", "off"):
        return False
    raise fail(f"failed to cast to expected type: invalid boolean: {value!r}")


def interpolate(data: dict, env: Mapping[str, str], filename: str, marks: Marks,
                warn: Callable[[str], None] | None = None) -> dict:
    """A copy of the compose document with every value interpolated (not `version`)."""
    unset: set[str] = set()
    budget = [MAX_INTERPOLATED]

    def walk(value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, path + (i,)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "$" not in value:
            return value
        key = dotted(path)
        try:
            out = substitute(value, env, unset, budget)
        except _TooLarge:
            raise ComposeError(filename, marks.line(path), key,
                               f"error while interpolating {key}: the interpolated values "
                               f"come to more than {MAX_INTERPOLATED} characters") from None
        except _Invalid as err:
            raise ComposeError(filename, marks.line(path), key,
                               f"invalid interpolation format for {key}: {json.dumps(err.template)}. "
                               "You may need to escape any $ with another $.") from None
        kind = _cast_kind(path)
        if kind is None or out == value:  # Docker casts only what substitution changed
            return out
        return _cast(out, kind, lambda msg: ComposeError(
            filename, marks.line(path), key, f"error while interpolating {key}: {msg}"))

    result = {k: (v if k == "version" else walk(v, (k,))) for k, v in data.items()}
    for name in sorted(unset):
        if warn:
            warn(f"The {name} variable is not set. Defaulting to a blank string.")
    return result
