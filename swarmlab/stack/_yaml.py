"""Reading a compose file: PyYAML's safe loader, plus where every key sits.

Docker reads compose files with Go's yaml.v2; three of its habits are kept here so a
file means the same thing in both:
- timestamps stay strings (yaml.v2 gives a string to an untyped field),
- a key given twice in one mapping is an error (`mapping key "image" already defined`),
- keys must be strings (`non-string key in services.web: 80`).
`Marks` maps a key path (``("services", "vote", "ports", 0)``) to its line, so every
error can name the file, the line and the key.

A compose file is also bounded (docs/stacks.md, "Limits"): its size, its scalars, its
nodes as written and once aliases and merge keys (`<<:`) are expanded, and its
nesting. Each is counted while the file is composed or walked, so a small hostile file
("billion laughs", a merge-key bomb, ten thousand `[`) is refused in milliseconds,
before anything is built from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from ._errors import ComposeError

Path = tuple[Any, ...]

# -- limits (docs/stacks.md, "Limits") -----------------------------------------------------
#: Bytes in one compose file; a longer file is refused before it is parsed.
MAX_FILE_BYTES = 1 << 20
#: Characters in one scalar (a key or a value) as written.
MAX_SCALAR = 128 << 10
#: Nodes (every mapping, list and scalar, keys included) as written; nodes once aliases
#: and merge keys are expanded (the tree that interpolation, the schema and the
#: conversion walk); and mapping entries that merge keys copy (counted as yaml.v2 and
#: PyYAML copy them, merges of merges multiplied): each at most this.
MAX_NODES = 10_000
#: Nesting of mappings and lists, aliases expanded. Docker's YAML library stops at
#: 10000; Python's recursion (and every walk after the parse) wants far less.
MAX_DEPTH = 64

_MERGE = "tag:yaml.org,2002:merge"

try:  # libyaml's parser when PyYAML has it (4x faster); the composing stays in Python
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _CParser = None


class _Bounded(Composer):
    """PyYAML's composer, counting nodes, bounding nesting and scalars, and applying merge
    keys itself, once per mapping and deduplicated (as the constructor reads them), so
    that no later step meets more than `MAX_NODES` of anything."""

    get_single_node = Composer.get_single_node
    compose_sequence_node = Composer.compose_sequence_node

    def start(self, filename: str) -> None:
        self.filename = filename
        self.nodes_left = MAX_NODES
        self.merge_left = MAX_NODES
        self.depth = 0
        self.anchor_names: dict[int, str] = {}
        self.duplicates: dict[int, tuple[yaml.Node, yaml.Node]] = {}
        self.merged_size: dict[int, int] = {}

    def fail(self, message: str, mark: Any = None) -> ComposeError:
        mark = mark or self.peek_event().start_mark
        return ComposeError(self.filename, mark.line + 1, "", message)

    def compose_document(self) -> Any:
        self.get_event()
        node = self.compose_node(None, None)
        self.get_event()
        self.anchor_names = {id(n): name for name, n in self.anchors.items()}
        self.anchors = {}
        return node

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH and not self.check_event(yaml.ScalarEvent, yaml.AliasEvent):
                raise self.fail(f"yaml: exceeded max depth of {MAX_DEPTH}")
            self.nodes_left -= 1
            if self.nodes_left < 0:
                raise self.fail(f"document too large: more than {MAX_NODES} nodes")
            return Composer.compose_node(self, parent, index)
        finally:
            self.depth -= 1

    def compose_scalar_node(self, anchor: Any) -> Any:
        event = self.peek_event()
        if len(event.value) > MAX_SCALAR:
            raise self.fail(f"scalar too long: {len(event.value)} characters, "
                            f"more than {MAX_SCALAR}")
        return Composer.compose_scalar_node(self, anchor)

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = Composer.compose_mapping_node(self, anchor)
        self._flatten_merges(node)
        return node

    def anchor_of(self, node: Any) -> str:
        return self.anchor_names.get(id(node)) or next(
            (name for name, n in self.anchors.items() if n is node), "?")

    def _flatten_merges(self, node: yaml.MappingNode) -> None:
        """`<<:` as PyYAML's constructor reads it (the first source wins, the mapping's
        own keys win over all), when the mapping is complete: its sources were flattened
        before it, so the work is their size, and the result holds each key once."""
        if not any(k.tag == _MERGE for k, _ in node.value):
            return
        own, sources = [], []
        for key, value in node.value:
            if key.tag != _MERGE:
                own.append((key, value))
                continue
            items = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for item in items:
                if not isinstance(item, yaml.MappingNode):
                    raise self.fail("yaml: map merge requires map or sequence of maps as the value",
                                    item.start_mark)
                if item.end_mark is None:  # still being composed: it holds this mapping
                    raise self.fail(f"yaml: anchor '{self.anchor_of(item)}' value contains itself",
                                    key.start_mark)
                sources.append(item)
        seen: dict[Any, yaml.Node] = {}
        for key, _ in own:  # a key given twice by the mapping itself stays an error
            ident = _ident(key)
            if ident in seen and id(node) not in self.duplicates:
                self.duplicates[id(node)] = (key, seen[ident])
            seen.setdefault(ident, key)
        merged: list = []
        for source in reversed(sources):
            merged.extend(source.value)
        merged.extend(own)
        # what a merge costs where it is not deduplicated (yaml.v2, PyYAML): every source
        # as that source's own merges made it, so merges of merges multiply
        self.merged_size[id(node)] = len(own) + sum(
            self.merged_size.get(id(src), len(src.value)) for src in sources)
        self.merge_left -= self.merged_size[id(node)]
        if self.merge_left < 0:
            raise self.fail(f"document too large: more than {MAX_NODES} nodes "
                            "once merge keys are expanded", node.start_mark)
        out: list = []
        where: dict[Any, int] = {}
        for key, value in merged:  # a later entry wins, in the first one's place
            ident = _ident(key)
            if ident in where:
                out[where[ident]] = (key, value)
            else:
                where[ident] = len(out)
                out.append((key, value))
        node.value = out


def _ident(key: yaml.Node) -> Any:
    return (key.tag, key.value) if isinstance(key, yaml.ScalarNode) else id(key)


class _Loader(_Bounded, yaml.SafeLoader):
    """SafeLoader without the timestamp resolver (yaml.v2 keeps them as strings)."""


_LOADERS: list[type] = [_Loader]
if _CParser is not None:
    class _CLoader(_Bounded, _CParser, SafeConstructor, Resolver):  # type: ignore[misc]
        """The same, over libyaml's events."""

        def __init__(self, stream: str):
            _CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self.anchors = {}

    _LOADERS.insert(0, _CLoader)

