"""Checks for the exercises: inspect the live cluster, fail with a hint until the task is done.

    from swarmlab import check
    check.use(lab)
    check.replicas("www", 8)        # CheckFailed("www runs 3 replicas, ...hint...")

Theory of operation: each check reads the cluster through the managers' Engine API
(docker-py) and decides one of three things: done (it prints what it saw), not done
(it raises `CheckFailed`, an `AssertionError`, with what is wrong and a hint; the command
to type, Docker's and swarmlab's, comes on request with `check.show_command()`), or on its way (the right change was made and the cluster is still
converging: it polls for up to `wait` seconds before giving up). So a check right
after a correct solution passes, and a check on an untouched exercise fails at once.
"""
from __future__ import annotations

from ._checks import (
    config_exists, drained, global_service, manager_count,
    node_availability, node_count, node_label, node_role, port_answers, published, replicas,
    runs_only_on, secret_exists, service_absent, service_constraint, service_exists,
    service_has_config, service_has_secret, service_image, stack_deployed, stack_removed,
    update_config, worker_count,
)
from ._core import CheckFailed, Result, current_lab, show_command, that, use
from ._leaders import has_leader, leader_among, leader_is_not
from ._metrics import mesh_connections

__all__ = [
    "CheckFailed", "Result", "config_exists", "current_lab", "drained", "global_service", "has_leader",
    "leader_among", "leader_is_not", "manager_count", "mesh_connections", "node_availability", "node_count", "node_label",
    "node_role", "port_answers", "published", "replicas", "runs_only_on", "secret_exists",
    "service_absent", "service_constraint", "service_exists", "service_has_config",
    "service_has_secret", "service_image", "stack_deployed", "stack_removed",
    "show_command", "that", "update_config", "use", "worker_count",
]
