"""`swarmlab service create|ls|ps|inspect|scale|update|rollback|rm|logs`."""
from __future__ import annotations

import docker.errors

from . import _progress
from ._base import Ctx, add_format, add_parser, group
from ._errors import CliError, collect, raise_collected, retry_out_of_sequence
from ._logs import add_log_flags, print_logs
from ._pretty import service_pretty
from ._service_flags import add_create, add_update
from ._service_lists import SpecError
from ._service_spec import create_spec, update_spec
from ._table import natural_key, render_inspect, render_list
from ._target import post
from ._tasks import add_ps_flags, filters, print_tasks, strip_digest, truncate_id

SERVICE_TABLE = "{{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"
SERVICE_HEADERS = {"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS",
                   "Image": "IMAGE", "Ports": "PORTS"}
_UPDATE_FLAGS: dict[str, object] = {}  # dest -> default, to refuse flags beside --rollback


def register(sub) -> None:
    g = group(sub, "service", "Manage Swarm services")
    p = add_parser(g, "create", "Create a new service")
    add_create(p)
    p.set_defaults(func=create)

    p = add_parser(g, "ls", "List services", aliases=["list"])
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    add_format(p)
    p.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
    p.set_defaults(func=ls)

    p = add_parser(g, "ps", "List the tasks of one or more services")
    add_ps_flags(p)
    p.add_argument("services", nargs="+", metavar="SERVICE")
    p.set_defaults(func=ps)

    p = add_parser(g, "inspect", "Display detailed information on one or more services")
    add_format(p, "inspect")
    p.add_argument("--pretty", action="store_true", help="Print the information in a human friendly format")
    p.add_argument("services", nargs="+", metavar="SERVICE")
    p.set_defaults(func=inspect)

    p = add_parser(g, "scale", "Scale one or multiple replicated services")
    p.add_argument("-d", "--detach", action="store_true",
                   help="Exit immediately instead of waiting for the service to converge")
    p.add_argument("scales", nargs="+", metavar="SERVICE=REPLICAS")
    p.set_defaults(func=scale)

    _register_changes(g)


def _register_changes(g) -> None:
    """update, rollback, rm, logs."""
    p = add_parser(g, "update", "Update a service")
    add_update(p)
    _UPDATE_FLAGS.update({a.dest: a.default for a in p._actions if a.dest != "help"})
    p.set_defaults(func=update)

    p = add_parser(g, "rollback", "Revert changes to a service's configuration")
    p.add_argument("-d", "--detach", action="store_true",
                   help="Exit immediately instead of waiting for the service to converge")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output")
    p.add_argument("service", metavar="SERVICE")
    p.set_defaults(func=rollback)

    p = add_parser(g, "rm", "Remove one or more services", aliases=["remove"])
    p.add_argument("services", nargs="+", metavar="SERVICE")
    p.set_defaults(func=rm)

    p = add_parser(g, "logs", "Fetch the logs of a service or task")
    add_log_flags(p)
    p.set_defaults(func=print_logs)


def resolver(ctx: Ctx):
    """Secret and config names -> IDs, by exact name as Docker's CLI requires."""
    def resolve(kind: str, names: list[str]) -> dict[str, str]:
        lister = (lambda c: c.secrets(filters={"name": names})) if kind == "secret" else \
                 (lambda c: c.configs(filters={"name": names}))
        return {i["Spec"]["Name"]: i["ID"] for i in ctx.call(lister) if i["Spec"]["Name"] in names}
    return resolve


def create(ctx: Ctx, args) -> None:
    try:
        spec = create_spec(args, resolver(ctx))
    except SpecError as err:
        raise CliError(str(err)) from err
    resp = ctx.call(post, "/services/create", spec)
    for warning in resp.get("Warnings") or []:
        ctx.warn(warning)
    ctx.print(resp["ID"])
    if not args.detach:
        _progress.wait(ctx, resp["ID"], quiet=args.quiet)


