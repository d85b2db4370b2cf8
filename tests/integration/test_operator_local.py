"""Routes that hand out keys (the backup, the unlock key) answer the node's operator only:
on its unix socket (0600, the lab's user), never on the plain TCP port, nor to another
local user. On real node processes."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request

import pytest

from swarmlab.engine.operator import operator_socket
from swarmlab.lab import Lab

NOBODY = 65534


def tcp_get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, {}
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def as_nobody(code: str) -> subprocess.CompletedProcess:
    """Run python code in a child that drops to `nobody` first (root only; what it uses is
    imported before, as nobody cannot read this interpreter's files)."""
    pre = ("import os, socket, json, urllib.request, urllib.error, http.client, encodings.idna\n"
           f"os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})\n")
    return subprocess.run([sys.executable, "-c", pre + code], capture_output=True, text=True,
                          timeout=30, cwd="/")


@pytest.mark.slow
def test_backup_and_unlock_key_only_for_the_operator(lab_factory, tmp_path):
    lab: Lab = lab_factory("op", managers=1, workers=0)
    n1 = lab.record.node("node1")
    c = lab.client()
    c.api.update_swarm(version=c.api.inspect_swarm()["Version"]["Index"],
                       swarm_spec=dict(c.api.inspect_swarm()["Spec"],
                                       EncryptionConfig={"AutoLockManagers": True}))
    # over plain TCP: refused, in Docker's JSON, saying how to reach it
    for path in ("/swarmlab/backup", "/v1.44/swarm/unlockkey", "/swarm/unlockkey"):
        code, doc = tcp_get(n1.api_url + path)
        assert code == 403, path
        assert "unix socket" in doc["message"] and "docker.sock" in doc["message"]
    # the Engine API stays on TCP
    assert c.info()["Swarm"]["LocalNodeState"] == "active"

    sock = operator_socket(lab.record.node_dir("node1"))
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.getuid()

    # the operator: the backup and the unlock key, through Lab and the CLI
    key = lab.unlock_key("node1")
    assert key.startswith("SWMKEY-1-")
    path = tmp_path / "b.tgz"
    assert lab.backup("node1", str(path)) > 0
    with tarfile.open(path) as tar:
        assert "swarm/keys/raft-dek.json" in tar.getnames()
    env = dict(os.environ, SWARMLAB_LAB="op")
    out = subprocess.run([sys.executable, "-m", "swarmlab.cli", "swarm", "unlock-key", "-q"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == key
    cli_path = tmp_path / "cli.tgz"
    out = subprocess.run([sys.executable, "-m", "swarmlab.cli", "swarm", "backup", "--node",
                          "node1", "-o", str(cli_path)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert cli_path.stat().st_size > 0

    # another local user: not on the socket, and the TCP port refuses it as anyone
    if os.getuid() != 0:
        pytest.skip("dropping to nobody needs root")
    r = as_nobody(f"""
s = socket.socket(socket.AF_UNIX)
try:
    s.connect({str(sock)!r}); print("connected")
except PermissionError:
    print("socket: permission denied")
try:
    urllib.request.urlopen({n1.api_url + '/swarmlab/backup'!r}, timeout=10); print("backup!")
except urllib.error.HTTPError as e:
    print("tcp:", e.code, json.loads(e.read())["message"][:20])
""")
    assert r.returncode == 0, r.stderr
    assert "socket: permission denied" in r.stdout and "connected" not in r.stdout
    assert "tcp: 403" in r.stdout and "backup!" not in r.stdout
