"""Placement constraints: `KEY==VALUE` and `KEY!=VALUE`, parsed and matched as Docker does.

Keys: `node.id`, `node.hostname`, `node.role`, `node.platform.os`, `node.platform.arch`,
`node.labels.<name>` (labels set with `node update --label-add`) and
`engine.labels.<name>` (the node's engine labels). Values compare case-insensitively;
a missing label never equals, and is always unequal.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from ..objects import InvalidArgument, Node

_KEY = re.compile(r"(?i)^[a-z_][a-z0-9\-_.]+$")
_VALUE = re.compile(r"(?i)^[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+$")
_OPERATORS = ("==", "!=")


@dataclass(frozen=True)
class Constraint:
    key: str
    operator: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.operator}{self.value}"

    def matches(self, node: Node) -> bool:
        found = node_value(self.key, node)
        equal = found is not None and found.lower() == self.value.lower()
        return equal if self.operator == "==" else not equal


def parse(expr: str) -> Constraint:
    """One expression, or InvalidArgument with the reason (Docker's wording)."""
    for op in _OPERATORS:
        if op in expr:
            key, _, value = expr.partition(op)
            key, value = key.strip(), value.strip()
            if any(o in value for o in _OPERATORS):
                break
            if not _KEY.match(key):
                raise InvalidArgument(f"key '{key}' is invalid")
            if not _VALUE.match(value):
                raise InvalidArgument(f"value '{value}' is invalid")
            return Constraint(key, op, value)
    raise InvalidArgument(
        f"invalid constraint '{expr}': constraint expected one operator from ==, !=")


def parse_all(exprs: Iterable[str]) -> list[Constraint]:
    return [parse(e) for e in exprs]


def node_value(key: str, node: Node) -> str | None:
    """What a node has for a constraint key (None: it has nothing by that name)."""
    k = key.lower()
    if k == "node.id":
        return node.id
    if k == "node.hostname":
        return node.description.hostname
    if k == "node.role":
        return node.spec.role.value
    if k == "node.platform.os":
        return node.description.platform.os
    if k == "node.platform.arch":
        return node.description.platform.architecture
    if k.startswith("node.labels."):
        return node.spec.labels.get(key[len("node.labels."):])
    if k.startswith("engine.labels."):
        return node.description.engine.labels.get(key[len("engine.labels."):])
    return None


def matches_all(constraints: Iterable[Constraint], node: Node) -> bool:
    return all(c.matches(node) for c in constraints)
