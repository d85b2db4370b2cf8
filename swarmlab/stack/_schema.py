"""Validating a compose document against Docker's JSON schema for its version.

`version: "3.0"` to `"3.8"` use Docker's own per-version schemas, `"3.9"` and later (and
no version) the Compose Specification's (see schemas/SOURCE.txt). The error is the
most specific one, worded as the docker CLI words it (gojsonschema's phrasing:
``services.web.deploy.replicas must be a integer``, ``services.web Additional property
replica is not allowed``), with the line it points at.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema

from ._errors import ComposeError
from ._units import is_duration
from ._yaml import Marks, Path, dotted

_PER_VERSION = tuple(f"3.{minor}" for minor in range(9))
_SPEC_VERSION = re.compile(r"^3\.(9|1[0-4])$")


def schema_version(data: dict) -> str:
    """Docker's reading of ``version:`` ("3" means "3.0"); "" when there is none."""
    raw = data.get("version")
    if raw is None or raw == "":
        return ""
    text = str(raw)
    return "3.0" if text == "3" else text


def schema_name(version: str) -> str | None:
    if version in _PER_VERSION:
        return f"config_schema_v{version}.json"
    if version == "" or _SPEC_VERSION.match(version):
        return "compose_spec.json"
    return None


@lru_cache(maxsize=None)
def _validator(name: str) -> Any:
    text = resources.files("swarmlab.stack").joinpath("schemas", name).read_text()
    schema = json.loads(text)
    cls = (jsonschema.Draft201909Validator if name == "compose_spec.json"
           else jsonschema.Draft4Validator)
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("duration")(is_duration)
    for always in ("ports", "expose"):  # Docker's own checkers accept anything here
        checker.checks(always)(lambda _value: True)
    return cls(schema, format_checker=checker)


def validate(data: dict, filename: str, marks: Marks) -> str:
    """Raise ComposeError unless `data` is valid; return the version used."""
    version = schema_version(data)
    name = schema_name(version)
    if name is None:
        raise ComposeError(filename, marks.line(("version",)), "version",
                           f"unsupported Compose file version: {version}")
    errors = list(_validator(name).iter_errors(data))
    if not errors:
        return version
    err = _most_specific(errors)
    path, message = _describe(err)
    raise ComposeError(filename, marks.line(path), dotted(path) or "(root)", message)


def _depth(err: jsonschema.ValidationError) -> int:
    return len(err.absolute_path)


def _most_specific(errors: list) -> jsonschema.ValidationError:
    """The deepest error; inside oneOf/anyOf, the deepest of the alternatives' errors."""
    best = max(errors, key=lambda e: (_depth(e), e.validator == "type"))
    while best.validator in ("oneOf", "anyOf") and best.context:
        best = max(best.context, key=lambda e: (_depth(e), e.validator == "type"))
    return best


def _field(path: Path) -> str:
    return dotted(path) or "(root)"


def _describe(err: jsonschema.ValidationError) -> tuple[Path, str]:
    path: Path = tuple(err.absolute_path)
    where = _field(path)
    kind = err.validator
    if kind == "type":
        return path, f"{where} must be a {_human_type(err.validator_value)}"
    if kind == "additionalProperties" and isinstance(err.instance, dict):
        allowed = err.schema.get("properties", {})
        patterns = err.schema.get("patternProperties", {})
        extra = [k for k in err.instance if k not in allowed
                 and not any(re.search(p, k) for p in patterns)]
        key = extra[0] if extra else "?"
        return path + (key,), f"{where} Additional property {key} is not allowed"
    if kind == "required":
        missing = re.match(r"'(.+)' is a required property", err.message)
        name = missing.group(1) if missing else err.message
        return path, f"{where} {name} is required"
    if kind == "enum":
        options = ", ".join(json.dumps(v) for v in err.validator_value)
        return path, f"{where} must be one of the following: {options}"
    if kind == "format":
        return path, f"{where} Does not match format '{err.validator_value}'"
    if kind in ("uniqueItems",):
        return path, f"{where} contains duplicate items"
    if kind in ("oneOf", "anyOf"):
        return path, f"{where} must be valid against one of the allowed forms"
    return path, f"{where} {err.message}"


def _human_type(expected: Any) -> str:
    names = {"object": "mapping", "array": "list"}
    if isinstance(expected, list):
        words = [names.get(t, t) for t in expected]
        return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]
    return names.get(expected, expected)
