"""The flags of `service create` and `service update`, as Docker spells them.

Every flag defaults to None so that the spec builder can tell "not given" from a
value, the way Docker's CLI asks `flags.Changed(...)`: a group (update config,
restart policy, health check...) is only sent when one of its flags was given.
"""
from __future__ import annotations

import argparse

from . import _opts


def _typed(fn, flag: str):
    def parse(value: str):
        try:
            return fn(value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f'invalid argument "{value}" for "{flag}" flag: {err}')
    parse.__name__ = flag.lstrip("-")
    return parse


def duration(flag: str):
    return _typed(_opts.parse_positive_duration, flag)


def _uint(text: str) -> int:
    n = int(text)
    if n < 0:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    return n


def add_common(p: argparse.ArgumentParser, *, update: bool) -> None:
    """Flags shared by create and update (update has -add/-rm forms instead of lists)."""
    a = p.add_argument
    a("-d", "--detach", action="store_true", default=False,
      help="Exit immediately instead of waiting for the service to converge")
    a("-q", "--quiet", action="store_true", default=False, help="Suppress progress output")
    a("--with-registry-auth", action="store_true", default=False,
      help="Send registry authentication details to swarm agents (no effect in swarmlab)")
    a("--no-resolve-image", action="store_true", default=False,
      help="Do not query the registry to resolve image digest and supported platforms")
    a("--replicas", type=_typed(_uint, "--replicas"), help="Number of tasks")
    a("--max-concurrent", type=_typed(_uint, "--max-concurrent"),
      help="Number of job tasks to run concurrently (default equal to --replicas)")
    a("--replicas-max-per-node", type=_typed(_uint, "--replicas-max-per-node"),
      help="Maximum number of tasks per node (default 0 = unlimited)")
    a("--hostname", help="Container hostname")
    a("-w", "--workdir", help="Working directory inside the container")
    a("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    a("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    a("--stop-signal", help="Signal to stop the container")
    a("--stop-grace-period", type=duration("--stop-grace-period"),
      help="Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)")
    a("--init", action="store_true", default=None,
      help="Use an init inside each service container to forward signals and reap processes")
    a("--read-only", action="store_true", default=None,
      help="Mount the container's root filesystem as read only")
    a("-t", "--tty", action="store_true", default=None, help="Allocate a pseudo-TTY")
    a("--endpoint-mode", choices=["vip", "dnsrr"], help="Endpoint mode (vip or dnsrr) (default \"vip\")")
    _resources(p)
    _health(p)
    _policies(p)
    _lists(p, update)


def _resources(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--limit-cpu", type=_typed(_opts.parse_nano_cpus, "--limit-cpu"), help="Limit CPUs")
    a("--limit-memory", type=_typed(_opts.parse_mem_bytes, "--limit-memory"), help="Limit Memory")
    a("--limit-pids", type=_typed(int, "--limit-pids"), help="Limit maximum number of processes")
    a("--reserve-cpu", type=_typed(_opts.parse_nano_cpus, "--reserve-cpu"), help="Reserve CPUs")
    a("--reserve-memory", type=_typed(_opts.parse_mem_bytes, "--reserve-memory"),
      help="Reserve Memory")


def _health(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--health-cmd", help="Command to run to check health")
    a("--health-interval", type=duration("--health-interval"),
      help="Time between running the check (ms|s|m|h)")
    a("--health-timeout", type=duration("--health-timeout"),
      help="Maximum time to allow one check to run (ms|s|m|h)")
    a("--health-retries", type=_typed(int, "--health-retries"),
      help="Consecutive failures needed to report unhealthy")
    a("--health-start-period", type=duration("--health-start-period"),
      help="Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)")
    a("--no-healthcheck", action="store_true", default=None,
      help="Disable any container-specified HEALTHCHECK")


def _policies(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    for kind, actions in (("update", ["pause", "continue", "rollback"]),
                          ("rollback", ["pause", "continue"])):
        a(f"--{kind}-parallelism", type=_typed(_uint, f"--{kind}-parallelism"),
          help=f"Maximum number of tasks {kind}d simultaneously (0 to {kind} all at once)")
        a(f"--{kind}-delay", type=duration(f"--{kind}-delay"),
          help=f"Delay between task {kind}s (ns|us|ms|s|m|h) (default 0s)")
        a(f"--{kind}-failure-action", choices=actions,
          help=f"Action on {kind} failure (\"{'|'.join(actions)}\") (default \"pause\")")
        a(f"--{kind}-monitor", type=duration(f"--{kind}-monitor"),
          help=f"Duration after each task {kind} to monitor for failure (ns|us|ms|s|m|h) (default 5s)")
        a(f"--{kind}-max-failure-ratio", type=_typed(float, f"--{kind}-max-failure-ratio"),
          help=f"Failure rate to tolerate during a {kind}")
        a(f"--{kind}-order", choices=["start-first", "stop-first"],
          help=f"{kind.title()} order (\"start-first\", \"stop-first\") (default \"stop-first\")")
    a("--restart-condition", choices=["none", "on-failure", "any"],
      help="Restart when condition is met (\"none\", \"on-failure\", \"any\") (default \"any\")")
    a("--restart-delay", type=duration("--restart-delay"),
      help="Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)")
    a("--restart-max-attempts", type=_typed(_uint, "--restart-max-attempts"),
      help="Maximum number of restarts before giving up")
    a("--restart-window", type=duration("--restart-window"),
      help="Window used to evaluate the restart policy (ns|us|ms|s|m|h)")


# (create flag, update -add flag, update -rm flag, value parser, help)
LIST_FLAGS = [
    ("env", "-e", "Set environment variables"),
    ("label", None, "Service labels"),
    ("container-label", None, "Container labels"),
    ("constraint", None, "Placement constraints"),
    ("placement-pref", None, "Add a placement preference"),
    ("publish", "-p", "Publish a port as a node port"),
    ("secret", None, "Specify secrets to expose to the service"),
    ("config", None, "Specify configurations to expose to the service"),
    ("mount", None, "Attach a filesystem mount to the service"),
    ("network", None, "Network attachments"),
    ("group", None, "Set one or more supplementary user groups for the container"),
]

_PARSED = {"publish": _opts.parse_publish, "mount": _opts.parse_mount,
           "placement-pref": lambda v: _placement_pref(v)}


def _placement_pref(value: str) -> dict:
    strategy, sep, arg = value.partition("=")
    if not sep or not arg:
        raise ValueError(f"invalid placement preference {value}: must be of the form strategy=argument")
    if strategy.lower() != "spread":
        raise ValueError(f"unsupported placement preference {strategy} (only spread is supported)")
    return {"Spread": {"SpreadDescriptor": arg}}


def _lists(p: argparse.ArgumentParser, update: bool) -> None:
    for name, short, help_ in LIST_FLAGS:
        parse = _PARSED.get(name)
        kw = {"action": "append", "default": None, "help": help_}
        if parse:
            kw["type"] = _typed(parse, f"--{name}")
        if not update:
            p.add_argument(*([short] if short else []), f"--{name}", **kw)
            continue
        p.add_argument(f"--{name}-add", **kw)
        rm_kw = {"action": "append", "default": None, "help": f"Remove {help_[0].lower() + help_[1:]}"}
        if name == "publish":
            rm_kw["type"] = kw["type"]  # removed by target port, as Docker does
        p.add_argument(f"--{name}-rm", **rm_kw)


def add_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="Service name")
    p.add_argument("--mode", default="replicated",
                   choices=["replicated", "global", "replicated-job", "global-job"],
                   help="Service mode (\"replicated\", \"global\", \"replicated-job\", \"global-job\") (default \"replicated\")")
    add_common(p, update=False)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", metavar="COMMAND", nargs=argparse.REMAINDER, help="[COMMAND] [ARG...]")


def add_update(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", help="Service image tag")
    p.add_argument("--args", help="Service command args")
    p.add_argument("--force", action="store_true", default=False,
                   help="Force update even if no changes require it")
    p.add_argument("--rollback", action="store_true", default=False,
                   help="Rollback to previous specification")
    add_common(p, update=True)
    p.add_argument("service", metavar="SERVICE")
