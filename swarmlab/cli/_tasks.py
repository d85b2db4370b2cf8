"""The task table shared by `service ps`, `node ps` and `stack ps`, as Docker prints it.

Tasks are named `<service>.<slot>` (global services: `<service>.<node id>`), sorted by
name and, within a slot, newest first; older tasks of a slot are indented with
` \\_ `. CURRENT STATE reads "Running 2 minutes ago".
"""
from __future__ import annotations

import datetime as dt
import re

from ..units import human_duration
from ._table import capitalize, render_list

TASK_TABLE = ("{{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t"
              "{{.CurrentState}}\t{{.Error}}\t{{.Ports}}")
TASK_HEADERS = {"ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE",
                "DesiredState": "DESIRED STATE", "CurrentState": "CURRENT STATE",
                "Error": "ERROR", "Ports": "PORTS"}
MAX_ERR_LEN = 30
INDENT = " \\_ "


def parse_time(text: str | None) -> dt.datetime | None:
    """RFC 3339 with Go's nanoseconds -> an aware datetime (None when unset)."""
    if not text or text.startswith("0001-01-01"):
        return None
    m = re.match(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if not m:
        return None
    frac = (m.group(2) or "")[:7]
    zone = m.group(3) or "Z"
    return dt.datetime.fromisoformat(m.group(1) + frac + ("+00:00" if zone == "Z" else zone))


def utcnow() -> dt.datetime:
    """The CLI's clock for "2 minutes ago" (one place, so tests can pin it)."""
    return dt.datetime.now(dt.timezone.utc)


def since(text: str | None, now: dt.datetime | None = None) -> str:
    """go-units HumanDuration of the time since an API timestamp ("" when unset)."""
    when = parse_time(text)
    if when is None:
        return ""
    return human_duration(((now or utcnow()) - when).total_seconds())


def ago(text: str | None, now: dt.datetime | None = None) -> str:
    """`docker service ps` words: "running 2 minutes ago" takes the lower case."""
    text = since(text, now)
    return text.lower() + " ago" if text else ""


def strip_digest(image: str) -> str:
    return image.split("@", 1)[0]


def truncate_id(ident: str) -> str:
    return ident[:12]


def task_names(tasks: list[dict], service_names: dict[str, str]) -> list[tuple[str, dict]]:
    """(name, task) sorted like Docker: by name, then newest first within a slot."""
    named = []
    for task in tasks:
        service = service_names.get(task.get("ServiceID", ""), task.get("ServiceID", ""))
        suffix = task.get("Slot") or task.get("NodeID", "")
        named.append((f"{service}.{suffix}", task))
    named.sort(key=lambda nt: (nt[1].get("CreatedAt") or ""), reverse=True)
    named.sort(key=lambda nt: nt[0])
    return named


def task_rows(tasks: list[dict], service_names: dict[str, str], node_names: dict[str, str],
              *, trunc: bool = True, indent: bool = True, now: dt.datetime | None = None) -> list[dict]:
    rows, prev = [], None
    for name, task in task_names(tasks, service_names):
        status = task.get("Status") or {}
        image = ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")
        err = status.get("Err") or ""
        if trunc and len(err) > MAX_ERR_LEN:
            err = err[:MAX_ERR_LEN - 1] + "…"
        ports = ((status.get("PortStatus") or {}).get("Ports")) or []
        state = capitalize(status.get("State"))
        when = ago(status.get("Timestamp"), now)
        rows.append({
            "ID": truncate_id(task["ID"]) if trunc else task["ID"],
            "Name": (INDENT + name) if (indent and name == prev) else name,
            "Image": strip_digest(image) if trunc else image,
            "Node": node_names.get(task.get("NodeID", ""), task.get("NodeID", "")),
            "DesiredState": capitalize(task.get("DesiredState")),
            "CurrentState": f"{state} {when}".strip(),
            "Error": f'"{err}"' if err else "",
            "Ports": ", ".join(f"*:{p.get('PublishedPort', 0)}->{p.get('TargetPort', 0)}/"
                               f"{p.get('Protocol', 'tcp')}" for p in ports),
        })
        prev = name
    return rows


def render_tasks(rows: list[dict], fmt: str | None, quiet: bool, raw_ids: list[str]) -> str:
    if quiet:
        return "".join(i + "\n" for i in raw_ids)
    return render_list(rows, fmt, TASK_TABLE, TASK_HEADERS)


def print_tasks(ctx, tasks: list[dict], args) -> None:
    """Fetch the names to show (services, nodes) and print the task table."""
    services = {s["ID"]: s["Spec"]["Name"] for s in ctx.call(lambda c: c.services())}
    nodes = {n["ID"]: (n.get("Description") or {}).get("Hostname", n["ID"])
             for n in ctx.call(lambda c: c.nodes())}
    fmt = getattr(args, "format", None)
    indent = not fmt or fmt.startswith("table")
    rows = task_rows(tasks, services, nodes, trunc=not args.no_trunc, indent=indent)
    ids = [t["ID"] for _, t in task_names(tasks, services)]  # -q prints full IDs, as Docker
    ctx.print(render_tasks(rows, fmt, args.quiet, ids), end="")


def add_ps_flags(p) -> None:
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="Filter output based on conditions provided")
    p.add_argument("--format", help="Pretty-print tasks using a Go template")
    p.add_argument("--no-resolve", action="store_true", help="Do not map IDs to Names")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display task IDs")


def filters(items: list[str]) -> dict[str, list[str]]:
    """`-f key=value` flags -> the Engine API's filters map."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            from ._errors import CliError

            raise CliError(f"bad format of filter (expected name=value)", code=1)
        out.setdefault(key.strip(), []).append(value.strip())
    return out
