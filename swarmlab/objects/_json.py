"""Dataclasses to and from Docker Engine API JSON.

Theory of operation: every spec and object is a dataclass whose fields are snake_case;
the Docker JSON key is the PascalCase form of the field name unless the field's
metadata gives it (`ID`, `NodeID`, `NanoCPUs`, ...). Durations are plain integers in
nanoseconds, as Docker sends them, so they need no conversion. Times are integers in
nanoseconds since the epoch inside (virtual time in the simulator) and RFC 3339 strings
with nanoseconds in JSON, as Docker prints them. `None` fields are left out of the JSON
(Go's `omitempty` on pointers); a field marked `omitempty` is also left out when empty.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import types
import typing
from functools import lru_cache
from typing import Any, Callable, TypeVar

from ._errors import InvalidArgument

T = TypeVar("T")

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def jfield(json: str | None = None, *, default: Any = dataclasses.MISSING,
           default_factory: Any = dataclasses.MISSING, time: bool = False,
           omitempty: bool = False, blank_is_default: bool = False,
           unrecognized: str = "") -> Any:
    """A dataclass field with its Docker JSON key and conversion hints. With
    `blank_is_default`, an empty string reads as the default (Go's zero value, which
    dockerd takes for the default where it converts, e.g. UpdateConfig's Order); a value
    that is not one of the enum's is refused with `unrecognized` + the value, if given
    (dockerd's words), else with the key."""
    meta = {"json": json, "time": time, "omitempty": omitempty, "blank": blank_is_default,
            "unrecognized": unrecognized}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def format_time(ns: int) -> str:
    """Nanoseconds since the epoch as Docker's RFC 3339 text (`...T00:00:01.5Z`)."""
    secs, frac = divmod(int(ns), 1_000_000_000)
    base = (_EPOCH + _dt.timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


def parse_time(text: str) -> int:
    """Docker's RFC 3339 text back to nanoseconds since the epoch."""
    text = text.rstrip("Z")
    frac_ns = 0
    if "." in text:
        text, frac = text.split(".", 1)
        frac_ns = int((frac + "000000000")[:9])
    when = _dt.datetime.fromisoformat(text).replace(tzinfo=_dt.timezone.utc)
    return int((when - _EPOCH).total_seconds()) * 1_000_000_000 + frac_ns


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


@lru_cache(maxsize=None)
def _plan(cls: type) -> tuple[tuple[str, str, Any, bool, bool], ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, f.metadata.get("json") or _pascal(f.name), hints[f.name],
         bool(f.metadata.get("time")), bool(f.metadata.get("omitempty")))
        for f in dataclasses.fields(cls))


def to_json(obj: Any) -> Any:
    """A dataclass (or a value inside one) as Docker JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for name, key, _hint, is_time, omitempty in _plan(type(obj)):
            value = getattr(obj, name)
            if value is None or (omitempty and not value and value is not False):
                continue
            out[key] = format_time(value) if is_time else to_json(value)
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    return obj


def from_json(cls: type[T], data: Any) -> T:
    """Docker JSON to the dataclass `cls`; unknown keys are ignored, missing ones default."""
    return _parser(cls, cls.__name__)(data)


Parser = Callable[[Any], Any]


@lru_cache(maxsize=None)
def _fields(cls: type) -> tuple[tuple[str, str, Parser], ...]:
    out = []
    for f, (name, key, hint, is_time, _omit) in zip(dataclasses.fields(cls), _plan(cls)):
        parse = parse_time if is_time else _parser(hint, key)
        if f.metadata.get("unrecognized"):
            parse = _unrecognized(f.metadata["unrecognized"], parse)
        if f.metadata.get("blank"):
            parse = _blank_is(f.default, parse)
        out.append((name, key, parse))
    return tuple(out)


def _blank_is(default: Any, parse: Parser) -> Parser:
    return lambda v: default if v == "" else parse(v)


class Unrecognized(InvalidArgument, ValueError):
    """A value dockerd does not know: its words, and still bad JSON (a ValueError)."""


def _unrecognized(words: str, parse: Parser) -> Parser:
    def checked(v: Any) -> Any:
        try:
            return parse(v)
        except ValueError:
            raise Unrecognized(f"{words} {v}") from None
    return checked


@lru_cache(maxsize=None)
def _parser(hint: Any, key: str) -> Parser:
    """A function that parses JSON for this type hint, built once per (hint, key)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _parser(args[0], key)
    if origin in (tuple, list):
        inner, kind = _parser(typing.get_args(hint)[0], key), origin
        return lambda v: kind(inner(x) for x in _as_list(v, key))
    if origin is dict:
        value = _parser(typing.get_args(hint)[1], key)
        return lambda v: {str(k): value(x) for k, x in _as_dict(v, key).items()}
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return lambda v: _build(hint, v)
        if issubclass(hint, enum.Enum):
            return lambda v: _enum(hint, v, key)
        if hint is bool:
            return bool
        if hint in (int, float):
            return lambda v: _number(hint, v, key)
        if hint is str:
            return lambda v: _string(v, key)
    return lambda v: v


def _build(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    kwargs = {name: parse(data[key]) for name, key, parse in _fields(cls)
              if data.get(key) is not None}
    if len(kwargs) < len(data):
        # Docker (Go's encoding/json) matches keys case-insensitively, and docker-py
        # relies on it: it sends {"replicated": {"Replicas": 3}} for a service mode.
        folded = {k.lower(): v for k, v in data.items() if isinstance(k, str)}
        for name, key, parse in _fields(cls):
            if name not in kwargs and folded.get(key.lower()) is not None:
                kwargs[name] = parse(folded[key.lower()])
    return cls(**kwargs)


def _enum(cls: type[enum.Enum], value: Any, key: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise ValueError(f"{key}: invalid value {value!r}") from None


def _number(kind: type, value: Any, key: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    return kind(value)


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {value!r}")
    return value


def _as_list(value: Any, key: str) -> list:
    if not isinstance(value, list):
        raise ValueError(f"{key}: expected a JSON array")
    return value


def _as_dict(value: Any, key: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{key}: expected a JSON object")
    return value
