"""`swarmlab swarm init|join|join-token|leave|update|unlock|unlock-key|ca`, Docker's texts."""
from __future__ import annotations

import argparse
import getpass
import json
import time

import docker.errors

from ._base import Ctx, add_parser, group
from ._errors import CliError, format_api_error, retry_out_of_sequence
from ._service_flags import duration
from ._target import post


def register(sub) -> None:
    g = group(sub, "swarm", "Manage Swarm")
    p = add_parser(g, "init", "Initialize a swarm")
    p.add_argument("--advertise-addr", help="Advertised address (format: \"<ip|interface>[:port]\")")
    p.add_argument("--listen-addr", default="0.0.0.0:2377",
                   help="Listen address (format: \"<ip|interface>[:port]\") (default 0.0.0.0:2377)")
    p.add_argument("--force-new-cluster", action="store_true",
                   help="Force create a new cluster from current state")
    p.add_argument("--availability", default="", choices=["active", "pause", "drain"],
                   help="Availability of the node (\"active\", \"pause\", \"drain\") (default \"active\")")
    _spec_flags(p)
    p.set_defaults(func=init)

    p = add_parser(g, "join", "Join a swarm as a node and/or manager")
    p.add_argument("--token", required=True, help="Token for entry into the swarm")
    p.add_argument("--advertise-addr", help="Advertised address (format: \"<ip|interface>[:port]\")")
    p.add_argument("--listen-addr", default="0.0.0.0:2377", help="Listen address (default 0.0.0.0:2377)")
    p.add_argument("--availability", default="", choices=["active", "pause", "drain"],
                   help="Availability of the node (\"active\", \"pause\", \"drain\") (default \"active\")")
    p.add_argument("remote", metavar="HOST:PORT")
    p.set_defaults(func=join)

    p = add_parser(g, "join-token", "Manage join tokens")
    p.add_argument("--rotate", action="store_true", help="Rotate join token")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display token")
    p.add_argument("role", metavar="(worker|manager)")
    p.set_defaults(func=join_token)
    _register_upkeep(g)


def _register_upkeep(g) -> None:
    """leave, update, unlock, unlock-key, ca."""
    p = add_parser(g, "leave", "Leave the swarm")
    p.add_argument("-f", "--force", action="store_true",
                   help="Force this node to leave the swarm, ignoring warnings")
    p.set_defaults(func=leave)

    p = add_parser(g, "update", "Update the swarm")
    _spec_flags(p)
    p.set_defaults(func=update)

    add_parser(g, "unlock", "Unlock swarm").set_defaults(func=unlock)

    p = add_parser(g, "unlock-key", "Manage the unlock key")
    p.add_argument("--rotate", action="store_true", help="Rotate unlock key")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display token")
    p.set_defaults(func=unlock_key)

    p = add_parser(g, "backup", "Back up a manager's swarm state (swarmlab only)")
    p.add_argument("--node", dest="backup_node", help="The manager to back up")
    p.add_argument("-o", "--output", required=True, help="File to write (a .tgz)")
    p.set_defaults(func=backup)

    p = add_parser(g, "restore", "Restore a backup into a new lab and force a new cluster "
                                 "(swarmlab only)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--name", help="Name of the new lab (default: --lab, $SWARMLAB_LAB)")
    p.add_argument("--nodes", type=int, default=3, help="Nodes in the new lab (default 3)")
    p.add_argument("--unlock-key", help="The swarm's unlock key, if it was autolocked")
    p.set_defaults(func=restore)

    p = add_parser(g, "ca", "Display and rotate the root CA")
    p.add_argument("--rotate", action="store_true",
                   help="Rotate the swarm CA - if no certificate or key are provided, new ones will be generated")
    p.add_argument("--cert-expiry", type=duration("--cert-expiry"),
                   help="Validity period for node certificates (ns|us|ms|s|m|h) (default 2160h0m0s)")
    p.add_argument("-d", "--detach", action="store_true",
                   help="Exit immediately instead of waiting for the root rotation to converge")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output")
    p.set_defaults(func=ca)


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "t"):
        return True
    if text.lower() in ("false", "0", "f"):
        return False
    raise argparse.ArgumentTypeError(f'invalid argument "{text}" for "--autolock" flag')


