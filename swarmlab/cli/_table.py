"""Docker's output formats: tab-aligned tables, `--format json|table ...|TEMPLATE`, inspect.

Tables are aligned like Go's tabwriter as the docker CLI configures it (minimum cell
width 10, padding 3, the last column unpadded). A list command gives one dict per row
with the formatter's field names (`ID`, `Name`, `Replicas`...) and a default table
template; `--format json` prints each row as compact JSON with sorted keys, as Docker's
`{{json .}}` on its formatter contexts does.
"""
from __future__ import annotations

import json
import re
from typing import Iterable

from ._template import render

MIN_WIDTH, PADDING = 10, 3


def natural_key(text: str) -> list:
    """Sort key that orders `node10` after `node2`, as Docker sorts names in lists."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text or "")]


def tabwrite(lines: Iterable[str]) -> str:
    """Align tab-separated cells into columns (Go tabwriter, minwidth 10, padding 3)."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for cells in rows:
        for i, cell in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, MIN_WIDTH), len(cell) + PADDING)
    out = []
    for cells in rows:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        out.append("".join(padded) + cells[-1])
    return "".join(line + "\n" for line in out)


def render_list(rows: list[dict], fmt: str | None, default: str, headers: dict[str, str]) -> str:
    """Render rows the way `docker <thing> ls --format fmt` does."""
    fmt = fmt or "table"
    if fmt == "json":
        return "".join(go_json(row, sort_keys=True) + "\n" for row in rows)
    if fmt.startswith("table"):
        body = fmt[len("table"):].strip() or default
        body = body.replace("\\t", "\t").replace("\\n", "\n")
        header = render(body, headers)
        return tabwrite([header] + [render(body, row) for row in rows])
    body = fmt.replace("\\t", "\t").replace("\\n", "\n")
    return "".join(render(body, row) + "\n" for row in rows)


_GO_ESCAPES = (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
               ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def _go_escape(text: str) -> str:
    """Go's encoding/json escapes HTML characters (inside strings, the only place
    they can appear in JSON text)."""
    for ch, esc in _GO_ESCAPES:
        text = text.replace(ch, esc)
    return text


def go_json(value: object, sort_keys: bool = False) -> str:
    """Go's json.Marshal: compact, HTML characters escaped."""
    return _go_escape(json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys))


def go_json_indent(value: object) -> str:
    """Go's json.MarshalIndent(v, "", "    "), HTML characters escaped as Go does."""
    return _go_escape(json.dumps(value, indent=4, ensure_ascii=False))


def render_inspect(objects: list[dict], fmt: str | None) -> str:
    """`docker X inspect`: an indented JSON array (`--format json`: compact), or the
    template once per object."""
    if not fmt:
        return go_json_indent(objects) + "\n"
    if fmt == "json":
        return go_json(objects) + "\n"
    fmt = fmt.replace("\\t", "\t").replace("\\n", "\n")
    return "".join(render(fmt, obj) + "\n" for obj in objects)


def capitalize(word: str | None) -> str:
    """Docker's `command.PrettyPrint`-style first-letter capital ("ready" -> "Ready")."""
    return (word[:1].upper() + word[1:]) if word else ""
