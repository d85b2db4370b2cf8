"""README's "A swarm in three lines", run as written: the block a new user pastes first."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swarmlab.lab import Lab

ROOT = Path(__file__).resolve().parents[2]


def readme_block(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.mark.timeout(300)
def test_the_three_lines_run_as_written(lab_home, no_leftovers):
    block = readme_block("A swarm in three lines")
    assert "examples/vote.yml" in block and "lab down" in block
    swarmlab = shutil.which("swarmlab") or ""
    bindir = os.path.dirname(swarmlab) if swarmlab else os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    env.pop("SWARMLAB_LAB", None)
    # as pasted into bash, stopping at the first failure; the lab down comes last
    script = "set -e\n" + block.replace("swarmlab lab down", "swarmlab stack ps vote\nswarmlab lab down")
    try:
        r = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=280)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert re.search(r"node1\s+Ready\s+Active\s+Leader", r.stdout), r.stdout
        assert "Creating service vote_vote" in r.stdout and "vote_kv.1" in r.stdout
    finally:
        try:
            Lab.attach("demo").down()
        except LookupError:
            pass
    no_leftovers(lab_home)
