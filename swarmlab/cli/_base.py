"""What every command module shares: the handler's context and the parser helpers.

A leaf below the command modules: `_app` imports them to register their parsers, and
they import this, never `_app`, so the command tree has no import circle.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import TextIO

from ._target import Target


@dataclass
class Ctx:
    """What a handler is given: the node to talk to, and where to read and print."""

    target: Target
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)

    @property
    def terminal(self) -> bool:
        """Whether output may redraw in place (ANSI cursor moves), as Docker's CLI decides
        with `isatty`. A notebook's `!command` runs on a pseudo-terminal whose output the
        notebook shows as plain text, where each redraw would be new lines: a command
        started from a Jupyter kernel (which sets `JPY_PARENT_PID`) prints as to a pipe."""
        isatty = getattr(self.out, "isatty", None)
        return bool(isatty and isatty()) and "JPY_PARENT_PID" not in os.environ

    def print(self, text: str = "", end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    def call(self, fn, *args, **kwargs):
        return self.target.call(fn, *args, **kwargs)

    def operator_call(self, fn, *args, **kwargs):
        """On the node's operator socket: backups and the unlock key."""
        return self.target.operator_call(fn, *args, **kwargs)


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
