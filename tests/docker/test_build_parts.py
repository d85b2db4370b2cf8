"""The pure parts of image building and node security (no Docker needed)."""
from __future__ import annotations

import io
import tarfile

from swarmlab.lab.dind.security import capability_mode, missing_capabilities
from swarmlab.images.build import inputs_digest, package_files, tarball, workload_config
from swarmlab.images.rootfs import RootfsSpec
from swarmlab.workloads import lookup


def test_missing_capabilities_come_from_the_bounding_set():
    assert missing_capabilities("CapBnd:\t000001fffeffffff\n") == ["SYS_RESOURCE"]
    assert missing_capabilities("CapBnd:\t000001ffffffffff\n") == []
    mode = capability_mode(["SYS_RESOURCE"])
    assert mode.kwargs["cap_add"] == ["ALL"] and mode.kwargs["cap_drop"] == ["SYS_RESOURCE"]
    assert "seccomp=unconfined" in mode.kwargs["security_opt"]
    assert mode.kwargs["cgroupns"] == "private"


def test_inputs_digest_changes_with_base_files_and_config():
    files = [("/opt/a.py", b"x = 1\n", 0o644)]
    base = inputs_digest("sha256:1", files, {"command": ["a"]})
    assert base == inputs_digest("sha256:1", list(files), {"command": ["a"]})
    assert base != inputs_digest("sha256:2", files, {"command": ["a"]})
    assert base != inputs_digest("sha256:1", [("/opt/a.py", b"x = 2\n", 0o644)], {"command": ["a"]})
    assert base != inputs_digest("sha256:1", [("/opt/a.py", b"x = 1\n", 0o755)], {"command": ["a"]})
    assert base != inputs_digest("sha256:1", files, {"command": ["b"]})


def test_rootfs_recipe_hash_follows_the_package_list_not_its_order():
    a = RootfsSpec("r", ("python3", "iptables"))
    assert a.digest("bookworm") == RootfsSpec("r", ("iptables", "python3")).digest("bookworm")
    assert a.digest("bookworm") != a.digest("trixie")
    assert a.digest("bookworm") != RootfsSpec("r", ("python3",)).digest("bookworm")


def test_workload_files_are_only_the_workloads_package_and_a_marker():
    paths = [path for path, _, _ in package_files(only_workloads=True)]
    assert "/opt/swarmlab/swarmlab/__init__.py" in paths
    assert "/opt/swarmlab/swarmlab/workloads/web.py" in paths
    assert all(p.startswith("/opt/swarmlab/swarmlab/workloads/") or p.endswith("swarmlab/__init__.py")
               for p in paths)
    assert not any("__pycache__" in p for p in paths)
    with tarfile.open(fileobj=io.BytesIO(tarball(package_files(True)))) as tar:
        assert "opt/swarmlab/swarmlab/workloads/catalog.py" in tar.getnames()


def test_workload_config_is_dockers_container_config():
    config = workload_config(lookup("swarmlab/web:broken"))
    assert config["environment"]["SWARMLAB_VERSION"] == "broken"
    assert config["command"] == ["python3", "-m", "swarmlab.workloads.web"]
    assert config["ports"] == {"80/tcp": None}
    assert config["healthcheck"]["test"][0] == "CMD"
    assert config["healthcheck"]["interval"] == 2_000_000_000
    assert "healthcheck" not in workload_config(lookup("swarmlab/worker:1"))
