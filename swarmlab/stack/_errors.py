"""The one error a compose file can earn: where it is, and Docker's words for what."""
from __future__ import annotations


class ComposeError(ValueError):
    """A compose file refused before anything was sent to the swarm.

    ``str()`` is ``FILE:LINE: MESSAGE``; the message names the key (``services.vote.ports``)
    the way Docker's own does, or carries ``key`` in front when Docker's words do not.
    """

    def __init__(self, file: str, line: int, key: str, message: str):
        self.file, self.line, self.key, self.message = file, line, key, message
        if key and key not in message:
            message = f"{key}: {message}"
        super().__init__(f"{file}:{line}: {message}")


class StackError(RuntimeError):
    """The swarm refused part of a deploy or removal (the text is Docker's)."""