def _spec_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--autolock", nargs="?", const=True, type=_bool, default=None,
                   help="Enable manager autolocking (requiring an unlock key to start a stopped manager)")
    p.add_argument("--cert-expiry", type=duration("--cert-expiry"),
                   help="Validity period for node certificates (ns|us|ms|s|m|h) (default 2160h0m0s)")
    p.add_argument("--dispatcher-heartbeat", type=duration("--dispatcher-heartbeat"),
                   help="Dispatcher heartbeat period (ns|us|ms|s|m|h) (default 5s)")
    p.add_argument("--task-history-limit", type=int, help="Task history retention limit (default 5)")
    p.add_argument("--snapshot-interval", type=int,
                   help="Number of log entries between Raft snapshots (default 10000)")
    p.add_argument("--max-snapshots", type=int, help="Number of additional Raft snapshots to retain")


def merge_swarm_spec(spec: dict, args) -> dict:
    """Docker's mergeSwarmSpec: only the flags given change the spec."""
    def section(name: str) -> dict:
        spec[name] = dict(spec.get(name) or {})
        return spec[name]
    if args.task_history_limit is not None:
        section("Orchestration")["TaskHistoryRetentionLimit"] = args.task_history_limit
    if args.dispatcher_heartbeat is not None:
        section("Dispatcher")["HeartbeatPeriod"] = args.dispatcher_heartbeat
    if args.cert_expiry is not None:
        section("CAConfig")["NodeCertExpiry"] = args.cert_expiry
    if args.snapshot_interval is not None:
        section("Raft")["SnapshotInterval"] = args.snapshot_interval
    if args.max_snapshots is not None:
        section("Raft")["KeepOldSnapshots"] = args.max_snapshots
    if args.autolock is not None:
        section("EncryptionConfig")["AutoLockManagers"] = args.autolock
    return spec


def empty_swarm_spec() -> dict:
    """Go's zero swarm.Spec as JSON, which `docker swarm init` starts from."""
    return {"Labels": None, "Orchestration": {}, "Raft": {"ElectionTick": 0, "HeartbeatTick": 0},
            "Dispatcher": {}, "CAConfig": {}, "TaskDefaults": {},
            "EncryptionConfig": {"AutoLockManagers": False}}


def init_request(args) -> dict:
    """The InitRequest body `docker swarm init` sends."""
    return {"ListenAddr": args.listen_addr, "AdvertiseAddr": args.advertise_addr or "",
            "DataPathAddr": "", "DataPathPort": 0, "ForceNewCluster": args.force_new_cluster,
            "Spec": merge_swarm_spec(empty_swarm_spec(), args),
            "AutoLockManagers": bool(args.autolock), "Availability": args.availability,
            "DefaultAddrPool": [], "SubnetSize": 24}


def join_request(args) -> dict:
    """The JoinRequest body `docker swarm join` sends."""
    return {"ListenAddr": args.listen_addr, "AdvertiseAddr": args.advertise_addr or "",
            "DataPathAddr": "", "RemoteAddrs": [args.remote], "JoinToken": args.token,
            "Availability": args.availability}


def init(ctx: Ctx, args) -> None:
    node_id = ctx.call(post, "/swarm/init", init_request(args))
    ctx.print(f"Swarm initialized: current node ({node_id}) is now a manager.\n")
    print_join_command(ctx, node_id, worker=True, manager=False)
    ctx.print("To add a manager to this swarm, run 'swarmlab swarm join-token manager' "
              "and follow the instructions.")
    if args.autolock:
        print_unlock_command(ctx, ctx.operator_call(lambda c: c.get_unlock_key()).get("UnlockKey", ""))


def print_join_command(ctx: Ctx, node_id: str, *, worker: bool, manager: bool) -> None:
    node = ctx.call(lambda c: c.inspect_node(node_id))
    sw = ctx.call(lambda c: c.inspect_swarm())
    status = node.get("ManagerStatus")
    if not status:
        return
    for role, wanted in (("worker", worker), ("manager", manager)):
        if wanted:
            token = sw["JoinTokens"][role.title()]
            ctx.print(f"To add a {role} to this swarm, run the following command:\n\n"
                      f"    swarmlab swarm join --token {token} {status['Addr']}\n")


def print_unlock_command(ctx: Ctx, key: str) -> None:
    if key:
        ctx.print("To unlock a swarm manager after it restarts, run the `swarmlab swarm unlock`\n"
                  f"command and provide the following key:\n\n    {key}\n\n"
                  "Remember to store this key in a password manager, since without it you\n"
                  "will not be able to restart the manager.")


def _on_this_node(ctx: Ctx, fn, command: str):
    """Commands about the node itself (join, leave) go to the node `--node` names; when
    the student gave none, say which node the daemon's refusal came from."""
    try:
        return ctx.call(fn)
    except docker.errors.APIError as err:
        if ctx.target.node or ctx.target.host:
            raise
        raise CliError(f"{format_api_error(err)}\n(that was {ctx.target.name}, the node swarmlab "
                       f"addresses by default; for another node: swarmlab --node NODE {command})") from err


