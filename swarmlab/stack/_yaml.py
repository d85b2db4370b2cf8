"""Reading a compose file: PyYAML's safe loader, plus where every key sits.

Docker reads compose files with Go's yaml.v2; three of its habits are kept here so a
file means the same thing in both:
- timestamps stay strings (yaml.v2 gives a string to an untyped field),
- a key given twice in one mapping is an error (`mapping key "image" already defined`),
- keys must be strings (`non-string key in services.web: 80`).
`Marks` maps a key path (``("services", "vote", "ports", 0)``) to its line, so every
error can name the file, the line and the key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ._errors import ComposeError

Path = tuple[Any, ...]
MAX_NODES = 50_000


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver (yaml.v2 keeps them as strings)."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class Marks:
    """Line (1-based) of each key path; the closest known parent answers for the rest."""

    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int:
        path = tuple(path)
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


def parse(text: str, filename: str) -> tuple[Any, Marks]:
    """The document as plain data, and its marks; ComposeError for bad YAML."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ComposeError(filename, 1, "", "Top-level object must be a mapping")
        marks = Marks()
        _walk(node, (), marks, filename, [MAX_NODES])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        raise ComposeError(filename, line, "", f"yaml: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise ComposeError(filename, 1, "", f"yaml: {err}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ComposeError(filename, node.start_mark.line + 1, "",
                           "Top-level object must be a mapping")
    return data, marks


def _walk(node: yaml.Node, path: Path, marks: Marks, filename: str, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:  # aliases can make a small file huge ("billion laughs")
        raise ComposeError(filename, node.start_mark.line + 1, _dotted(path),
                           f"document too large: more than {MAX_NODES} nodes once aliases are expanded")
    marks.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<:` merge keys; their mapping is walked as its own value
            key = _scalar_key(key_node, path, filename)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ComposeError(filename, line, _dotted(path + (key,)),
                                   f'mapping key "{key}" already defined at line {seen[key]}')
            seen[key] = line
            marks.lines[path + (key,)] = line
            _walk(value_node, path + (key,), marks, filename, budget)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            marks.lines[path + (i,)] = item.start_mark.line + 1
            _walk(item, path + (i,), marks, filename, budget)


def _scalar_key(node: yaml.Node, path: Path, filename: str) -> str:
    line = node.start_mark.line + 1
    where = f"in {_dotted(path)}" if path else "at top level"
    if not isinstance(node, yaml.ScalarNode):
        raise ComposeError(filename, line, _dotted(path), f"non-string key {where}")
    if node.tag != "tag:yaml.org,2002:str":  # an int, bool or null key, as yaml.v2 builds it
        raise ComposeError(filename, line, _dotted(path), f"non-string key {where}: {node.value}")
    return node.value


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted = _dotted
