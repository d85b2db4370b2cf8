"""Labs: a named set of nodes, started, faulted and stopped from Python or the CLI.

    from swarmlab import Lab
    with Lab.up(managers=3, workers=2) as lab:
        c = lab.client()                       # a docker-py DockerClient on a manager
        c.services.create("swarmlab/web:1", name="www", ...)
        lab.kill(lab.leader())                 # and watch another manager take over

The local backend runs nodes as processes on 127.0.x.y (`local.py`); the docker
backend (`dind/`) runs them as Docker-in-Docker containers; both stand behind one
`Backend` protocol (`backend.py`), and both form the swarm with `swarm.form_swarm`.
Either way each node serves the Engine API, so docker-py is the client (`clients.py`).
"""
from ._lab import Lab
from .backend import Backend, LabOptions
from .clients import docker_client as _docker_client
from .registry import API_PORT, SWARM_PORT, LabNotFound, LabRecord, NodeNotFound, NodeRecord
from .swarm import Shape, form_swarm

__all__ = ["API_PORT", "Backend", "Lab", "LabNotFound", "LabOptions", "LabRecord",
           "NodeNotFound", "NodeRecord", "SWARM_PORT", "Shape", "form_swarm"]