#: Characters in an integer: Python's own limit on decimal ones (yaml.v2 takes 64 bits).
MAX_INT_TEXT = 4300


def _construct_int(loader: SafeConstructor, node: yaml.ScalarNode) -> int:
    """`!!int`, refused past `MAX_INT_TEXT` (a sexagesimal `1:2:3:...` grows quadratically)."""
    if len(node.value) > MAX_INT_TEXT:
        raise yaml.constructor.ConstructorError(
            None, None, f"integer too long: {len(node.value)} characters, more than {MAX_INT_TEXT}",
            node.start_mark)
    return SafeConstructor.construct_yaml_int(loader, node)


for _cls in _LOADERS:
    _cls.add_constructor("tag:yaml.org,2002:int", _construct_int)
    _cls.yaml_implicit_resolvers = {
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


def parse(text: str, filename: str, loader_class: type | None = None) -> tuple[Any, Marks]:
    """The document as plain data, and its marks; ComposeError for bad YAML or a file
    over the limits."""
    too_large = ComposeError(filename, 1, "", f"file too large: more than {MAX_FILE_BYTES} bytes")
    if len(text) > MAX_FILE_BYTES:
        raise too_large
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as err:  # a lone surrogate: no YAML reader takes it
        raise ComposeError(filename, text.count("\n", 0, err.start) + 1, "",
                           f"yaml: invalid Unicode character #x{ord(text[err.start]):04x}") from None
    if size > MAX_FILE_BYTES:
        raise too_large
    loader = None
    try:
        loader = (loader_class or _LOADERS[0])(text)  # the pure reader checks characters here
        loader.start(filename)
        if _CParser is not None:
            _count_events(text, filename)
        node = loader.get_single_node()
        if node is None:
            raise ComposeError(filename, 1, "", "Top-level object must be a mapping")
        marks = Marks()
        _walk(node, marks, filename, loader)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        raise ComposeError(filename, line, "", f"yaml: {err.problem or err}") from None
    except yaml.reader.ReaderError as err:  # a character YAML does not allow
        line = text.count("\n", 0, err.position) + 1
        raise ComposeError(filename, line, "", f"yaml: {str(err).splitlines()[0]}") from None
    except yaml.YAMLError as err:
        raise ComposeError(filename, 1, "", f"yaml: {err}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        raise ComposeError(filename, node.start_mark.line + 1, "",
                           "Top-level object must be a mapping")
    return data, marks


_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _count_events(text: str, filename: str) -> None:
    """The limits on what is written, checked on libyaml's events alone (10,000 nodes in
    about 25 ms), before the composer spends ten times that making them into nodes."""
    parser = _CParser(text)
    try:
        nodes, depth = 0, 0
        while True:
            event = parser.get_event()
            kind = type(event)
            if kind is yaml.StreamEndEvent or kind is yaml.DocumentEndEvent:
                return
            if kind in _CLOSE:
                depth -= 1
                continue
            if kind is yaml.ScalarEvent or kind is yaml.AliasEvent or kind in _OPEN:
                nodes += 1
                line = event.start_mark.line + 1
                if nodes > MAX_NODES:
                    raise ComposeError(filename, line, "", f"document too large: more than {MAX_NODES} nodes")
                if kind in _OPEN:
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise ComposeError(filename, line, "", f"yaml: exceeded max depth of {MAX_DEPTH}")
                elif kind is yaml.ScalarEvent and len(event.value) > MAX_SCALAR:
                    raise ComposeError(filename, line, "", f"scalar too long: {len(event.value)} "
                                                           f"characters, more than {MAX_SCALAR}")
    finally:
        parser.dispose()


def _walk(root: yaml.Node, marks: Marks, filename: str, loader: _Bounded) -> None:
    """Every path of the document, aliases expanded, in document order (no recursion):
    marks each one, checks keys, and stops at `MAX_NODES` nodes or `MAX_DEPTH` levels."""
    budget = MAX_NODES
    open_nodes: set[int] = set()
    stack: list[list] = []  # [node, path, next index, keys seen, line where it is used]

    def enter(node: yaml.Node, path: Path, line: int) -> None:
        """`line`: where the node is used (its key's line), not where an alias points."""
        nonlocal budget
        budget -= 1
        if budget < 0:  # aliases can make a small file huge ("billion laughs")
            raise ComposeError(filename, line, _dotted(path),
                               f"document too large: more than {MAX_NODES} nodes once "
                               "aliases are expanded")
        marks.lines.setdefault(path, node.start_mark.line + 1)
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            return
        if id(node) in open_nodes:
            raise ComposeError(filename, line, _dotted(path),
                               f"yaml: anchor '{loader.anchor_of(node)}' value contains itself")
        if len(stack) >= MAX_DEPTH:
            raise ComposeError(filename, line, _dotted(path),
                               f"yaml: exceeded max depth of {MAX_DEPTH}")
        if id(node) in loader.duplicates:
            key_node, first = loader.duplicates[id(node)]
            key = _scalar_key(key_node, path, filename)
            raise ComposeError(filename, key_node.start_mark.line + 1, _dotted(path + (key,)),
                               f'mapping key "{key}" already defined at line '
                               f"{first.start_mark.line + 1}")
        open_nodes.add(id(node))
        stack.append([node, path, 0, {}, line])

    enter(root, (), root.start_mark.line + 1)
    while stack:
        frame = stack[-1]
        node, path, i, seen, used_at = frame
        if i >= len(node.value):
            stack.pop()
            open_nodes.discard(id(node))
            continue
        frame[2] = i + 1
        if isinstance(node, yaml.SequenceNode):
            item = node.value[i]
            marks.lines[path + (i,)] = item.start_mark.line + 1
            inside = item.start_mark.index >= node.start_mark.index  # else an alias's target
            enter(item, path + (i,), item.start_mark.line + 1 if inside else used_at)
            continue
        key_node, value_node = node.value[i]
        if key_node.tag == _MERGE:
            continue  # not left by _flatten_merges; kept for safety
        key = _scalar_key(key_node, path, filename)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ComposeError(filename, line, _dotted(path + (key,)),
                               f'mapping key "{key}" already defined at line {seen[key]}')
        seen[key] = line
        marks.lines[path + (key,)] = line
        enter(value_node, path + (key,), line)


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
