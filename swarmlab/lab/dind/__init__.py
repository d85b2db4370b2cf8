"""The Docker backend: nodes are Docker-in-Docker containers started with testcontainers.

``start_nodes(lab, names)`` brings up node containers in parallel on a lab network;
``distribute(nodes)`` loads the lab's workload images into their dockerd;
``prune(lab)`` removes everything labelled ``swarmlab.lab=<lab>``.
"""
from .nodes import DindNode, start_node, start_nodes
from .resources import LAB_LABEL, leftovers, prune, register_atexit
from .security import SecurityMode, probe
from .transfer import bundle, distribute

__all__ = ["DindNode", "LAB_LABEL", "SecurityMode", "bundle", "distribute", "leftovers",
           "probe", "prune", "register_atexit", "start_node", "start_nodes"]
