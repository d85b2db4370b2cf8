"""A small Go text/template, enough for Docker's `--format` / `-f` habits.

Supported: text, `{{.Field.Path}}`, `{{.}}`, variables (`{{range $k, $v := .Labels}}`,
`{{$x := .ID}}`, `$` for the top), function calls (`json`, `upper`, `lower`,
`title`, `join`, `index`, `len`, `println`, `truncate`, `pad`), pipes (`{{.Name | upper}}`),
`{{range .List}}...{{end}}`, `{{if ...}}...{{else}}...{{end}}` and `{{- ... -}}` trimming.
Values print as Go prints them (`map[k:v]`, `[a b]`, `true`); `json` prints compact
JSON with HTML left alone, as Docker's template `json` function does.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_ACTION = re.compile(r"{{(-\s)?(.*?)(\s-)?}}", re.S)


class TemplateError(ValueError):
    pass


@dataclass
class _Node:
    kind: str  # text | expr | range | if
    text: str = ""
    body: list["_Node"] = field(default_factory=list)
    orelse: list["_Node"] = field(default_factory=list)


def render(template: str, data: object) -> str:
    """Execute `template` against `data` (JSON-shaped dicts and lists)."""
    nodes, rest = _parse(_lex(template), 0, top=True)
    return "".join(_exec(nodes, data, {"$": data}))


def _lex(template: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(template):
        text = template[pos:m.start()]
        if m.group(1):
            text = text.rstrip()
        if tokens and tokens[-1][0] == "trim":
            tokens.pop()
            text = text.lstrip()
        tokens.append(("text", text))
        tokens.append(("action", m.group(2).strip()))
        if m.group(3):
            tokens.append(("trim", ""))
        pos = m.end()
    tail = template[pos:]
    if tokens and tokens[-1][0] == "trim":
        tokens.pop()
        tail = tail.lstrip()
    tokens.append(("text", tail))
    return tokens


def _parse(tokens, i, top=False):
    nodes: list[_Node] = []
    while i < len(tokens):
        kind, text = tokens[i]
        i += 1
        if kind == "text":
            if text:
                nodes.append(_Node("text", text))
            continue
        word = text.split(None, 1)[0] if text else ""
        if word in ("end", "else"):
            if top:
                raise TemplateError(f"template: unexpected {{{{{word}}}}}")
            return nodes, (word, i)
        if word in ("range", "if"):
            node = _Node(word, text[len(word):].strip())
            node.body, (stop, i) = _parse(tokens, i)
            if stop == "else":
                node.orelse, (stop, i) = _parse(tokens, i)
            nodes.append(node)
            continue
        if text.startswith("/*"):
            continue
        nodes.append(_Node("expr", text))
    if not top:
        raise TemplateError("template: unexpected EOF")
    return nodes, None


_RANGE_VARS = re.compile(r"^(\$\w+)\s*(?:,\s*(\$\w+)\s*)?:=\s*(.*)$", re.S)


def _exec(nodes: list[_Node], dot: object, env: dict):
    for node in nodes:
        if node.kind == "text":
            yield node.text
        elif node.kind == "expr":
            m = _RANGE_VARS.match(node.text)
            if m and not m.group(2):  # {{$x := pipeline}} sets a variable, prints nothing
                env[m.group(1)] = _pipeline(m.group(3), dot, env)
            else:
                yield _print(_pipeline(node.text, dot, env))
        elif node.kind == "if":
            yield from _exec(node.body if _truth(_pipeline(node.text, dot, env)) else node.orelse,
                             dot, env)
        else:
            yield from _range(node, dot, env)


def _range(node: _Node, dot: object, env: dict):
    """{{range PIPE}}, {{range $v := PIPE}}, {{range $k, $v := PIPE}}; maps in key order."""
    m = _RANGE_VARS.match(node.text)
    items = _pipeline(m.group(3) if m else node.text, dot, env)
    if isinstance(items, dict):
        pairs = sorted(items.items())
    else:
        pairs = list(enumerate(items or []))
    if not pairs:
        yield from _exec(node.orelse, dot, env)
    for key, item in pairs:
        scope = dict(env)
        if m and m.group(2):
            scope[m.group(1)], scope[m.group(2)] = key, item
        elif m:
            scope[m.group(1)] = item
        yield from _exec(node.body, item, scope)


def _pipeline(text: str, dot: object, env: dict) -> object:
    value: object = None
    for i, stage in enumerate(text.split("|")):
        args = _words(stage)
        value = _call(args, dot, env, value if i else _NOARG)
    return value


_NOARG = object()


_WORD = re.compile(r'\s*("(?:[^"\\]|\\.)*"|`[^`]*`|[^\s"`]+)')


def _words(stage: str) -> list[str]:
    """Split an action into words; string literals keep their quotes until _arg."""
    words, pos, stage = [], 0, stage.strip()
    while pos < len(stage):
        m = _WORD.match(stage, pos)
        if not m:
            raise TemplateError(f"template: unterminated quoted string in {stage!r}")
        words.append(m.group(1))
        pos = m.end()
        while pos < len(stage) and stage[pos].isspace():
            pos += 1
    return words


def _call(args: list[str], dot: object, env: dict, piped: object) -> object:
    if not args:
        raise TemplateError("template: missing value for command")
    head, rest = args[0], [_arg(a, dot, env) for a in args[1:]]
    if piped is not _NOARG:
        rest.append(piped)
    if head[:1] in ('.', '"', "$", "`") or head[:1].isdigit():
        if rest:
            raise TemplateError(f"template: can't give argument to non-function {head}")
        return _arg(head, dot, env)
    fn = _FUNCS.get(head)
    if fn is None:
        raise TemplateError(f'template: function "{head}" not defined')
    return fn(*rest)


def _arg(word: str, dot: object, env: dict) -> object:
    if word == ".":
        return dot
    if word.startswith("$"):
        name, _, path = word.partition(".")
        if name not in env:
            raise TemplateError(f"template: undefined variable: {name}")
        return _field(env[name], path) if path else env[name]
    if word.startswith("."):
        return _field(dot, word[1:])
    if word.startswith('"'):
        return json.loads(word)
    if word.startswith("`"):
        return word[1:-1]
    if word.lstrip("-").isdigit():
        return int(word)
    if word in ("true", "false"):
        return word == "true"
    raise TemplateError(f'template: function "{word}" not defined')


_MISSING = object()


def _field(value: object, path: str) -> object:
    """`.A.B` on JSON-shaped data; a missing key is Go's `<no value>` (None)."""
    for part in path.split("."):
        if not isinstance(value, dict):
            raise TemplateError(f"template: can't evaluate field {part} in type {_gotype(value)}")
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return None
    return value


