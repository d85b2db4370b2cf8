"""A pytest plugin for the nbval runs: what a student reads in each executed cell.

Loaded into the nbval subprocess (`-p nb_outputs`, this folder on PYTHONPATH), it looks at
every executed cell's outputs and records, in the JSON file `$SWARMLAB_NB_OUTPUT_REPORT`,
each cell that shows a student:
- more than a screen of text (`SCREEN_LINES`);
- a traceback (an `error` output, in a cell not tagged `raises-exception`);
- a bare Python repr as its result (`True`, `Result(...)`, `[ClusterSnapshot(...)]`,
  `<object at 0x...>`): a cell's last expression should print what it means or be `;`-ed.
A cell that is about such an output says so with the tag `output-long` or `output-repr`.
The test that ran nbval then asserts the report is empty (`violations()` below).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

SCREEN_LINES = 50
#: a result whose text is a repr: a bool or None, a dataclass-like call, an object address
REPR = re.compile(r"^(True|False|None|\[?\w+\(.*|<[\w.]+ (object )?at 0x[0-9a-f]+>.*)$", re.S)
#: rich outputs (figures, widgets, tables) carry a text/plain fallback nobody sees
RICH = ("application/vnd.jupyter.widget-view+json", "application/vnd.plotly.v1+json",
        "text/html", "image/png", "image/svg+xml", "text/markdown")

_found: list[dict] = []


def _text(outputs) -> tuple[str, list[str]]:
    """All the plain text a student sees, and the bare results' texts."""
    shown, results = [], []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            shown.append(out.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if any(k in data for k in RICH):
                continue
            text = data.get("text/plain", "")
            shown.append(text)
            if kind == "execute_result":
                results.append(text)
        elif kind == "error":
            shown.append("\n".join(out.get("traceback", [])))
    return "".join(shown), results


def check_cell(source: str, tags: list[str], outputs) -> list[str]:
    """What is wrong with one executed cell's outputs, in words."""
    problems = []
    text, results = _text(outputs)
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    if lines > SCREEN_LINES and "output-long" not in tags:
        problems.append(f"{lines} lines of output (a screen is {SCREEN_LINES})")
    if any(o.get("output_type") == "error" for o in outputs) and "raises-exception" not in tags:
        problems.append("a traceback")
    if "output-repr" not in tags:
        for r in results:
            if REPR.match(r.strip()):
                problems.append(f"a bare Python repr as the result: {r.strip()[:80]!r}")
    return problems


def pytest_runtest_teardown(item, nextitem):
    outputs = getattr(item, "test_outputs", None)
    cell = getattr(item, "cell", None)
    if outputs is None or cell is None:
        return
    tags = list(cell.get("metadata", {}).get("tags", []))
    problems = check_cell(cell.get("source", ""), tags, outputs)
    if problems:
        _found.append({"cell": item.nodeid, "source": cell.get("source", "")[:300],
                       "problems": problems})


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("SWARMLAB_NB_OUTPUT_REPORT")
    if path:
        Path(path).write_text(json.dumps(_found, indent=1))


def violations(path: Path) -> list[dict]:
    """The report an nbval run wrote (a missing report is itself a failure)."""
    assert path.exists(), f"the nbval run wrote no output report at {path}"
    return json.loads(path.read_text())
