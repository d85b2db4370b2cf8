"""``python -m swarmlab.lab.dind ls|prune [LAB]``: what Docker labs left behind.

``prune`` without a lab removes every container, network and volume labelled
``swarmlab.lab`` (what crashed kernels left); with one, only that lab's.
"""
from __future__ import annotations

import argparse
import sys

from .resources import leftovers, prune


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swarmlab.lab.dind")
    parser.add_argument("command", choices=["ls", "prune"])
    parser.add_argument("lab", nargs="?", help="one lab (default: all swarmlab labs)")
    args = parser.parse_args(argv)
    if args.command == "ls":
        for kind, names in leftovers(args.lab).items():
            for name in names:
                print(f"{kind[:-1]:<10} {name}")
        return 0
    removed = prune(args.lab)
    print(", ".join(f"{count} {kind}" for kind, count in removed.items()) + " removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
