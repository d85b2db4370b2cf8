"""The live labs, exercises and solutions are made for nbval, and the exercises' check cells
fail with their hints until the work is done (and only they fail)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nb_outputs import violations

ROOT = Path(__file__).resolve().parents[2]
LIVE_LABS = sorted(p for p in (ROOT / "labs").glob("*.ipynb") if "02" <= p.name[:2] <= "11")
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
RICH = ("ClusterView(", "_figure(", "RaftPanel", "view\n")


def code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


#: exercises where the course asks to reason rather than type: no lab of their own
REASONING = ["13-raft-partition.ipynb", "14-diagnosis.ipynb"]


def test_there_is_one_live_lab_per_course_part_and_an_exercise_per_lab():
    assert [p.name[:2] for p in LIVE_LABS] == [f"{k:02}" for k in range(2, 12)]
    assert [p.name for p in EXERCISES] == [p.name for p in SOLUTIONS]
    per_lab = [p for p in EXERCISES if p.name not in REASONING]
    assert [p.name[:2] for p in per_lab] == [p.name[:2] for p in LIVE_LABS]
    assert [p.name for p in EXERCISES if p.name in REASONING] == REASONING


@pytest.mark.parametrize("path", LIVE_LABS + EXERCISES + SOLUTIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stored_clean_tagged_and_the_lab_goes_down_last(path):
    cells = code_cells(path)
    for c in cells:
        assert not c.outputs or "nbval-check-output" in c.metadata.get("tags", []), c.source
        last = c.source.strip().splitlines()[-1]
        if any(r in last + "\n" for r in RICH) and not last.startswith(("#", "assert", "check.")):
            assert "nbval-ignore-output" in c.metadata.get("tags", []), c.source
    assert "lab.down()" in cells[-1].source
    assert any("fresh_lab(" in c.source for c in cells)


def test_exercises_and_solutions_differ_only_in_the_solution_cells():
    for ex, sol in zip(EXERCISES, SOLUTIONS):
        a, b = code_cells(ex), code_cells(sol)
        assert len(a) == len(b)
        diff = [i for i, (x, y) in enumerate(zip(a, b)) if x.source != y.source]
        tagged = [i for i, x in enumerate(a) if "solution" in x.metadata.get("tags", [])]
        assert diff == tagged and tagged, ex.name
        assert any("exercise-check" in x.metadata.get("tags", []) for x in a)


def run_notebook(path: Path, home: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    os.environ["SWARMLAB_HOME"] = str(home)  # the kernel inherits it
    NotebookClient(nb, timeout=240, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_exercise_check_cells_fail_with_their_hints(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "home"))
    nb = run_notebook(path, tmp_path / "home")
    failed = {i: o for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"}
    checks = {i for i, c in enumerate(nb.cells)
              if "exercise-check" in c.metadata.get("tags", [])}
    assert set(failed) == checks, {i: (nb.cells[i].source, o.evalue) for i, o in failed.items()}
    for i, err in failed.items():
        assert err.ename == "CheckFailed", (nb.cells[i].source, err.ename, err.evalue)
        assert len(err.evalue) > 30, err.evalue  # a hint, not a bare assert
        # what the student sees: the hint alone, no traceback, no `Result(...)`
        assert err.traceback[0] == f"\u2717 not yet: {err.evalue}", err.traceback
        assert err.traceback[1:] in ([], ["  (check.show_command() shows the command)"])
        assert "`docker " not in err.evalue  # the command only on request
        assert "swarmlab --lab LAB" not in err.evalue  # the command shown works when pasted
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
             if o.output_type == "execute_result"]
    assert not [o for o in shown if "Result(" in o.get("data", {}).get("text/plain", "")]
    assert not (tmp_path / "home" / "labs").exists() or not any((tmp_path / "home" / "labs").iterdir())


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_live_labs_and_solutions_pass_nbval_lax(tmp_path):
    """They run, and no cell shows a student more than a screen, a traceback or a repr
    (tests/labs/nb_outputs.py)."""
    report = tmp_path / "outputs.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(Path(__file__).parent)]),
               SWARMLAB_HOME=str(tmp_path / "home"), SWARMLAB_NB_OUTPUT_REPORT=str(report))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "nb_outputs",
           "--nbval-lax", "--nbval-cell-timeout", "240", "--nbval-sanitize-with",
           str(ROOT / "labs" / "nbval_sanitize.cfg"), *map(str, SOLUTIONS + LIVE_LABS)]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1780)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert violations(report) == []
