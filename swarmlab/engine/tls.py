"""The Engine API over TLS with client certificates, as `dockerd --tlsverify --tlscacert
CA --tlscert CERT --tlskey KEY -H tcp://0.0.0.0:2376` serves it.

Theory of operation: with `--tlsverify` the node serves its Engine API only over TLS
(Docker's port 2376) and the handshake requires a client certificate signed by
`--tlscacert`; a client without one, or with one of another CA, never reaches a route.
The CA is the operator's (a lab makes its own, `swarmlab/lab/tls.py`), not the swarm's:
Engine API access is root access to the machine and has nothing to do with swarm
membership. A manager that forwards a write to the leader's Engine API presents its own
certificate (`--tlscert` is issued for both ends).
"""
from __future__ import annotations

import pathlib
import ssl
from dataclasses import dataclass

from ..ca import api_server_context


@dataclass(frozen=True)
class EngineTLS:
    cacert: str
    cert: str
    key: str

    def server_context(self) -> ssl.SSLContext:
        return api_server_context(pathlib.Path(self.cert), pathlib.Path(self.key),
                                  pathlib.Path(self.cacert))

    def client_context(self) -> ssl.SSLContext:
        """For forwarding to another node's Engine API (it checks our certificate)."""
        ctx = ssl.create_default_context(cafile=self.cacert)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def from_args(tlsverify: bool, cacert: str | None, cert: str | None,
              key: str | None) -> EngineTLS | None:
    if not tlsverify:
        return None
    if not (cacert and cert and key):
        raise SystemExit("--tlsverify needs --tlscacert, --tlscert and --tlskey")
    return EngineTLS(cacert, cert, key)


__all__ = ["EngineTLS", "from_args"]
