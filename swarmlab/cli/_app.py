"""The `swarmlab` command line: global options, the command tree, and error handling.

`swarmlab [--lab NAME] [--node NODE] [--host URL] COMMAND ...`, then Docker's command
shapes (`swarm`, `node`, `service`, `secret`, `config`, `stack`) and swarmlab's own
(`lab`, `images`, `raft`). Each command module registers its parsers; handlers get a
Ctx (which node to talk to, where to print) and the parsed arguments.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import TextIO

import docker.errors
import requests

from ._errors import CliError, Unreachable, format_api_error
from ._target import Target


@dataclass
class Ctx:
    target: Target
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)

    def print(self, text: str = "", end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    def call(self, fn, *args, **kwargs):
        return self.target.call(fn, *args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from . import _lab, _node, _raft, _secret, _service, _stack, _swarm

    parser = argparse.ArgumentParser(
        prog="swarmlab",
        description="A teaching lab for Docker Swarm: Docker's swarm commands against a lab's nodes.")
    # dests are prefixed: subcommands have positionals named `node` (node update NODE)
    parser.add_argument("--lab", dest="target_lab",
                        help="Lab to use (default: $SWARMLAB_LAB, else \"course\")")
    parser.add_argument("--node", dest="target_node",
                        help="Node whose API to address, like running docker on that "
                             "machine (default: a manager, the leader if known)")
    parser.add_argument("-H", "--host", dest="target_host",
                        help="Engine API to address directly (tcp://127.0.1.1:2375; default $SWARMLAB_HOST)")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (_swarm, _node, _service, _secret, _stack, _raft, _lab):
        module.register(sub)
    return parser


def _version() -> str:
    from swarmlab import __version__

    return f"swarmlab version {__version__}"


def bool_flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every `--flag` that takes no value, in every subcommand."""
    out: set[str] = set()
    for action in parser._actions:
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            out.update(o for o in action.option_strings if o.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= bool_flags(sub)
    return out


def explicit_bools(argv: list[str], flags: set[str]) -> list[str]:
    """Docker's boolean flags also take `=true`/`=false` (`--detach=false`)."""
    out = []
    for token in argv:
        name, sep, value = token.partition("=")
        if sep and name in flags and value.lower() in ("true", "false", "1", "0"):
            if value.lower() in ("true", "1"):
                out.append(name)
            continue
        out.append(token)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(explicit_bools(list(argv), bool_flags(parser)))
    ctx = Ctx(Target.from_args(args.target_lab, args.target_node, args.target_host))
    try:
        return args.func(ctx, args) or 0
    except CliError as err:
        ctx.warn(err.message)
        return err.code
    except docker.errors.APIError as err:
        ctx.warn(format_api_error(err))
        return 1
    except requests.exceptions.ConnectionError:
        ctx.warn(str(Unreachable(ctx.target.name or "?", ctx.target.url or "?")))
        return 1
    except requests.exceptions.ReadTimeout:
        ctx.warn(f"Error: the swarmlab node {ctx.target.name} at {ctx.target.url} did not answer in time")
        return 1
    except (LookupError, FileNotFoundError, FileExistsError, TimeoutError) as err:
        # lab-level errors (no such lab or node, a lab name taken, a node that never came
        # up): a message, not a traceback
        ctx.warn(f"Error: {err.args[0] if isinstance(err, LookupError) and err.args else err}")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `swarmlab node ls | head -1`: the reader left, as docker does
        sys.stdout = open(os.devnull, "w")
        return 0


def add_parser(sub, name: str, help_: str, **kw) -> argparse.ArgumentParser:
    """A subcommand parser with Docker's one-line description."""
    return sub.add_parser(name, help=help_, description=help_, **kw)


def group(sub, name: str, help_: str):
    """A command group (`swarmlab node ...`) whose subcommand is required."""
    p = add_parser(sub, name, help_)
    return p.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)


def add_format(p: argparse.ArgumentParser, what: str = "list") -> None:
    if what == "inspect":
        p.add_argument("-f", "--format", help="Format output using a custom template:\n"
                       "'json': Print in JSON format; 'TEMPLATE': Print output using the given Go template")
    else:
        p.add_argument("--format", help="Format output using a custom template: 'table', "
                       "'table TEMPLATE', 'json', 'TEMPLATE'")
