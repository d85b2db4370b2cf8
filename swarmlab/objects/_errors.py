"""Errors with Docker's texts and the gRPC code Docker's API maps to an HTTP status."""
from __future__ import annotations


class SwarmError(Exception):
    """`code` is the gRPC code swarmkit uses; the HTTP layer maps it to a status."""

    code = "Unknown"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(SwarmError):
    code, http_status = "NotFound", 404


class InvalidArgument(SwarmError):
    code, http_status = "InvalidArgument", 400


class FailedPrecondition(SwarmError):
    code, http_status = "FailedPrecondition", 400


class AlreadyExists(SwarmError):
    code, http_status = "AlreadyExists", 409


class Unimplemented(SwarmError):
    """What swarmkit will not do (rename a service, change its mode): dockerd's 501."""

    code, http_status = "Unimplemented", 501


class SequenceError(SwarmError):
    """A write carried a `Version.Index` that is no longer the stored one."""

    code, http_status = "Unknown", 500

    def __init__(self, message: str = "update out of sequence") -> None:
        super().__init__(message)
