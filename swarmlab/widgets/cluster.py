"""The cluster view: a live picture of a lab in the spirit of Docker's Swarm visualizer.

Theory of operation: a column per node (name, role, availability, state; red when
the managers see it down) and a card per task, coloured by service and image
version. The picture is `render_cluster(snapshot(lab))`, redrawn on demand: the
Refresh button, `refresh()`, or `watch(until, timeout)`, which polls in the
foreground until a condition holds. The action buttons (drain, activate, pause,
kill, start, partition, heal) act on the lab and then watch the cluster settle: a drain
until the node is empty (and its animation), a kill until the managers see the node down
(its tasks drawn as lost), a start until it is ready again. A button whose lab is gone
says so at once, and a failed action says why under the buttons. Nothing runs after a
callback or a cell returns, so no output ever appears from a background thread.
"""
from __future__ import annotations

import html
import json
import time
from typing import Any, Callable

import ipywidgets as W

from ..viz.swarm import ClusterSnapshot, NodeCard, drain_figure, task_color
from .snapshot import snapshot

ACTIONS = ("drain", "activate", "pause", "kill", "start", "partition", "heal")
#: how long a kill or a start is watched: the managers see a node down after three missed
#: heartbeats (3 s on the lab profile, 15 s on Docker's)
NODE_STATE_S = 30.0


def render_cluster(s: ClusterSnapshot) -> str:
    """The snapshot as HTML: one column per node, one card per task."""
    cols = "".join(_column(n) for n in s.nodes)
    if s.pending:
        cols += _column(NodeCard("pending", state="ready", tasks=s.pending), pending=True)
    if s.no_swarm:
        err = ("<div style='color:#34495e'>no swarm yet: <code>swarm init</code> on a node "
               "makes it the first manager, then the others join</div>")
    elif s.error:
        err = f"<div style='color:#c0392b'>no manager answered: {html.escape(s.error)}</div>"
    else:
        err = ""
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
    lost = n.down and not pending and n.state != "unknown"  # the managers see the node down
    cards = "".join(
        f"<div class='swarmlab-task' data-service='{html.escape(t.service)}' "
        f"data-state='{'lost' if lost else html.escape(t.state)}' "
        f"style='background:{'#95a5a6' if lost else task_color(t.service, t.version)};"
        f"color:white;margin:3px 0;padding:3px 6px;border-radius:4px;font-size:12px;"
        f"{'text-decoration:line-through;' if lost else ''}"
        f"opacity:{1 if t.state == 'running' and not lost else 0.55}'>"
        f"{html.escape(t.label)} <b>v{html.escape(t.version)}</b>"
        f"<br><span style='font-size:10px'>"
        f"{'lost: its node is down' if lost else html.escape(t.state)}</span></div>"
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
        elif action == "start":
            self.lab.start(node)
        elif action == "partition":
            self.lab.partition(node)
        elif action == "heal":
            self.lab.heal()
        else:
            raise ValueError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
        until, timeout = None, min(self.settle_s, 2.0)
        if action == "drain":
            until, timeout = (lambda s: s.node(node).availability == "drain"
                              and not s.node(node).tasks and not s.pending
                              and all(t.state == "running" for t in s.tasks(running=False))
                              ), self.settle_s
        elif action == "kill":  # until the managers see it down (a killed leader: a new one)
            until, timeout = (lambda s: s.node(node).state == "down"), NODE_STATE_S
        elif action == "start":
            until, timeout = (lambda s: s.node(node).state == "ready"), NODE_STATE_S
        try:
            seen = self.watch(until, timeout)
        except TimeoutError:
            seen = self.history[-max(1, int(timeout / max(self.interval, 0.01))):]
        if action == "drain" and len(seen) > 1:
            self.figure.outputs = (_mime(drain_figure(seen, node)),)
        self.status.value = f"{action} {node or ''}: done"
        return seen

    def click(self, action: str) -> None:
        """A button: act, or say at once why not (the lab is gone, the action failed)."""
        node = self.node_box.value
        gone = self.gone()
        if gone:
            self.status.value = f"{action} {node}: {gone}"
            return
        try:
            self.act(action, node)
        except Exception as e:  # noqa: BLE001 - a callback's error would vanish: show it
            text = getattr(e, "explanation", None) or str(e) or type(e).__name__
            self.status.value = f"{action} {node}: failed: {str(text).splitlines()[0][:200]}"

    def gone(self) -> str:
        """Why the lab cannot be acted on ("" when it can): its record is gone (`lab.down()`
        ran), or none of its nodes answers."""
        record = getattr(self.lab, "record", None)
        if record is None:
            return ""
        from ..lab import tls
        if not (record.dir / "lab.json").exists():
            return (f"the lab {record.name} is gone (it was brought down): start it again "
                    f"with the lab's first cell")
        for node in record.nodes:
            try:
                with tls.urlopen(record, node, "/_ping", 1):
                    return ""
            except OSError:
                continue
        return f"no node of the lab {record.name} answers: is it down? (swarmlab lab ls)"

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
            b.on_click(lambda _b, a=action: self.click(a))
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