def mode_name(spec: dict) -> str:
    mode = spec.get("Mode") or {}
    for key, name in (("Replicated", "replicated"), ("Global", "global"),
                      ("ReplicatedJob", "replicated job"), ("GlobalJob", "global job")):
        if key in mode:
            return name
    return ""


def replicas_text(service: dict, tasks: list[dict] | None = None, active: set[str] | None = None) -> str:
    """Docker's REPLICAS column from ServiceStatus (or, failing that, from the tasks)."""
    status = service.get("ServiceStatus") or _status_from_tasks(service, tasks or [], active)
    running, desired = status.get("RunningTasks", 0), status.get("DesiredTasks", 0)
    mode = service["Spec"].get("Mode") or {}
    if "ReplicatedJob" in mode:
        total = (mode["ReplicatedJob"] or {}).get("TotalCompletions", 1)
        return f"{running}/{desired} ({status.get('CompletedTasks', 0)}/{total} completed)"
    max_per_node = ((service["Spec"].get("TaskTemplate") or {}).get("Placement") or {}).get("MaxReplicas")
    if max_per_node:
        return f"{running}/{desired} (max {max_per_node} per node)"
    return f"{running}/{desired}"


def _status_from_tasks(service: dict, tasks: list[dict], active: set[str] | None) -> dict:
    mine = [t for t in tasks if t.get("ServiceID") == service["ID"]
            and (active is None or t.get("NodeID") in active)]
    running = sum(1 for t in mine if t["Status"].get("State") == "running")
    mode = service["Spec"].get("Mode") or {}
    if "Replicated" in mode:
        desired = (mode["Replicated"] or {}).get("Replicas", 1)
    else:
        desired = sum(1 for t in mine if t.get("DesiredState") == "running")
    return {"RunningTasks": running, "DesiredTasks": desired,
            "CompletedTasks": sum(1 for t in mine if t["Status"].get("State") == "complete")}


def ports_text(service: dict) -> str:
    ports = (service.get("Endpoint") or {}).get("Ports") or \
        (service["Spec"].get("EndpointSpec") or {}).get("Ports") or []
    ports = sorted(ports, key=lambda p: (p.get("PublishedPort", 0), p.get("TargetPort", 0), p.get("Protocol", "")))
    return ", ".join(f"*:{p.get('PublishedPort', 0)}->{p.get('TargetPort', 0)}/{p.get('Protocol', 'tcp')}"
                     for p in ports if p.get("PublishMode", "ingress") == "ingress")


