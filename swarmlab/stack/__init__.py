"""Stacks: compose files deployed onto a swarm, as `docker stack` does it.

    from swarmlab import stack
    project = stack.load("vote.yml")              # ComposeError if malformed
    stack.deploy(client, "vote.yml", "vote")      # "Creating service vote_vote", ...
    stack.ls(client)                              # [StackRow(name="vote", services=5)]
    stack.services(client, "vote"); stack.ps(client, "vote")
    stack.rm(client, "vote")                      # "Removing service vote_vote", ...

`client` is a docker-py `DockerClient` (or `APIClient`) on a manager. See docs/stacks.md.
"""
from __future__ import annotations

from ._convert import IMAGE_LABEL, NAMESPACE, StackPlan, plan
from ._deploy import DeployResult, deploy
from ._errors import ComposeError, StackError
from ._inspect import RemoveResult, ServiceRow, StackRow, TaskRow, ls, ps, rm, services
from ._load import load
from ._project import ComposeProject
from .samples import sample_path

__all__ = [
    "ComposeError", "ComposeProject", "DeployResult", "IMAGE_LABEL", "NAMESPACE", "RemoveResult",
    "ServiceRow", "StackError", "StackPlan", "StackRow", "TaskRow", "deploy", "load", "ls", "plan",
    "ps", "rm", "sample_path", "services",
]