def join(ctx: Ctx, args) -> None:
    _on_this_node(ctx, lambda c: post(c, "/swarm/join", join_request(args)), "swarm join ...")
    info = ctx.call(lambda c: c.info())
    role = "manager" if info["Swarm"].get("ControlAvailable") else "worker"
    ctx.print(f"This node joined a swarm as a {role}.")


def join_token(ctx: Ctx, args) -> None:
    if args.role not in ("worker", "manager"):
        raise CliError(f"unknown role {args.role}")
    worker = args.role == "worker"
    if args.rotate:
        _update_swarm(ctx, lambda spec: spec, rotate_worker_token=worker, rotate_manager_token=not worker)
        if not args.quiet:
            ctx.print(f"Successfully rotated {args.role} join token.\n")
    sw = ctx.call(lambda c: c.inspect_swarm())
    if args.quiet:
        ctx.print(sw["JoinTokens"]["Worker" if worker else "Manager"])
        return
    info = ctx.call(lambda c: c.info())
    print_join_command(ctx, info["Swarm"]["NodeID"], worker=worker, manager=not worker)


def leave(ctx: Ctx, args) -> None:
    _on_this_node(ctx, lambda c: c.leave_swarm(force=args.force), "swarm leave")
    ctx.print("Node left the swarm.")


def _update_swarm(ctx: Ctx, change, **flags) -> tuple[dict, dict]:
    """Inspect, change the spec, post it with the version read (again if the swarm
    object moved in between); returns the specs before and after."""
    def once() -> tuple[dict, dict]:
        sw = ctx.call(lambda c: c.inspect_swarm())
        before = json.loads(json.dumps(sw["Spec"]))
        spec = change(sw["Spec"])
        ctx.call(lambda c: c.update_swarm(sw["Version"]["Index"], spec, **flags))
        return before, spec
    return retry_out_of_sequence(once)


def _autolock(spec: dict) -> bool:
    return bool((spec.get("EncryptionConfig") or {}).get("AutoLockManagers"))


def update(ctx: Ctx, args) -> None:
    before_spec, spec = _update_swarm(ctx, lambda spec: merge_swarm_spec(spec, args))
    before, after = _autolock(before_spec), _autolock(spec)
    ctx.print("Swarm updated.")
    if after and not before:
        print_unlock_command(ctx, ctx.operator_call(lambda c: c.get_unlock_key()).get("UnlockKey", ""))


def unlock(ctx: Ctx, args) -> None:
    state = ctx.call(lambda c: c.info())["Swarm"].get("LocalNodeState")
    if state == "inactive":
        raise CliError("Error: This node is not part of a swarm")
    if state != "locked":
        raise CliError("Error: swarm is not locked")
    if ctx.stdin.isatty():
        key = getpass.getpass("Enter unlock key: ")
    else:
        key = ctx.stdin.readline()
    ctx.call(lambda c: c.unlock_swarm(key.strip()))


def unlock_key(ctx: Ctx, args) -> None:
    if args.rotate:
        def check(spec: dict) -> dict:
            if not _autolock(spec):
                raise CliError("cannot rotate because autolock is not turned on")
            return spec
        _update_swarm(ctx, check, rotate_manager_unlock_key=True)
        if not args.quiet:
            ctx.print("Successfully rotated manager unlock key.\n")
    key = ctx.operator_call(lambda c: c.get_unlock_key()).get("UnlockKey") or ""
    if not key:
        raise CliError("no unlock key is set")
    if args.quiet:
        ctx.print(key)
    else:
        print_unlock_command(ctx, key)


CA_TIMEOUT_S = 300.0
CERTS_ROTATED, ROOTS_ROTATED = "  rotated TLS certificates", "  rotated CA certificates"


def ca(ctx: Ctx, args) -> None:
    """`swarm ca [--rotate [--cert-expiry D] [-d] [-q]]`, as docker/cli's ca.go."""
    if not args.rotate:
        if args.cert_expiry is not None:
            raise CliError("`--cert-expiry` flag requires the `--rotate` flag to update the CA")
        return _print_trust_root(ctx, ctx.call(lambda c: c.inspect_swarm()))

    def rotate(spec: dict) -> dict:
        ca_config = dict(spec.get("CAConfig") or {})
        ca_config["ForceRotate"] = ca_config.get("ForceRotate", 0) + 1
        if args.cert_expiry is not None:
            ca_config["NodeCertExpiry"] = args.cert_expiry
        spec["CAConfig"] = ca_config
        return spec
    _update_swarm(ctx, rotate)
    if args.detach:
        return None
    _wait_ca_rotation(ctx, quiet=args.quiet)
    if not args.quiet:
        _print_trust_root(ctx, ctx.call(lambda c: c.inspect_swarm()))


