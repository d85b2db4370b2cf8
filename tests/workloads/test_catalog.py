"""The image catalog both backends read."""
from __future__ import annotations

import pytest

from swarmlab.workloads import CATALOG, NoSuchImage, lookup


def test_catalog_has_the_lab_images():
    assert {"swarmlab/web:1", "swarmlab/web:2", "swarmlab/web:broken", "swarmlab/kv:1",
            "swarmlab/worker:1", "swarmlab/vote:1", "swarmlab/result:1"} <= set(CATALOG)


def test_lookup_normalizes_like_docker():
    assert lookup("swarmlab/web:2").env["SWARMLAB_VERSION"] == "2"
    assert lookup("docker.io/swarmlab/web:1@sha256:abc").reference == "swarmlab/web:1"
    web = lookup("swarmlab/web:1")
    assert web.module == "swarmlab.workloads.web"
    assert web.command == ("python3", "-m", "swarmlab.workloads.web")
    assert web.port == 80 and web.healthcheck is not None
    assert lookup("swarmlab/worker:1").port is None


@pytest.mark.parametrize("ref,message", [
    ("nginx", "No such image: nginx:latest"),
    ("swarmlab/web", "No such image: swarmlab/web:latest"),
    ("swarmlab/web:3", "No such image: swarmlab/web:3"),
])
def test_unknown_images_get_dockers_message(ref, message):
    with pytest.raises(NoSuchImage) as err:
        lookup(ref)
    assert str(err.value) == message


def test_workloads_import_only_the_standard_library():
    import subprocess
    import sys
    code = ("import sys, swarmlab.workloads.web, swarmlab.workloads.kv, swarmlab.workloads.worker,"
            " swarmlab.workloads.vote, swarmlab.workloads.result, swarmlab.workloads.healthcheck;"
            "bad=[m for m in ('aiohttp','docker','yaml','msgpack','cryptography') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0
