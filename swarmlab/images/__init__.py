"""Images built locally with no registry: Debian root filesystems, nodes, workloads.

``build_all()`` (or ``python -m swarmlab.images build``) builds everything, cached by
content. See docs/images.md.
"""
from .build import (NODE_IMAGE, NODE_RUNTIME_IMAGE, WORKLOAD_BASE_IMAGE, BuildReport,
                    build_all, workload_images)
from .mirror import Mirror, host_mirror
from .node import CODE_ROOT, DOCKERD_TCP_PORT
from .rootfs import BuildError

__all__ = ["NODE_IMAGE", "NODE_RUNTIME_IMAGE", "WORKLOAD_BASE_IMAGE", "BuildReport",
           "BuildError", "CODE_ROOT", "DOCKERD_TCP_PORT", "Mirror", "build_all",
           "host_mirror", "workload_images"]
