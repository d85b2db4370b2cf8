"""Docker's output formats: tab-aligned tables, `--format json|table ...|TEMPLATE`, inspect.

Tables are aligned like Go's tabwriter as the docker CLI configures it (minimum cell
width 10, padding 3, the last column unpadded). A list command gives one dict per row
with the formatter's field names (`ID`, `Name`, `Replicas`...) and a default table
template; `--format json` prints each row as compact JSON with sorted keys, as Docker's
`{{json .}}` on its formatter contexts does.
"""
from __future__ import annotations

import json
from typing import Iterable

from ._template import render

MIN_WIDTH, PADDING = 10, 3


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
        return "".join(json.dumps(row, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False) + "\n" for row in rows)
    if fmt.startswith("table"):
        body = fmt[len("table"):].strip() or default
        body = body.replace("\\t", "\t").replace("\\n", "\n")
        header = render(body, headers)
        return tabwrite([header] + [render(body, row) for row in rows])
    body = fmt.replace("\\t", "\t").replace("\\n", "\n")
    return "".join(render(body, row) + "\n" for row in rows)


def go_json_indent(value: object) -> str:
    """Go's json.MarshalIndent(v, "", "    "), HTML characters escaped as Go does."""
    text = json.dumps(value, indent=4, ensure_ascii=False)
    for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def render_inspect(objects: list[dict], fmt: str | None) -> str:
    """`docker X inspect`: an indented JSON array, or the template once per object."""
    if not fmt or fmt == "json":
        return go_json_indent(objects) + "\n"
    fmt = fmt.replace("\\t", "\t").replace("\\n", "\n")
    return "".join(render(fmt, obj) + "\n" for obj in objects)


def capitalize(word: str | None) -> str:
    """Docker's `command.PrettyPrint`-style first-letter capital ("ready" -> "Ready")."""
    return (word[:1].upper() + word[1:]) if word else ""
