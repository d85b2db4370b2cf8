"""How the CLI reports failures, in Docker's words, and with which exit code.

Daemon errors print as `Error response from daemon: <message>`, also for a missing
node, secret or service named on the command line (as docker 28 prints them); only
`service inspect` and `service ps` have their own `no such service: x`. Usage
errors exit 2 as argparse does; everything else exits 1.
"""
from __future__ import annotations

import time
from typing import Callable

import docker.errors


class CliError(Exception):
    """A message for stderr and an exit code; raised anywhere, printed once by main()."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Unreachable(CliError):
    def __init__(self, node: str, url: str) -> None:
        super().__init__(
            f"Cannot connect to the swarmlab node {node} at {url}. "
            "Is the node running? (see: swarmlab lab ls)")
        self.node = node
        self.url = url


def daemon_message(err: docker.errors.APIError) -> str:
    """The daemon's own `{"message": ...}`, as docker-py parsed it."""
    explanation = err.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    if not explanation and err.response is not None:
        explanation = err.response.reason
    return str(explanation or err).strip()


def format_api_error(err: docker.errors.APIError) -> str:
    return f"Error response from daemon: {daemon_message(err)}"




def collect(refs: list[str], fn, not_found: Callable[[str], str] | None = None
            ) -> tuple[list, list[str]]:
    """fn(ref) for every ref, as Docker's multi-object commands do: keep going past
    failures and gather the messages to print at the end."""
    found, errors = [], []
    for ref in refs:
        try:
            found.append(fn(ref))
        except docker.errors.NotFound as err:
            errors.append(not_found(ref) if not_found else format_api_error(err))
        except docker.errors.APIError as err:
            errors.append(format_api_error(err))
        except CliError as err:
            errors.append(err.message)
    return found, errors


def raise_collected(errors: list[str]) -> None:
    if errors:
        raise CliError("\n".join(errors))


def retry_out_of_sequence(fn, attempts: int = 4, backoff_s: float = 0.25):
    """Run a read-modify-write (inspect, change the spec, post it with the version read)
    again when the object changed in between ("update out of sequence"), as a user
    would by re-running the command, a moment later. Other errors go through at once."""
    for attempt in range(attempts):
        try:
            return fn()
        except docker.errors.APIError as err:
            if "out of sequence" not in daemon_message(err) or attempt == attempts - 1:
                raise
            time.sleep(backoff_s * 2 ** attempt)
    return None