def _print_trust_root(ctx: Ctx, sw: dict) -> None:
    root = (sw.get("TLSInfo") or {}).get("TrustRoot", "")
    if not root:
        raise CliError("No CA information available")
    ctx.print(root.strip())


def rotation_progress(sw: dict, nodes: list[dict]) -> tuple[list[str], bool]:
    """docker/cli's RootRotationProgress: the desired root's digest, nodes whose
    certificate has the wanted issuer, nodes trusting the wanted root; and whether done."""
    import hashlib
    want = sw.get("TLSInfo") or {}
    issuer = (want.get("CertIssuerSubject"), want.get("CertIssuerPublicKey"))
    certs = roots = 0
    for n in nodes:
        tls = (n.get("Description") or {}).get("TLSInfo") or {}
        certs += (tls.get("CertIssuerSubject"), tls.get("CertIssuerPublicKey")) == issuer
        roots += tls.get("TrustRoot") == want.get("TrustRoot")
    total, in_progress = len(nodes), bool(sw.get("RootRotationInProgress"))
    if in_progress or certs != total:
        roots = 0  # certificates still to renew: no root counts as rotated yet
    digest = hashlib.sha256((want.get("TrustRoot") or "").encode()).hexdigest()
    lines = [f"desired root digest: sha256:{digest}",
             f"{CERTS_ROTATED}:  {_bar(certs, total)}",
             f"{ROOTS_ROTATED}:   {_bar(roots, total)}"]
    return lines, not in_progress and certs == total and roots == total


def _bar(current: int, total: int) -> str:
    pct = min(50, int(current / total * 100) // 2) if total else 50
    return f"[{'=' * pct}>{' ' * (50 - pct)}] {current}/{total} nodes"


def _wait_ca_rotation(ctx: Ctx, *, quiet: bool) -> None:
    """Poll every 200 ms (as docker) until every node has a certificate of the new root
    and trusts it; on a terminal the three lines are redrawn in place."""
    try:
        _poll_ca_rotation(ctx, quiet)
    except KeyboardInterrupt:  # as docker: ^C leaves the rotation running
        ctx.print("Operation continuing in background.")
        ctx.print("Use `swarmctl cluster inspect default` to check progress.")
        raise SystemExit(0) from None


def _poll_ca_rotation(ctx: Ctx, quiet: bool) -> None:
    tty = ctx.terminal
    deadline, shown = time.monotonic() + CA_TIMEOUT_S, None
    while True:
        sw = ctx.call(lambda c: c.inspect_swarm())
        lines, done = rotation_progress(sw, ctx.call(lambda c: c.nodes()))
        if not quiet and lines != shown:
            if tty and shown is not None:
                ctx.out.write(f"\x1b[{len(shown)}A")
            ctx.print("\n".join(("\x1b[2K" if tty else "") + line for line in lines))
            shown = lines
        if done:
            return
        if time.monotonic() > deadline:
            raise CliError("Error: the root CA rotation did not finish in "
                           f"{CA_TIMEOUT_S:.0f}s; see `swarmlab node ls` for nodes that are down "
                           "(a down node holds the rotation until it is back or removed)")
        time.sleep(0.2)


def backup(ctx: Ctx, args) -> None:
    """`swarmlab swarm backup --node NODE -o FILE`: what Docker's docs say to copy
    (/var/lib/docker/swarm), taken consistently from a running manager."""
    if args.backup_node:
        ctx.target.node = args.backup_node

    def fetch(client):
        r = client.get(client._url("/swarmlab/backup"), stream=False)
        client._raise_for_status(r)
        return r.content
    try:
        data = ctx.operator_call(fetch)
    except docker.errors.APIError as err:
        raise CliError(format_api_error(err)) from err
    with open(args.output, "wb") as f:
        f.write(data)
    ctx.print(f"Backup of {ctx.target.name or 'the manager'} written to {args.output} "
              f"({len(data)} bytes)")


def restore(ctx: Ctx, args) -> None:
    """`swarmlab swarm restore FILE`: a new lab holding the backed-up state on node1, then
    `swarm init --force-new-cluster` there."""
    from swarmlab.lab import Lab
    name = args.name or ctx.target.lab_name()
    lab = Lab.restore(args.file, name=name, nodes=args.nodes,
                      unlock_key=args.unlock_key, progress=ctx.print)
    ctx.print(f"Lab {lab.name} holds the restored swarm; node1 is its manager")
