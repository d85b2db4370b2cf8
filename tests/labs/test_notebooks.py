"""The lab notebooks are made for nbval: tagged, stored clean, and they run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nb_outputs import violations

HERE = Path(__file__).resolve().parent
ROOT = Path(__file__).resolve().parents[2]
LABS = ROOT / "labs"
NOTEBOOKS = ["00-introduction.ipynb", "01-raft.ipynb", "12-quiz.ipynb"]
#: calls whose result is a plotly figure or a widget: their output is never compared
RICH = ("election_figure(", "log_figure(", "quorum_figure(", "RaftPanel", "quiz_widget(",
        "question_widget(")


def cells(name):
    return [c for c in nbformat.read(LABS / name, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_rich_output_cells_are_ignored_by_nbval(name):
    for c in cells(name):
        last = c.source.strip().splitlines()[-1]
        tags = c.metadata.get("tags", [])
        if any(r in last for r in RICH) and not last.startswith(("#", "assert")):
            assert "nbval-ignore-output" in tags, c.source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_only_compared_cells_keep_outputs(name):
    for c in cells(name):
        tags = c.metadata.get("tags", [])
        if c.outputs:
            assert "nbval-check-output" in tags, c.source
            assert all(o.output_type == "stream" for o in c.outputs)
        assert not ("nbval-check-output" in tags and "nbval-ignore-output" in tags)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_lab_ends_with_a_check(name):
    code = cells(name)
    assert "assert" in code[-1].source or ".done()" in code[-1].source


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_labs_pass_nbval_lax(tmp_path):
    """They run, and no cell shows a student more than a screen, a traceback or a repr."""
    report = tmp_path / "outputs.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]),
               SWARMLAB_NB_OUTPUT_REPORT=str(report))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "nb_outputs",
           "--nbval-lax", "--nbval-sanitize-with", str(LABS / "nbval_sanitize.cfg"),
           *[str(LABS / n) for n in NOTEBOOKS]]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=580)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert violations(report) == []


def test_the_output_check_sees_what_a_student_would_not_want():
    from nb_outputs import check_cell
    stream = lambda text: {"output_type": "stream", "name": "stdout", "text": text}  # noqa: E731
    result = lambda text: {"output_type": "execute_result", "data": {"text/plain": text}}  # noqa: E731
    assert check_cell("print('ok')", [], [stream("ok\n")]) == []
    assert check_cell("x", [], [stream("line\n" * 51)]) == ["51 lines of output (a screen is 50)"]
    assert check_cell("x", ["output-long"], [stream("line\n" * 51)]) == []
    for shown in ("True", "Result(ok=False, message='x')", "[ClusterSnapshot(nodes=[])]",
                  "<swarmlab.lab.Lab object at 0x7f00deadbeef>"):
        assert check_cell("x", [], [result(shown)])[0].startswith("a bare Python repr"), shown
    assert check_cell("x", ["output-repr"], [result("True")]) == []
    assert check_cell("x", [], [result("3 nodes")]) == []
    widget = {"output_type": "execute_result", "data": {
        "text/plain": "ClusterView(...)", "application/vnd.jupyter.widget-view+json": {}}}
    assert check_cell("ClusterView(lab)", [], [widget]) == []
    error = {"output_type": "error", "ename": "E", "evalue": "", "traceback": ["Traceback"]}
    assert check_cell("x", [], [error]) == ["a traceback"]
    assert check_cell("x", ["raises-exception"], [error]) == []
