"""The Docker Engine API a node serves: routes, handlers, errors, logs, metrics and TLS.

Handlers see the control plane only through the gateway (`gateway.py`); they never import
the node that serves them.
"""
