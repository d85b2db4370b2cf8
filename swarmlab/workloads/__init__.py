"""The lab's workloads: the behaviour of the ``swarmlab/*`` images in every backend.

Each is a small stdlib-only program, ``python3 -m swarmlab.workloads.<name>``,
configured by environment variables. ``catalog`` maps image names to them.
This package must import nothing outside the standard library: the workload
images carry only it.
"""
from .catalog import CATALOG, HealthCheck, ImageInfo, NoSuchImage, lookup

__all__ = ["CATALOG", "HealthCheck", "ImageInfo", "NoSuchImage", "lookup"]
