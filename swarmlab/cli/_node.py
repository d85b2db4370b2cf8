"""`swarmlab node ls|inspect|ps|update|promote|demote|rm`, Docker's columns and messages."""
from __future__ import annotations

from ._base import Ctx, add_format, add_parser, group
from ._errors import CliError, collect, raise_collected, retry_out_of_sequence
from ._pretty import node_pretty
from ._table import capitalize, natural_key, render_inspect, render_list
from ._tasks import add_ps_flags, filters, print_tasks

NODE_TABLE = ("{{.ID}} {{if .Self}}*{{else}} {{end}}\t{{.Hostname}}\t{{.Status}}\t"
              "{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}")
NODE_HEADERS = {"ID": "ID", "Self": False, "Hostname": "HOSTNAME", "Status": "STATUS",
                "Availability": "AVAILABILITY", "ManagerStatus": "MANAGER STATUS",
                "EngineVersion": "ENGINE VERSION", "TLSStatus": "TLS STATUS"}


def register(sub) -> None:
    g = group(sub, "node", "Manage Swarm nodes")
    p = add_parser(g, "ls", "List nodes in the swarm", aliases=["list"])
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="Filter output based on conditions provided")
    add_format(p)
    p.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
    p.set_defaults(func=ls)

    p = add_parser(g, "inspect", "Display detailed information on one or more nodes")
    add_format(p, "inspect")
    p.add_argument("--pretty", action="store_true", help="Print the information in a human friendly format")
    p.add_argument("nodes", nargs="+", metavar="self|NODE")
    p.set_defaults(func=inspect)

    p = add_parser(g, "ps", "List tasks running on one or more nodes, defaults to current node")
    add_ps_flags(p)
    p.add_argument("nodes", nargs="*", metavar="NODE", default=["self"])
    p.set_defaults(func=ps)

    p = add_parser(g, "update", "Update a node")
    p.add_argument("--availability", choices=["active", "pause", "drain"],
                   help="Availability of the node (\"active\", \"pause\", \"drain\")")
    p.add_argument("--label-add", action="append", default=[], help="Add or update a node label (key=value)")
    p.add_argument("--label-rm", action="append", default=[], help="Remove a node label if exists")
    p.add_argument("--role", choices=["worker", "manager"], help="Role of the node (\"worker\", \"manager\")")
    p.add_argument("node", metavar="NODE")
    p.set_defaults(func=update)

    p = add_parser(g, "promote", "Promote one or more nodes to manager in the swarm")
    p.add_argument("nodes", nargs="+", metavar="NODE")
    p.set_defaults(func=promote)
    p = add_parser(g, "demote", "Demote one or more nodes from manager in the swarm")
    p.add_argument("nodes", nargs="+", metavar="NODE")
    p.set_defaults(func=demote)

    p = add_parser(g, "rm", "Remove one or more nodes from the swarm", aliases=["remove"])
    p.add_argument("-f", "--force", action="store_true", help="Force remove a node from the swarm")
    p.add_argument("nodes", nargs="+", metavar="NODE")
    p.set_defaults(func=rm)


def manager_status(node: dict) -> str:
    status = node.get("ManagerStatus")
    if not status:
        return ""
    if status.get("Leader"):
        return "Leader"
    return capitalize(status.get("Reachability"))


def tls_status(node_tls: dict | None, cluster_tls: dict | None) -> str:
    """Docker's TLS STATUS: the node's TLSInfo against the cluster's, from /info."""
    if not node_tls or not cluster_tls:
        return "Unknown"
    return "Ready" if node_tls == cluster_tls else "Needs Rotation"


def node_rows(nodes: list[dict], self_id: str, cluster_tls: dict | None = None) -> list[dict]:
    """The fields of Docker's node formatter, one dict per node, sorted by hostname."""
    rows = []
    for n in sorted(nodes, key=lambda n: natural_key((n.get("Description") or {}).get("Hostname", ""))):
        desc = n.get("Description") or {}
        rows.append({
            "ID": n["ID"], "Self": n["ID"] == self_id, "Hostname": desc.get("Hostname", ""),
            "Status": capitalize((n.get("Status") or {}).get("State")),
            "Availability": capitalize((n.get("Spec") or {}).get("Availability")),
            "ManagerStatus": manager_status(n),
            "EngineVersion": (desc.get("Engine") or {}).get("EngineVersion", ""),
            "TLSStatus": tls_status(desc.get("TLSInfo"), cluster_tls),
        })
    return rows


