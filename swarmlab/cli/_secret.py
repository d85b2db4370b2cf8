"""`swarmlab secret create|ls|inspect|rm` and `swarmlab config create|ls|inspect|rm`."""
from __future__ import annotations

from ._base import Ctx, add_format, add_parser, group
from ._errors import CliError, collect, raise_collected
from ._opts import kv_map
from ._pretty import config_pretty, secret_pretty
from ._table import natural_key, render_inspect, render_list
from ._tasks import since

TABLES = {
    "secret": ("{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
               {"ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED",
                "UpdatedAt": "UPDATED", "Labels": "LABELS"}),
    "config": ("{{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
               {"ID": "ID", "Name": "NAME", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED",
                "Labels": "LABELS"}),
}


def register(sub) -> None:
    for kind, title in (("secret", "Manage Swarm secrets"), ("config", "Manage Swarm configs")):
        g = group(sub, kind, title)
        p = add_parser(g, "create", f"Create a {kind} from a file or STDIN as content")
        p.add_argument("-l", "--label", action="append", default=[], help=f"{kind.title()} labels")
        if kind == "secret":
            p.add_argument("-d", "--driver", help="Secret driver")
        else:
            p.add_argument("--template-driver", help="Template driver")
        p.add_argument("name", metavar=kind.upper())
        p.add_argument("file", metavar="file|-", help="Path to file, or - to read from STDIN")
        p.set_defaults(func=create, kind=kind)

        p = add_parser(g, "ls", f"List {kind}s", aliases=["list"])
        p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
        add_format(p)
        p.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
        p.set_defaults(func=ls, kind=kind)

        p = add_parser(g, "inspect", f"Display detailed information on one or more {kind}s")
        add_format(p, "inspect")
        p.add_argument("--pretty", action="store_true", help="Print the information in a human friendly format")
        p.add_argument("names", nargs="+", metavar=kind.upper())
        p.set_defaults(func=inspect, kind=kind)

        p = add_parser(g, "rm", f"Remove one or more {kind}s", aliases=["remove"])
        p.add_argument("names", nargs="+", metavar=kind.upper())
        p.set_defaults(func=rm, kind=kind)


def _read(ctx: Ctx, path: str) -> bytes:
    if path == "-":
        stream = getattr(ctx.stdin, "buffer", ctx.stdin)
        data = stream.read()
        return data.encode() if isinstance(data, str) else data
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise CliError(f'Error reading content from "{path}": {err}') from err


def create(ctx: Ctx, args) -> None:
    data = _read(ctx, args.file)
    labels = kv_map(args.label)
    if args.kind == "secret":
        driver = {"Name": args.driver} if args.driver else None
        resp = ctx.call(lambda c: c.create_secret(args.name, data, labels=labels, driver=driver))
    else:
        templating = {"Name": args.template_driver} if args.template_driver else None
        resp = ctx.call(lambda c: c.create_config(args.name, data, labels=labels, templating=templating))
    ctx.print(resp["ID"])


def _filters(items: list[str]) -> dict:
    from ._tasks import filters

    return filters(items)


def rows(kind: str, items: list[dict]) -> list[dict]:
    out = []
    for item in sorted(items, key=lambda i: natural_key(i["Spec"]["Name"])):
        row = {"ID": item["ID"], "Name": item["Spec"]["Name"],
               "CreatedAt": _ago(item.get("CreatedAt")), "UpdatedAt": _ago(item.get("UpdatedAt")),
               "Labels": ",".join(f"{k}={v}" for k, v in (item["Spec"].get("Labels") or {}).items())}
        if kind == "secret":
            row["Driver"] = ((item["Spec"].get("Driver") or {}).get("Name")) or ""
        out.append(row)
    return out


def _ago(text: str | None) -> str:
    words = since(text)
    return words + " ago" if words else ""


def ls(ctx: Ctx, args) -> None:
    lister = (lambda c: c.secrets(filters=_filters(args.filter) or None)) if args.kind == "secret" \
        else (lambda c: c.configs(filters=_filters(args.filter) or None))
    items = ctx.call(lister)
    if args.quiet:
        ctx.print("".join(r["ID"] + "\n" for r in rows(args.kind, items)), end="")
        return
    table, headers = TABLES[args.kind]
    ctx.print(render_list(rows(args.kind, items), args.format, table, headers), end="")


def inspect(ctx: Ctx, args) -> None:
    fetch = (lambda r: ctx.call(lambda c: c.inspect_secret(r))) if args.kind == "secret" \
        else (lambda r: ctx.call(lambda c: c.inspect_config(r)))
    found, errors = collect(args.names, fetch)
    if args.pretty:
        show = secret_pretty if args.kind == "secret" else config_pretty
        ctx.print("".join(show(i) for i in found), end="")
    else:
        ctx.print(render_inspect(found, args.format), end="")
    raise_collected(errors)


def rm(ctx: Ctx, args) -> None:
    def remove(ref: str) -> None:
        if args.kind == "secret":
            ctx.call(lambda c: c.remove_secret(ref))
        else:
            ctx.call(lambda c: c.remove_config(ref))
        ctx.print(ref)
    raise_collected(collect(args.names, remove)[1])

