"""What a student sees, in Chromium: labs 01, 03, 04, 11 and 12 and an exercise, run in
JupyterLab as a student runs them (Run All Cells), then looked at.

- no cell shows more than a screen of text (`SCREEN_LINES`), and no traceback;
- every figure fits inside the notebook's width (a 1000 px wide window);
- the quiz: a wrong answer says so and invites another try, then the right one is right;
- a dead-lab button: after lab 03's last cell brought its lab down, Drain on its cluster
  view says the lab is gone at once;
- an exercise's failing check shows its hint alone (no traceback).

One JupyterLab serves every notebook (copies in a temporary folder); each lab's own
`fresh_lab` brings its lab up and its last cell brings it down.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_lab_in_browser import (
    ARGS, CHROMIUM, _dismiss_toasts, _free_port, _run_all, _skip_reason, _start_jupyter,
    _stop, _wait_idle,
)

ROOT = Path(__file__).resolve().parents[2]
SCREEN_LINES = 50
WIDTH = 1000
NOTEBOOKS = ["labs/01-raft.ipynb", "labs/03-services.ipynb", "labs/04-rolling-updates.ipynb",
             "labs/11-monitoring.ipynb", "labs/12-quiz.ipynb", "exercises/03-services.ipynb"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    reason = _skip_reason()
    if reason:
        yield reason
        return
    tmp = tmp_path_factory.mktemp("student")
    for rel in NOTEBOOKS:
        dest = tmp / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, dest)
    home = tmp / "home"
    # every cell in the page (JupyterLab 4 leaves cells out of view undrawn by default):
    # what is looked at below is the whole notebook
    settings = tmp / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    env = dict(os.environ, SWARMLAB_HOME=str(home), JUPYTER_CONFIG_DIR=str(tmp / "jcfg"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "lab-settings"),
               JUPYTER_RUNTIME_DIR=str(tmp / "jrun"),
               PYTHONPATH=os.pathsep.join([p for p in [os.environ.get("PYTHONPATH")] if p]
                                          + [str(ROOT)]))
    port, token = _free_port(), secrets.token_hex(16)
    server = _start_jupyter(tmp, port, token, env)
    try:
        yield f"http://127.0.0.1:{port}", token, home
    finally:
        _stop(server)
        subprocess.run([sys.executable, "-c",
                        "from swarmlab.lab import Lab\nfor r in Lab.ls():\n"
                        " Lab.attach(r.name).down()"],
                       env=dict(os.environ, SWARMLAB_HOME=str(home)), cwd=ROOT, timeout=120)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def chromium(jupyter):
    """One browser for the module (Playwright's sync API runs one loop per thread)."""
    if isinstance(jupyter, str):
        yield None
        return
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def _open_and_run(jupyter, chromium, prerequisite, rel: str, idle_s: float = 420):
    if isinstance(jupyter, str):
        prerequisite("browser", jupyter)
    url, token, _home = jupyter
    page = chromium.new_page(viewport={"width": WIDTH, "height": 900})
    # a workspace of its own: only this notebook open (no tab restored from another test)
    space = re.sub(r"[^a-z0-9]+", "-", rel.lower())
    page.goto(f"{url}/lab/workspaces/{space}/tree/{rel}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    _accept_dialogs(page)
    _dismiss_toasts(page)
    _run_all(page)
    time.sleep(2)
    _wait_idle(page, idle_s)
    return page


def _accept_dialogs(page, seconds: float = 20) -> None:
    """A fresh JupyterLab may ask which kernel to use, late on a loaded machine: take the
    proposed one (Python 3) whenever the question comes in the first seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog")
        if dialog.count() and dialog.first.is_visible():
            dialog.locator("button.jp-mod-accept").first.click()
            return
        if page.locator(".jp-Notebook-ExecutionIndicator").count():
            time.sleep(1)  # the kernel is being started: a dialog may still come
        time.sleep(0.5)


def _text_outputs(page) -> list[tuple[int, str]]:
    """(cell index, the text a student reads) of every cell with text output."""
    return page.eval_on_selector_all(
        ".jp-Notebook .jp-CodeCell",
        "cells => cells.map((c, i) => [i, Array.from(c.querySelectorAll("
        "'.jp-OutputArea-output .jp-RenderedText')).map(e => e.innerText).join('\\n')])"
        ".filter(([i, t]) => t.trim().length > 0)")


def _errors(page) -> list[str]:
    return page.eval_on_selector_all(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
        ".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']",
        "els => els.map(e => e.innerText)")


def _figures_fit(page) -> list[str]:
    """Figures wider than the notebook's content area (each as a short description)."""
    return page.evaluate(
        "() => { const nb = document.querySelector('.jp-Notebook').getBoundingClientRect();"
        " return Array.from(document.querySelectorAll('.js-plotly-plot .main-svg'))"
        ".map(s => s.getBoundingClientRect())"
        ".filter(b => b.width > 0 && b.right > nb.right + 2)"
        ".map(b => `figure ${Math.round(b.width)} px wide ends at ${Math.round(b.right)},"
        " the notebook at ${Math.round(nb.right)}`); }")


def _look(page, *, tracebacks_allowed: bool = False) -> None:
    long = [(i, t.count("\n") + 1) for i, t in _text_outputs(page)
            if t.count("\n") + 1 > SCREEN_LINES]
    assert not long, f"cells showing more than a screen ({SCREEN_LINES} lines): {long}"
    if not tracebacks_allowed:
        shown = [e for e in _errors(page) if "Traceback" in e or "Error" in e.split("\n")[0]]
        assert not shown, shown[:2]
    assert not _figures_fit(page), _figures_fit(page)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("rel", ["labs/01-raft.ipynb", "labs/04-rolling-updates.ipynb",
                                 "labs/11-monitoring.ipynb"])
def test_a_lab_reads_well(jupyter, chromium, prerequisite, rel):
    page = _open_and_run(jupyter, chromium, prerequisite, rel)
    try:
        assert page.locator(".js-plotly-plot").count() > 0, "no figure rendered"
        _look(page)
    finally:
        page.close()


@pytest.mark.timeout(900)
def test_lab_03_reads_well_and_a_dead_labs_button_says_so_at_once(jupyter, chromium, prerequisite):
    page = _open_and_run(jupyter, chromium, prerequisite, "labs/03-services.ipynb")
    try:
        _look(page)
        # the last cell brought the lab down; the first cluster view is still on the page
        view = page.locator(".widget-vbox", has=page.locator(".swarmlab-cluster")).first
        view.scroll_into_view_if_needed()
        t0 = time.monotonic()
        view.locator("button", has_text=re.compile(r"^\s*Drain\s*$")).first.click()
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.widget-label'))"
            ".some(e => /is gone|answers: is it down/.test(e.innerText))", timeout=5_000)
        assert time.monotonic() - t0 < 5
    finally:
        page.close()


@pytest.mark.timeout(600)
def test_the_quiz_says_what_is_wrong_then_takes_the_right_answer(jupyter, chromium, prerequisite):
    page = _open_and_run(jupyter, chromium, prerequisite, "labs/12-quiz.ipynb")
    try:
        _look(page, tracebacks_allowed=True)  # its last cell: the quiz is not answered yet
        question = page.locator(".widget-vbox",
                                has=page.locator("text=Which command to create a Swarm?")).last
        box = question.locator("input[type='text']").first
        box.fill("docker node ls")
        box.press("Enter")
        question.locator("text=not quite").wait_for(timeout=10_000)
        assert "Try again" in question.inner_text()
        box.fill("docker swarm init")
        box.press("Enter")
        question.locator("text=right.").wait_for(timeout=10_000)
        assert "score: 1 of" in page.locator(".widget-html", has_text="score:").first.inner_text()
        # the final check names what is left, without a traceback
        err = "\n".join(_errors(page))
        assert "not yet" in err and "Traceback" not in err
    finally:
        page.close()


@pytest.mark.timeout(900)
def test_an_exercises_failing_check_shows_its_hint_alone(jupyter, chromium, prerequisite):
    page = _open_and_run(jupyter, chromium, prerequisite, "exercises/03-services.ipynb")
    try:
        _look(page, tracebacks_allowed=True)
        errors = _errors(page)
        assert errors and all(e.strip().startswith("\u2717 not yet:") for e in errors), errors
        assert not any("Traceback" in e or "File " in e for e in errors)
    finally:
        page.close()