def _print(value: object) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_print(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_print(v) for v in value) + "]"
    return str(value)


def _truth(value: object) -> bool:
    return bool(value)


def _gotype(value: object) -> str:
    return {str: "string", int: "int", float: "float64", bool: "bool", list: "[]interface {}"}.get(
        type(value), "interface {}")


def to_json(value: object) -> str:
    """Docker's template `json`: compact, no HTML escaping, no trailing newline."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _join(items, sep):
    return sep.join(_print(i) for i in items or [])


def _index(container, *keys):
    for key in keys:
        try:
            container = container[key]
        except (KeyError, IndexError, TypeError):
            return None
    return container


def _truncate(text, n):
    return str(text)[: int(n)]


def _pad(text, left, right):
    return " " * int(left) + str(text) + " " * int(right)


_FUNCS = {
    "json": to_json, "upper": lambda s: str(s).upper(), "lower": lambda s: str(s).lower(),
    "title": lambda s: str(s).title(), "join": _join, "index": _index,
    "len": lambda v: len(v or []), "println": lambda *a: " ".join(_print(x) for x in a) + "\n",
    "print": lambda *a: "".join(_print(x) for x in a), "truncate": _truncate, "pad": _pad,
    "split": lambda s, sep: str(s).split(sep), "not": lambda v: not _truth(v),
    "eq": lambda a, *b: any(a == x for x in b), "ne": lambda a, b: a != b,
}
