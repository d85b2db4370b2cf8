"""A real browser runs a live lab in JupyterLab: the cluster view and a plotly animation
render, and a click on Drain moves the tasks.

JupyterLab is started headless on 127.0.0.1 with a token; Debian's Chromium
(`apt-get install chromium`) is driven by Playwright (`pip install playwright`) with the
system browser: no browser download. The screenshot goes to build/screenshots/ (or
$SWARMLAB_SCREENSHOT); docs/images/ holds the curated copy the README shows, so a test run
never rewrites a tracked file.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOT = Path(os.environ.get("SWARMLAB_SCREENSHOT",
                           ROOT / "build" / "screenshots" / "cluster-view-drain.png"))
LAB_NOTEBOOK = ROOT / "labs" / "11-monitoring.ipynb"
LAB_NAME = "lab11-monitoring"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _browser_notebook(dest: Path) -> Path:
    """Lab 11 without its last cell, so the lab stays up for the clicks (the test brings
    it down)."""
    nb = json.loads(LAB_NOTEBOOK.read_text())
    assert "lab.down()" in "".join(nb["cells"][-1]["source"])
    nb["cells"] = nb["cells"][:-1]
    path = dest / "lab.ipynb"
    path.write_text(json.dumps(nb))
    return path


def _start_jupyter(root: Path, port: int, token: str, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]  # no PyPI queries, no update checks
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(root / "jupyter.log", "wb"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("JupyterLab did not start: " + (root / "jupyter.log").read_text()[-2000:])


@pytest.mark.timeout(600)
def test_cluster_view_and_animation_render_and_react(tmp_path, prerequisite):
    reason = _skip_reason()
    if reason:
        prerequisite("browser", reason)
    from playwright.sync_api import expect, sync_playwright

    home = tmp_path / "home"
    env = dict(os.environ, SWARMLAB_HOME=str(home), JUPYTER_CONFIG_DIR=str(tmp_path / "jcfg"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jrun"),
               PYTHONPATH=os.pathsep.join([p for p in [os.environ.get("PYTHONPATH")] if p] + [str(ROOT)]))
    nb = _browser_notebook(tmp_path)
    port, token = _free_port(), secrets.token_hex(16)
    server = _start_jupyter(tmp_path, port, token, env)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/{nb.name}?token={token}")
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            _run_all(page)
            view = page.locator(".swarmlab-cluster").first
            expect(view).to_be_visible(timeout=240_000)
            # the drain done from code in the lab shows its animation under the view
            expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=120_000)
            _wait_idle(page)
            node = _busiest_worker(page)
            before = _tasks_on(page, node)
            assert before > 0, f"{node} runs no task to move"
            plots = page.locator(".js-plotly-plot").count()
            widget = page.locator(".widget-vbox", has=page.locator(".swarmlab-cluster")).first
            widget.locator("select").first.select_option(node)
            widget.locator("button", has_text=re.compile(r"^\s*Drain\s*$")).first.click()
            page.wait_for_function(
                "n => { const c = document.querySelector(`.swarmlab-node[data-node='${n}']`);"
                " return c && c.querySelectorAll('.swarmlab-task').length === 0; }",
                arg=node, timeout=60_000)
            # the view's animation is now this drain's
            expect(widget.locator(".js-plotly-plot")).to_contain_text(f"Draining {node}",
                                                                      timeout=60_000)
            assert page.locator(".js-plotly-plot").count() >= plots
            _play(widget)
            _dismiss_toasts(page)
            widget.scroll_into_view_if_needed()
            SHOT.parent.mkdir(parents=True, exist_ok=True)
            widget.screenshot(path=str(SHOT))
            browser.close()
        assert SHOT.stat().st_size > 20_000
    finally:
        _stop(server)
        _down(home)


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def _run_all(page) -> None:
    # a fresh JupyterLab may ask which kernel to use: take the proposed one (Python 3)
    dialog = page.locator(".jp-Dialog")
    try:
        dialog.wait_for(timeout=5_000)
        dialog.locator("button.jp-mod-accept").first.click()
    except Exception:  # noqa: BLE001 - no dialog: the notebook's kernelspec was used
        pass
    page.locator(".jp-Notebook").first.click()
    page.keyboard.press("Escape")
    page.locator("div.lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator("li.lm-Menu-item", has_text="Run All Cells").first.click()


def _wait_idle(page, timeout_s: float = 300) -> None:
    """Until no cell shows [*] any more."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        prompts = page.locator(".jp-InputPrompt").all_inner_texts()
        if prompts and not any("*" in t for t in prompts):
            return
        time.sleep(1)
    raise TimeoutError("the notebook did not finish running")


def _busiest_worker(page) -> str:
    counts = page.eval_on_selector_all(
        ".swarmlab-node", "els => els.map(e => [e.dataset.node, "
        "e.querySelectorAll('.swarmlab-task').length])")
    # a worker, as a lesson would drain; if the scheduler left both workers empty (node5
    # was drained and reactivated above, and Swarm does not rebalance), the busiest node
    workers = [(n, k) for n, k in counts if n in ("node4", "node5")]
    best = max(workers, key=lambda nk: nk[1])
    return best[0] if best[1] else max(counts, key=lambda nk: nk[1])[0]


def _tasks_on(page, node: str) -> int:
    return page.locator(f".swarmlab-node[data-node='{node}'] .swarmlab-task").count()


def _play(widget) -> None:
    """Press the animation's play button, and let it move a little."""
    play = widget.locator(".updatemenu-button").first
    if play.count():
        play.click()
        time.sleep(1.5)


def _dismiss_toasts(page) -> None:
    """JupyterLab's first-run question about news covers a corner: answer no."""
    for button in page.locator(".jp-toast-button", has_text=re.compile(r"^\s*No\s*$")).all():
        try:
            button.click(timeout=2_000)
        except Exception:  # noqa: BLE001 - it went away by itself
            pass


def _down(home: Path) -> None:
    env = dict(os.environ, SWARMLAB_HOME=str(home))
    subprocess.run([sys.executable, "-c",
                    f"from swarmlab.lab import Lab\ntry:\n Lab.attach({LAB_NAME!r}).down()\n"
                    f"except LookupError:\n pass"], env=env, cwd=ROOT, timeout=60)
    shutil.rmtree(home, ignore_errors=True)