def ls(ctx: Ctx, args) -> None:
    nodes = ctx.call(lambda c: c.nodes(filters=filters(args.filter) or None))
    if args.quiet:
        ctx.print("".join(r["ID"] + "\n" for r in node_rows(nodes, "")), end="")
        return
    swarm = ctx.call(lambda c: c.info()).get("Swarm") or {}
    cluster_tls = (swarm.get("Cluster") or {}).get("TLSInfo")
    rows = node_rows(nodes, swarm.get("NodeID", ""), cluster_tls)
    ctx.print(render_list(rows, args.format, NODE_TABLE, NODE_HEADERS), end="")


def resolve_ref(ctx: Ctx, ref: str) -> str:
    """Docker's `self` means the node being addressed."""
    if ref == "self":
        return ctx.call(lambda c: c.info())["Swarm"].get("NodeID", "")
    return ref


def inspect(ctx: Ctx, args) -> None:
    refs = [resolve_ref(ctx, r) for r in args.nodes]
    found, errors = collect(refs, lambda r: ctx.call(lambda c: c.inspect_node(r)))
    if args.pretty:
        ctx.print("".join(node_pretty(n) for n in found), end="")
    else:
        ctx.print(render_inspect(found, args.format), end="")
    raise_collected(errors)


def ps(ctx: Ctx, args) -> None:
    tasks = []
    for ref in args.nodes:
        node_id = resolve_ref(ctx, ref)
        node = ctx.call(lambda c: c.inspect_node(node_id))
        flt = filters(args.filter)
        flt["node"] = [node["ID"]]
        tasks += ctx.call(lambda c: c.tasks(filters=flt))
    print_tasks(ctx, tasks, args)


def _update_node(ctx: Ctx, ref: str, mutate) -> bool:
    """Inspect, mutate the spec, post it with the version read; False if nothing to do."""
    def once() -> bool:
        node = ctx.call(lambda c: c.inspect_node(ref))
        spec = dict(node["Spec"])
        if mutate(spec, node) is False:
            return False
        ctx.call(lambda c: c.update_node(node["ID"], node["Version"]["Index"], spec))
        return True
    return retry_out_of_sequence(once)


def update(ctx: Ctx, args) -> None:
    def mutate(spec: dict, node: dict) -> None:
        if args.availability:
            spec["Availability"] = args.availability
        if args.role:
            spec["Role"] = args.role
        labels = dict(spec.get("Labels") or {})
        for key in args.label_rm:
            if key not in labels:
                raise CliError(f"key {key} doesn't exist in node's labels")
            del labels[key]
        for item in args.label_add:
            key, _, value = item.partition("=")
            labels[key] = value
        spec["Labels"] = labels
    _update_node(ctx, args.node, mutate)
    ctx.print(args.node)


def _set_role(ctx: Ctx, refs: list[str], role: str, already: str, done: str) -> None:
    for ref in refs:
        def mutate(spec: dict, node: dict):
            if spec.get("Role") == role:
                ctx.print(already.format(node["ID"]))  # Docker names the node by ID here
                return False
            spec["Role"] = role
            return None
        if _update_node(ctx, ref, mutate):
            ctx.print(done.format(ref))


def promote(ctx: Ctx, args) -> None:
    _set_role(ctx, args.nodes, "manager", "Node {} is already a manager.",
              "Node {} promoted to a manager in the swarm.")


def demote(ctx: Ctx, args) -> None:
    _set_role(ctx, args.nodes, "worker", "Node {} is already a worker.",
              "Manager {} demoted in the swarm.")


def rm(ctx: Ctx, args) -> None:
    def remove(ref: str) -> None:
        ctx.call(lambda c: c.remove_node(ref, force=args.force))
        ctx.print(ref)
    raise_collected(collect(args.nodes, remove)[1])
