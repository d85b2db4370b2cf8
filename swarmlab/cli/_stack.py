"""`swarmlab stack deploy|ls|ps|services|rm`.

`deploy` and `rm` hand over to `swarmlab.stack` (compose parsing, validation, the
objects of a stack and their removal). `ls`, `ps` and `services` are tables, printed
with the same formatter as `service ls` and `service ps`, over the
`com.docker.stack.namespace` label every object of a stack carries (as Docker's CLI
does them, client-side).
"""
from __future__ import annotations

from ._base import Ctx, add_format, add_parser, group
from ._errors import CliError
from ._service import SERVICE_HEADERS, SERVICE_TABLE, service_rows
from ._table import render_list
from ._target import API_VERSION
from ._tasks import add_ps_flags, filters, print_tasks

NAMESPACE = "com.docker.stack.namespace"


def register(sub) -> None:
    g = group(sub, "stack", "Manage Swarm stacks")
    p = add_parser(g, "deploy", "Deploy a new stack or update an existing stack", aliases=["up"])
    p.add_argument("-c", "--compose-file", action="append", required=True,
                   help="Path to a Compose file, or \"-\" to read from stdin")
    p.add_argument("--prune", action="store_true", help="Prune services that are no longer referenced")
    p.add_argument("--resolve-image", choices=["always", "changed", "never"], default="always",
                   help="Query the registry to resolve image digest and supported platforms")
    p.add_argument("--with-registry-auth", action="store_true",
                   help="Send registry authentication details to Swarm agents (no effect in swarmlab)")
    p.add_argument("-d", "--detach", action="store_true", default=True,
                   help="Exit immediately instead of waiting for the stack services to converge")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output")
    p.add_argument("stack", metavar="STACK")
    p.set_defaults(func=deploy)

    p = add_parser(g, "ls", "List stacks", aliases=["list"])
    add_format(p)
    p.set_defaults(func=ls)

    p = add_parser(g, "ps", "List the tasks in the stack")
    add_ps_flags(p)
    p.add_argument("stack", metavar="STACK")
    p.set_defaults(func=ps)

    p = add_parser(g, "services", "List the services in the stack")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    add_format(p)
    p.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
    p.add_argument("stack", metavar="STACK")
    p.set_defaults(func=services)

    p = add_parser(g, "rm", "Remove one or more stacks", aliases=["remove", "down"])
    p.add_argument("stacks", nargs="+", metavar="STACK")
    p.set_defaults(func=rm)


def _sdk_client(ctx: Ctx):
    import docker

    ctx.target.client()  # resolve the node first, so errors name it
    return docker.DockerClient(base_url=ctx.target.url, version=API_VERSION)


def deploy(ctx: Ctx, args) -> None:
    from swarmlab import stack

    files = [ctx.stdin.read() if f == "-" else f for f in args.compose_file]
    compose = files if len(files) > 1 else files[0]
    client = _sdk_client(ctx)
    try:
        ctx.call(lambda _c: stack.deploy(client, compose, args.stack, ctx.print, prune=args.prune))
    except (stack.ComposeError, stack.StackError) as err:
        raise CliError(str(err)) from err


def _namespace(obj: dict) -> str | None:
    return (obj.get("Spec", {}).get("Labels") or {}).get(NAMESPACE)


def _stack_services(ctx: Ctx, name: str, flt: dict | None = None) -> list[dict]:
    return [s for s in ctx.call(lambda c: c.services(filters=flt or None, status=True))
            if _namespace(s) == name]


def stack_rows(services: list[dict]) -> list[dict]:
    counts: dict[str, int] = {}
    for s in services:
        ns = _namespace(s)
        if ns:
            counts[ns] = counts.get(ns, 0) + 1
    return [{"Name": n, "Services": str(c), "Orchestrator": "Swarm"} for n, c in sorted(counts.items())]


def ls(ctx: Ctx, args) -> None:
    rows = stack_rows(ctx.call(lambda c: c.services()))
    ctx.print(render_list(rows, args.format, "{{.Name}}\t{{.Services}}\t{{.Orchestrator}}",
                          {"Name": "NAME", "Services": "SERVICES", "Orchestrator": "ORCHESTRATOR"}), end="")


def ps(ctx: Ctx, args) -> None:
    ids = [s["ID"] for s in _stack_services(ctx, args.stack)]
    if not ids:
        raise CliError(f"nothing found in stack: {args.stack}")
    flt = filters(args.filter)
    flt["service"] = ids
    print_tasks(ctx, ctx.call(lambda c: c.tasks(filters=flt)), args)


def services(ctx: Ctx, args) -> None:
    found = _stack_services(ctx, args.stack, filters(args.filter))
    if not found:
        ctx.warn(f"Nothing found in stack: {args.stack}")
        return
    if args.quiet:
        ctx.print("".join(s["ID"] + "\n" for s in found), end="")
        return
    ctx.print(render_list(service_rows(found), args.format, SERVICE_TABLE, SERVICE_HEADERS), end="")


def rm(ctx: Ctx, args) -> None:
    from swarmlab import stack

    client = _sdk_client(ctx)
    failed = []
    for name in args.stacks:
        try:
            ctx.call(lambda _c: stack.rm(client, name, ctx.print))
        except stack.StackError as err:
            failed.append(str(err))
    if failed:
        raise CliError("\n".join(failed))
