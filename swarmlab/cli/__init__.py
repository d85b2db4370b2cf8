"""The `swarmlab` command line: Docker's swarm commands against a lab's nodes.

`main(argv)` is the console entry point (`swarmlab = swarmlab.cli:main`); it returns
the exit code. Everything goes through each node's Docker-shaped Engine API with
docker-py; see docs/cli.md.
"""
from ._app import build_parser, main

__all__ = ["build_parser", "main"]
