"""The store's command and snapshot formats (what goes into the Raft log).

A command is UTF-8 JSON, readable in a trace or a notebook:

    {"v": 1, "id": "m1-42", "at": 1700000000000000000,
     "actions": [{"op": "update", "kind": "task", "id": "x1...", "version": 17,
                  "object": {...Docker Engine JSON of the task...}}]}

`op` is create, update or remove; `version` is the `Version.Index` the writer read (the
check that refuses a stale write), absent on create; `at` is the proposer's clock, so
`CreatedAt`/`UpdatedAt` are the same on every replica. `object` is absent on remove.
A snapshot is `{"v": 1, "index": N, "tables": {"task": [...], ...}}`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..objects import KINDS, StoreObject

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Action:
    op: str  # create | update | remove
    kind: str
    id: str
    object: StoreObject | None = None
    version: int | None = None


@dataclass(frozen=True)
class Command:
    id: str
    at_ns: int
    actions: tuple[Action, ...]


def encode_command(cmd: Command) -> bytes:
    actions = []
    for a in cmd.actions:
        item: dict[str, Any] = {"op": a.op, "kind": a.kind, "id": a.id}
        if a.version is not None:
            item["version"] = a.version
        if a.object is not None:
            item["object"] = a.object.to_json()
        actions.append(item)
    doc = {"v": FORMAT_VERSION, "id": cmd.id, "at": cmd.at_ns, "actions": actions}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def decode_command(data: bytes) -> Command:
    doc = json.loads(data)
    if doc.get("v") != FORMAT_VERSION:
        raise ValueError(f"unknown store command format {doc.get('v')!r}")
    actions = []
    for item in doc["actions"]:
        cls = KINDS[item["kind"]]
        obj = cls.from_json(item["object"]) if "object" in item else None
        actions.append(Action(item["op"], item["kind"], item["id"], obj, item.get("version")))
    return Command(doc["id"], int(doc["at"]), tuple(actions))


def encode_snapshot(index: int, tables: dict[str, dict[str, StoreObject]]) -> bytes:
    doc = {
        "v": FORMAT_VERSION, "index": index,
        "tables": {k: [o.to_json() for _, o in sorted(t.items())] for k, t in tables.items()},
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def decode_snapshot(data: bytes) -> tuple[int, dict[str, dict[str, StoreObject]]]:
    doc = json.loads(data)
    if doc.get("v") != FORMAT_VERSION:
        raise ValueError(f"unknown store snapshot format {doc.get('v')!r}")
    tables: dict[str, dict[str, StoreObject]] = {}
    for kind, items in doc["tables"].items():
        cls = KINDS[kind]
        tables[kind] = {o.id: o for o in (cls.from_json(i) for i in items)}
    return int(doc["index"]), tables
