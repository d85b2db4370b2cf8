"""Checks on a node's Prometheus endpoint (`http://NODE:9323/metrics`, as dockerd's
`--metrics-addr`): read over HTTP, as a Prometheus server would scrape it."""
from __future__ import annotations

from typing import Any

from ._core import Result, both, current_lab, run

CONNECTIONS = "swarmlab_mesh_connections_total"


def mesh_connections(node: str, port: int, at_least: int, lab: Any = None,
                     wait: float = 10.0) -> Result:
    """`node`'s routing mesh forwarded at least `at_least` connections on published `port`
    (its `swarmlab_mesh_connections_total{listener="ingress:PORT"}`)."""
    from ..mesh.metrics import scrape, total
    the_lab = current_lab(lab)

    def probe(api) -> Result:
        addr = the_lab.record.node(node).addr
        try:
            seen = total(scrape(addr), CONNECTIONS, listener=f"ingress:{port}")
        except OSError as e:
            return Result(False, f"{node}'s metrics endpoint http://{addr}:9323/metrics did not "
                          f"answer ({e.__class__.__name__}): is {node} up?", pending=True)
        if seen >= at_least:
            return Result(True, f"{node}'s mesh forwarded {seen:.0f} connections on port {port}")
        published = any(p.get("PublishedPort") == port for s in api.services()
                        for p in (s["Spec"].get("EndpointSpec") or {}).get("Ports") or [])
        hint = (f"send requests to http://{node}:{port}/ (get(\"{node}\", {port}) in a loop)"
                if published else
                f"the mesh counts connections to a published port: publish one, then send "
                f"requests to http://{node}:{port}/")
        return Result(False, f"{node}'s {CONNECTIONS}{{listener=\"ingress:{port}\"}} is "
                      f"{seen:.0f}, not yet {at_least}: {hint}", pending=False,
                      command="" if published else
                      both(f'docker service update --publish-add {port}:80 SERVICE'))
    return run(probe, the_lab, wait)
