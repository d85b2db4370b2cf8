"""The web workload, run as a real process, answers as the lab images must."""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_web_answers_with_task_node_version_and_hostname(start):
    web = start("web", SWARMLAB_VERSION="2", SWARMLAB_TASK_NAME="www.1.abc",
                SWARMLAB_NODE="node3")
    status, text = get(web.url + "/")
    assert status == 200
    assert text == f"web v2 task=www.1.abc node=node3 host={socket.gethostname()}\n"
    status, body = get(web.url + "/json")
    assert json.loads(body) == {"task": "www.1.abc", "node": "node3", "version": "2",
                                "hostname": socket.gethostname()}
    assert get(web.url + "/health") == (200, "ok\n")
    assert get(web.url + "/nope")[0] == 404


def test_node_falls_back_to_hostname(start):
    web = start("web", SWARMLAB_VERSION="1")
    assert json.loads(get(web.url + "/json")[1])["node"] == socket.gethostname()


def test_broken_serves_then_fails_its_health_check(start):
    web = start("web", SWARMLAB_VERSION="broken", SWARMLAB_BROKEN_AFTER="0.5")
    assert get(web.url + "/")[0] == 200
    time.sleep(0.7)
    assert get(web.url + "/health") == (503, "unhealthy\n")
    assert get(web.url + "/")[1].startswith("web vbroken ")


def test_secrets_are_read_from_the_secrets_dir(start, tmp_path):
    (tmp_path / "db_password").write_text("s3cret")
    web = start("web", SWARMLAB_SECRETS_DIR=str(tmp_path))
    assert get(web.url + "/secret/db_password") == (200, "s3cret")
    assert json.loads(get(web.url + "/secrets")[1]) == ["db_password"]
    assert get(web.url + "/secret/missing")[0] == 404
    assert get(web.url + "/secret/..%2fetc")[0] == 404


def test_sigterm_stops_cleanly_and_logs(start):
    web = start("web", SWARMLAB_TASK_NAME="www.2.xyz")
    get(web.url + "/")
    code, out = web.stop()
    assert code == 0
    assert "starting as task www.2.xyz" in out
    assert "shutting down" in out


@pytest.mark.parametrize("version,expected", [("1", 0), ("broken", 1)])
def test_healthcheck_command_exit_status(start, version, expected):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    web = start("web", SWARMLAB_VERSION=version, SWARMLAB_BROKEN_AFTER="0")
    env = {**os.environ, "SWARMLAB_BIND": "127.0.0.1", "PORT": str(web.port),
           "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-m", "swarmlab.workloads.healthcheck"], env=env,
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == expected
