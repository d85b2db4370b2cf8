"""`swarmlab lab up|down|ls|kill|pause|unpause|restart|partition|heal|prune` and
`swarmlab images build`: thin calls of `Lab` and `swarmlab.images`, imported only
when used so that the swarm commands work without them."""
from __future__ import annotations

from ._base import Ctx, add_parser, group
from ._errors import CliError
from ._table import render_list


def register(sub) -> None:
    g = group(sub, "lab", "Start, stop and break labs (swarmlab only)")
    p = add_parser(g, "up", "Start a lab's nodes and, unless --nodes is given, form a swarm")
    p.add_argument("--name", help="Lab name (default: --lab, $SWARMLAB_LAB, else \"course\")")
    p.add_argument("--backend", choices=["local", "docker"], default="local",
                   help="local: node processes on 127.0.x.y; docker: Docker-in-Docker node containers")
    p.add_argument("--engine", choices=["swarmlab", "docker-swarm"], default="swarmlab",
                   help="Orchestrator inside the nodes (docker-swarm: real Docker Swarm, docker backend only)")
    p.add_argument("--managers", type=int, help="Managers in the swarm formed")
    p.add_argument("--workers", type=int, help="Workers in the swarm formed")
    p.add_argument("--nodes", type=int, help="Start this many nodes without a swarm (for the init/join lessons)")
    p.add_argument("--profile", choices=["lab", "swarm"], default="lab",
                   help="Timing profile: lab (fast, for lessons) or swarm (Docker's timings)")
    p.add_argument("--tlsverify", action="store_true",
                   help="Serve each node's Engine API as dockerd --tlsverify on 2376 (client "
                        "certificates of the lab's CA, written to <lab>/tls/client)")
    p.set_defaults(func=up)

    for name, help_ in (("down", "Stop every node of the lab and leave nothing running"),
                        ("heal", "Undo every partition of the lab")):
        p = add_parser(g, name, help_)
        p.add_argument("--name", help="Lab name (default: --lab, $SWARMLAB_LAB, else \"course\")")
        p.set_defaults(func=simple, action=name)
    add_parser(g, "ls", "List labs").set_defaults(func=ls)
    add_parser(g, "prune", "Remove stopped labs' state and leftovers").set_defaults(func=simple, action="prune")
    for name, help_ in (("kill", "Kill a node (SIGKILL), as a crashed machine"),
                        ("pause", "Freeze a node (SIGSTOP), as a hung machine"),
                        ("unpause", "Resume a paused node (SIGCONT)"),
                        ("restart", "Restart a node with its state")):
        p = add_parser(g, name, help_)
        p.add_argument("node", metavar="NODE")
        p.set_defaults(func=on_node, action=name)
    p = add_parser(g, "partition", "Cut these nodes off from the others, both directions")
    p.add_argument("nodes", nargs="+", metavar="NODE")
    p.set_defaults(func=partition)

    g = group(sub, "images", "Build the lab's images locally (swarmlab only)")
    p = add_parser(g, "build", "Build the node and workload images (no registry needed)")
    p.add_argument("--force", action="store_true", help="Rebuild even when cached")
    p.set_defaults(func=build)


def _lab_class():
    try:
        from swarmlab.lab import Lab
    except ImportError as err:
        raise CliError(f"Error: swarmlab.lab is not available: {err}") from err
    return Lab


def _name(ctx: Ctx, args) -> str:
    return getattr(args, "name", None) or ctx.target.lab_name()


def up(ctx: Ctx, args) -> None:
    if args.nodes is not None and (args.managers is not None or args.workers is not None):
        raise CliError("--nodes cannot be combined with --managers or --workers", code=2)
    kwargs = dict(backend=args.backend, managers=args.managers, workers=args.workers,
                  nodes=args.nodes, profile=args.profile, progress=ctx.print)
    if args.engine != "swarmlab":
        kwargs["engine"] = args.engine
    if args.tlsverify:
        kwargs["tlsverify"] = True
    record = _lab_class().up(_name(ctx, args), **kwargs).record
    _print_nodes(ctx, record)
    if record.tlsverify:
        from swarmlab.lab.tls import cert_path
        ctx.print(f"Engine API over TLS: DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={cert_path(record)}")


def _print_nodes(ctx: Ctx, record) -> None:
    rows = [{"Name": n.name, "Addr": n.addr, "API": n.docker_host} for n in record.nodes]
    ctx.print(render_list(rows, None, "{{.Name}}\t{{.Addr}}\t{{.API}}",
                          {"Name": "NODE", "Addr": "ADDRESS", "API": "API"}), end="")


def simple(ctx: Ctx, args) -> None:
    lab_class = _lab_class()
    if args.action == "prune":
        lab_class.prune(progress=ctx.print)
    elif args.action == "down":
        lab_class.attach(_name(ctx, args)).down(progress=ctx.print)
    else:
        lab_class.attach(_name(ctx, args)).heal()


def on_node(ctx: Ctx, args) -> None:
    getattr(_lab_class().attach(_name(ctx, args)), args.action)(args.node)


def partition(ctx: Ctx, args) -> None:
    _lab_class().attach(_name(ctx, args)).partition(*args.nodes)


def ls(ctx: Ctx, args) -> None:
    rows = [{"Name": r.name, "Backend": r.backend, "Profile": r.profile, "Nodes": str(len(r.nodes))}
            for r in _lab_class().ls()]
    ctx.print(render_list(rows, None, "{{.Name}}\t{{.Backend}}\t{{.Profile}}\t{{.Nodes}}",
                          {"Name": "NAME", "Backend": "BACKEND", "Profile": "PROFILE", "Nodes": "NODES"}),
              end="")


def build(ctx: Ctx, args) -> None:
    from swarmlab import images

    images.build_all(progress=ctx.print, force=args.force)
