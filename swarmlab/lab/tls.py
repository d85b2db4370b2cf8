"""A lab whose nodes serve the Engine API as `dockerd --tlsverify -H tcp://0.0.0.0:2376`.

`swarmlab lab up --tlsverify` / `Lab.up(..., tlsverify=True)` makes a client CA for the
lab (its own, not the swarm's: Engine API access is root on the machine, swarm
membership is another matter) and writes, under the lab's directory:

    tls/<node>/ca.pem, cert.pem, key.pem   the node's `--tlscacert/--tlscert/--tlskey`
                                           (IP SAN = the node's address)
    tls/client/ca.pem, cert.pem, key.pem   a client's, in DOCKER_CERT_PATH layout

`lab.client()`, the swarmlab CLI and the lab's own calls present the client certificate;
from outside, `DOCKER_CERT_PATH=<lab>/tls/client docker --tlsverify -H tcp://ADDR:2376`
or docker-py's `TLSConfig(client_cert=(cert, key), ca_cert=ca, verify=True)`. The CA's
key is not kept: every certificate the lab needs is made at `lab up`.
"""
from __future__ import annotations

import pathlib
import ssl
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry import LabRecord, NodeRecord

TLS_PORT = 2376  # Docker's port for the Engine API over TLS
CLIENT = "client"


def tls_dir(record: "LabRecord") -> pathlib.Path:
    return record.dir / "tls"


def cert_path(record: "LabRecord") -> pathlib.Path:
    """The client's DOCKER_CERT_PATH."""
    return tls_dir(record) / CLIENT


def create(record: "LabRecord") -> None:
    """The lab's client CA, a server certificate per node and the client's."""
    from ..ca import RootCA, write_docker_client_certs
    ca = RootCA.create(f"lab-{record.name}")
    for node in record.nodes:
        write_docker_client_certs(tls_dir(record) / node.name, ca, node.name,
                                  addresses=(node.addr,))
    write_docker_client_certs(cert_path(record), ca, CLIENT)


def node_argv(record: "LabRecord", node: "NodeRecord") -> list[str]:
    d = tls_dir(record) / node.name
    return ["--tlsverify", "--tlscacert", str(d / "ca.pem"), "--tlscert", str(d / "cert.pem"),
            "--tlskey", str(d / "key.pem")]


def ssl_context(record: "LabRecord") -> ssl.SSLContext | None:
    """For urllib: verify the node, present the client certificate (None without TLS)."""
    if not record.tlsverify:
        return None
    d = cert_path(record)
    ctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
    ctx.load_cert_chain(str(d / "cert.pem"), str(d / "key.pem"))
    return ctx


def docker_tls(record: "LabRecord") -> Any:
    """docker-py's TLSConfig for the lab's nodes (None without TLS)."""
    if not record.tlsverify:
        return None
    return docker_tls_from(cert_path(record))


def docker_tls_from(directory: str | pathlib.Path) -> Any:
    import docker
    d = pathlib.Path(directory)
    return docker.tls.TLSConfig(client_cert=(str(d / "cert.pem"), str(d / "key.pem")),
                                ca_cert=str(d / "ca.pem"), verify=True)


def urlopen(record: "LabRecord", node: "NodeRecord", path: str, timeout: float) -> Any:
    return urllib.request.urlopen(node.api_url + path, timeout=timeout,
                                  context=ssl_context(record))


__all__ = ["TLS_PORT", "cert_path", "create", "docker_tls", "docker_tls_from", "node_argv",
           "ssl_context", "tls_dir", "urlopen"]
