"""The `swarmlab` command line: global options, the command tree, and error handling.

`swarmlab [--lab NAME] [--node NODE] [--host URL] COMMAND ...`, then Docker's command
shapes (`swarm`, `node`, `service`, `secret`, `config`, `stack`) and swarmlab's own
(`lab`, `images`, `raft`). Each command module registers its parsers with `_base`'s
helpers (and never imports this module back); handlers get a Ctx (which node to talk
to, where to print) and the parsed arguments.
"""
from __future__ import annotations

import argparse
import os
import sys

import docker.errors
import requests

from ._base import Ctx
from ._errors import CliError, Unreachable, format_api_error
from ._target import Target


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
