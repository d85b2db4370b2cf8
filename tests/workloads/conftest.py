"""Start lab workloads as real processes on 127.0.0.1 with free ports."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # it answers; whether it is healthy is the test's business
        except OSError:
            if time.monotonic() > deadline:
                raise


class Workload:
    def __init__(self, name: str, env: dict[str, str], http: bool = True):
        self.port = int(env.get("PORT") or free_port())
        full_env = {**os.environ, "SWARMLAB_BIND": "127.0.0.1", "PORT": str(self.port),
                    "PYTHONPATH": str(ROOT), **env}
        self.proc = subprocess.Popen([sys.executable, "-m", f"swarmlab.workloads.{name}"],
                                     env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.url = f"http://127.0.0.1:{self.port}"
        if http:
            wait_http(self.url + "/health")

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return self.proc.returncode, out


@pytest.fixture(name="free_port")
def free_port_fixture():
    return free_port


@pytest.fixture
def start():
    started: list[Workload] = []

    def _start(name: str, http: bool = True, **env: str) -> Workload:
        workload = Workload(name, env, http)
        started.append(workload)
        return workload

    yield _start
    for workload in started:
        workload.stop()