def service_rows(services: list[dict], tasks: list[dict] | None = None,
                 active: set[str] | None = None) -> list[dict]:
    rows = []
    for s in sorted(services, key=lambda s: natural_key(s["Spec"]["Name"])):
        image = ((s["Spec"].get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")
        rows.append({"ID": truncate_id(s["ID"]), "Name": s["Spec"]["Name"], "Mode": mode_name(s["Spec"]),
                     "Replicas": replicas_text(s, tasks, active), "Image": strip_digest(image),
                     "Ports": ports_text(s)})
    return rows


def ls(ctx: Ctx, args) -> None:
    services = ctx.call(lambda c: c.services(filters=filters(args.filter) or None, status=True))
    if args.quiet:
        ctx.print("".join(r["ID"] + "\n" for r in service_rows(services, [], set())), end="")
        return
    tasks = active = None
    if any("ServiceStatus" not in s for s in services):
        tasks = ctx.call(lambda c: c.tasks(filters={"desired-state": ["running", "complete"]}))
        active = {n["ID"] for n in ctx.call(lambda c: c.nodes())
                  if (n.get("Status") or {}).get("State") != "down"}
    ctx.print(render_list(service_rows(services, tasks, active), args.format,
                          SERVICE_TABLE, SERVICE_HEADERS), end="")


def ps(ctx: Ctx, args) -> None:
    ids = []
    for ref in args.services:
        try:
            ids.append(ctx.call(lambda c: c.inspect_service(ref))["ID"])
        except docker.errors.NotFound:
            raise CliError(f"no such service: {ref}") from None
    flt = filters(args.filter)
    flt["service"] = ids
    print_tasks(ctx, ctx.call(lambda c: c.tasks(filters=flt)), args)


def inspect(ctx: Ctx, args) -> None:
    found, errors = collect(args.services,
                            lambda r: ctx.call(lambda c: c.inspect_service(r, insert_defaults=True)),
                            not_found=lambda r: f"Error: no such service: {r}")
    if args.pretty:
        ctx.print("".join(service_pretty(s) for s in found), end="")
    else:
        ctx.print(render_inspect(found, args.format), end="")
    raise_collected(errors)


def _scale_specifier(text: str) -> tuple[str, int]:
    name, sep, count = text.partition("=")
    if not sep or not name or not count.isdigit():
        raise CliError(f"invalid scale specifier '{text}'.\nSee 'swarmlab service scale --help'.\n\n"
                       "Usage:  swarmlab service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]\n\n"
                       "Scale one or multiple replicated services")
    return name, int(count)


def scale(ctx: Ctx, args) -> None:
    wanted = [_scale_specifier(s) for s in args.scales]
    scaled, errors = [], []
    for name, count in wanted:
        def once(ref: str, count: int) -> dict:
            service = ctx.call(lambda c: c.inspect_service(ref, insert_defaults=False))
            spec = service["Spec"]
            mode = spec.get("Mode") or {}
            if "Replicated" in mode:
                mode["Replicated"] = {**(mode["Replicated"] or {}), "Replicas": count}
            elif "ReplicatedJob" in mode:
                mode["ReplicatedJob"] = {**(mode["ReplicatedJob"] or {}), "TotalCompletions": count}
            else:
                raise CliError(f"{ref}: scale can only be used with replicated or replicated-job mode")
            _post_update(ctx, service, spec)
            return service

        def one(ref: str, count=count) -> None:
            retry_out_of_sequence(lambda: once(ref, count))
            ctx.print(f"{ref} scaled to {count}")
            scaled.append(ref)
        errors += collect([name], one)[1]
    if not args.detach:
        for service_id in scaled:
            _progress.wait(ctx, service_id)
    raise_collected(errors)


def _post_update(ctx: Ctx, service: dict, spec: dict, rollback: bool = False,
                 auth_from_spec: bool = False) -> None:
    """POST /services/{id}/update?version=N with the query Docker's CLI sends."""
    params = {"version": service["Version"]["Index"]}
    if auth_from_spec:
        params["registryAuthFrom"] = "spec"
    if rollback:
        params["rollback"] = "previous"
    resp = ctx.call(post, f"/services/{service['ID']}/update", spec, params)
    for warning in (resp or {}).get("Warnings") or []:
        ctx.warn(warning)


def _other_flags(args) -> bool:
    ignore = {"rollback", "detach", "quiet", "service"}
    return any(getattr(args, dest, default) != default
               for dest, default in _UPDATE_FLAGS.items() if dest not in ignore)


def update(ctx: Ctx, args) -> None:
    if args.rollback and _other_flags(args):
        raise CliError("other flags may not be combined with --rollback")

    def once() -> None:
        service = ctx.call(lambda c: c.inspect_service(args.service, insert_defaults=False))
        spec = service["Spec"]
        if not args.rollback:
            try:
                spec = update_spec(service["Spec"], args, resolver(ctx))
            except SpecError as err:
                raise CliError(str(err)) from err
        _post_update(ctx, service, spec, rollback=args.rollback, auth_from_spec=True)
    retry_out_of_sequence(once)
    ctx.print(args.service)
    if not args.detach:
        _progress.wait(ctx, args.service, quiet=args.quiet)


def rollback(ctx: Ctx, args) -> None:
    service = ctx.call(lambda c: c.inspect_service(args.service, insert_defaults=False))
    _post_update(ctx, service, service["Spec"], rollback=True)
    ctx.print(args.service)
    if not args.detach:
        _progress.wait(ctx, args.service, quiet=args.quiet)


def rm(ctx: Ctx, args) -> None:
    def remove(ref: str) -> None:
        ctx.call(lambda c: c.remove_service(ref))
        ctx.print(ref)
    raise_collected(collect(args.services, remove)[1])

