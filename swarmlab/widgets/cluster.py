"""The cluster view: a live picture of a lab in the spirit of Docker's Swarm visualizer.

Theory of operation: a column per node (name, role, availability, state; red when
the managers see it down) and a card per task, coloured by service and image
version. The picture is `render_cluster(snapshot(lab))`, redrawn on demand: the
Refresh button, `refresh()`, or `watch(until, timeout)`, which polls in the
foreground until a condition holds. The action buttons (drain, activate, pause,
kill, partition, heal) act on the lab and then watch the cluster settle for a few
seconds; a drain also shows its animation. Nothing runs after a callback or a
cell returns, so no output ever appears from a background thread.
"""
from __future__ import annotations

import html
import json
import time
from typing import Any, Callable

import ipywidgets as W

from ..viz.swarm import ClusterSnapshot, NodeCard, drain_figure, task_color
from .snapshot import snapshot

ACTIONS = ("drain", "activate", "pause", "kill", "partition", "heal")


def render_cluster(s: ClusterSnapshot) -> str:
    """The snapshot as HTML: one column per node, one card per task."""
    cols = "".join(_column(n) for n in s.nodes)
    if s.pending:
        cols += _column(NodeCard("pending", state="ready", tasks=s.pending), pending=True)
    err = (f"<div style='color:#c0392b'>no manager answered: {html.escape(s.error)}</div>"
           if s.error else "")
    return (f"<div class='swarmlab-cluster' style='font-family:sans-serif'>{err}"
            f"<div style='display:flex;gap:8px;align-items:flex-start'>{cols}</div></div>")


def _column(n: NodeCard, pending: bool = False) -> str:
    if pending:
        head, bg = "<b>pending</b><br>no node yet", "#f39c12"
    else:
        bg = "#c0392b" if n.down else "#7f8c8d" if n.availability in ("drain", "pause") \
            else "#34495e"
        role = "leader" if n.leader else (n.role or "-")
        head = (f"<b>{html.escape(n.name)}</b><br>{html.escape(role)}<br>"
                f"{html.escape(n.availability or '-')} · {html.escape(n.state)}")
    cards = "".join(
        f"<div class='swarmlab-task' data-service='{html.escape(t.service)}' "
        f"style='background:{task_color(t.service, t.version)};color:white;margin:3px 0;"
        f"padding:3px 6px;border-radius:4px;font-size:12px;"
        f"opacity:{1 if t.state == 'running' else 0.55}'>"
        f"{html.escape(t.label)} <b>v{html.escape(t.version)}</b>"
        f"<br><span style='font-size:10px'>{html.escape(t.state)}</span></div>"
        for t in n.tasks)
    border = "3px solid #c0392b" if n.down and not pending else "1px solid #ccc"
    return (f"<div class='swarmlab-node' data-node='{html.escape(n.name)}' "
            f"data-state='{html.escape(n.state)}' style='min-width:110px;border:{border};"
            f"border-radius:6px;padding:4px'><div style='background:{bg};color:white;"
            f"padding:4px;border-radius:4px;font-size:12px'>{head}</div>{cards}</div>")


class ClusterView:
    """The widget. `fetch` defaults to `snapshot(lab)`; `settle_s` bounds how long an
    action button watches the cluster afterwards."""

    def __init__(self, lab: Any, fetch: Callable[[], ClusterSnapshot] | None = None,
                 settle_s: float = 8.0, interval: float = 0.3) -> None:
        self.lab = lab
        self.fetch = fetch or (lambda: snapshot(lab))
        self.settle_s, self.interval = settle_s, interval
        self.current: ClusterSnapshot | None = None
        self.history: list[ClusterSnapshot] = []
        self._build()
        self.refresh()

    # -- polling ---------------------------------------------------------------------------
    def refresh(self) -> ClusterSnapshot:
        """Ask the managers once and redraw."""
        self.current = self.fetch()
        self.history.append(self.current)
        self.view.value = render_cluster(self.current)
        return self.current

    def watch(self, until: Callable[[ClusterSnapshot], Any] | None = None,
              timeout: float = 10.0) -> list[ClusterSnapshot]:
        """Refresh every `interval` until `until(snapshot)` holds (or `timeout`); returns the
        snapshots seen. Raises TimeoutError only when a condition was given."""
        seen = [self.refresh()]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until is not None and until(seen[-1]):
                return seen
            time.sleep(self.interval)
            seen.append(self.refresh())
        if until is not None and not until(seen[-1]):
            raise TimeoutError(f"the cluster did not reach the state within {timeout:.0f}s")
        return seen

    # -- actions ---------------------------------------------------------------------------
    def act(self, action: str, node: str | None = None) -> list[ClusterSnapshot]:
        """Do `action` on `node`, then watch the cluster settle (a drain: until the node
        holds no task; its animation is shown under the view)."""
        node = node or self.node_box.value
        self.status.value = f"{action} {node or ''}…"
        if action in ("drain", "activate", "pause"):
            self._availability(node, "active" if action == "activate" else action)
        elif action == "kill":
            self.lab.kill(node)
        elif action == "partition":
            self.lab.partition(node)
        elif action == "heal":
            self.lab.heal()
        else:
            raise ValueError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
        until = (lambda s: s.node(node).availability == "drain" and not s.node(node).tasks
                 and not s.pending and all(t.state == "running" for t in s.tasks(running=False))
                 ) if action == "drain" else None
        try:
            seen = self.watch(until, self.settle_s if until else min(self.settle_s, 2.0))
        except TimeoutError:
            seen = self.history[-int(self.settle_s / self.interval):]
        if action == "drain" and len(seen) > 1:
            self.figure.outputs = (_mime(drain_figure(seen, node)),)
        self.status.value = f"{action} {node or ''}: done"
        return seen

    def _availability(self, node: str, availability: str) -> None:
        api = self.lab.client().api
        for _ in range(5):  # another writer may bump the version between read and write
            doc = api.inspect_node(node)
            try:
                api.update_node(doc["ID"], doc["Version"]["Index"],
                                dict(doc["Spec"], Availability=availability))
                return
            except Exception as e:  # noqa: BLE001
                if "out of sequence" not in str(e):
                    raise
        raise RuntimeError(f"could not set {node} to {availability}")

    # -- widgets ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.view = W.HTML()
        self.node_box = W.Dropdown(options=list(self.lab.nodes), description="node",
                                   layout=W.Layout(width="170px"))
        self.refresh_button = W.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.buttons = {}
        for action in ACTIONS:
            b = W.Button(description=action.capitalize(), layout=W.Layout(width="auto"),
                         button_style="danger" if action in ("kill", "partition") else "")
            b.on_click(lambda _b, a=action: self.act(a))
            self.buttons[action] = b
        self.status = W.Label()
        self.figure = W.Output()
        self.widget = W.VBox([
            W.HBox([self.refresh_button, self.node_box, *self.buttons.values()],
                   layout=W.Layout(flex_flow="row wrap")),
            self.status, self.view, self.figure])

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


def _mime(fig) -> dict:
    """A plotly figure as an output set on an Output widget from a callback."""
    return {"output_type": "display_data", "metadata": {},
            "data": {"application/vnd.plotly.v1+json": json.loads(fig.to_json()),
                     "text/plain": f"<plotly figure: {len(fig.frames)} frames>"}}


__all__ = ["ACTIONS", "ClusterView", "render_cluster", "snapshot"]
