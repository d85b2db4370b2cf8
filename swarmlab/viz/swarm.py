"""The swarm as the Swarm visualizer draws it: a column per node, a card per task.

Theory of operation: a `ClusterSnapshot` is what the managers' API says at one
moment (nodes, and the tasks meant to run on each). `snapshot_from_api` makes
one from API documents; asking a live lab for them is `swarmlab.widgets.snapshot`'s
(this package does no I/O). A `Recorder` calls a fetch function at a fixed
interval on a thread between `start()` and `stop()` (it never prints, and
`stop()` joins it, so nothing is left running after a cell returns). The figures
are pure functions of recorded snapshots: the same snapshots give the same animation.
"""
from __future__ import annotations

import colorsys
import threading
import zlib
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._style import STATE_COLORS, play_controls

#: task states of a task that holds (or is about to hold) its slot on a node
LIVE_STATES = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting",
               "running")


@dataclass(frozen=True)
class TaskCard:
    id: str
    service: str
    slot: int | None
    image: str
    state: str
    desired: str

    @property
    def version(self) -> str:
        """The image tag: `swarmlab/web:2` -> `2`."""
        return self.image.rsplit(":", 1)[1] if ":" in self.image.split("/")[-1] else "latest"

    @property
    def label(self) -> str:
        return f"{self.service}.{self.slot}" if self.slot else self.service


@dataclass(frozen=True)
class NodeCard:
    name: str
    role: str = ""            # manager | worker ("" when no swarm)
    availability: str = ""    # active | pause | drain
    state: str = "unknown"    # ready | down | unknown | no swarm
    leader: bool = False
    tasks: tuple[TaskCard, ...] = ()

    @property
    def down(self) -> bool:
        return self.state not in ("ready", "no swarm")


@dataclass(frozen=True)
class ClusterSnapshot:
    time: float
    nodes: tuple[NodeCard, ...]
    pending: tuple[TaskCard, ...] = ()
    error: str = ""

    def node(self, name: str) -> NodeCard:
        return next(n for n in self.nodes if n.name == name)

    @property
    def no_swarm(self) -> bool:
        """No node is in a swarm yet (before `swarm init`): nothing is wrong."""
        return bool(self.nodes) and all(n.state == "no swarm" for n in self.nodes)

    def tasks(self, service: str | None = None, running: bool = True) -> list[TaskCard]:
        return [t for n in self.nodes for t in n.tasks
                if (service is None or t.service == service)
                and (not running or (t.state == "running" and t.desired == "running"))]

    def where(self, service: str) -> dict[str, int]:
        """Running tasks of `service` per node name."""
        return {n.name: sum(1 for t in n.tasks if t.service == service and t.state == "running"
                            and t.desired == "running") for n in self.nodes}

    def versions(self, service: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tasks(service):
            out[t.version] = out.get(t.version, 0) + 1
        return out


# -- from the API ---------------------------------------------------------------------------
def snapshot_from_api(nodes: Sequence[dict], tasks: Sequence[dict], services: Sequence[dict],
                      time_s: float, names: Sequence[str] = ()) -> ClusterSnapshot:
    """Docker's `GET /nodes`, `/tasks` and `/services` documents as one snapshot.
    `names` lists nodes to show even when the swarm does not know them."""
    svc = {s["ID"]: s["Spec"]["Name"] for s in services}
    by_node: dict[str, list[TaskCard]] = {}
    pending: list[TaskCard] = []
    for t in tasks:
        card = _task_card(t, svc)
        if card is None:
            continue
        (by_node.setdefault(t["NodeID"], []) if t.get("NodeID") else pending).append(card)
    cards = []
    for n in nodes:
        ms = n.get("ManagerStatus") or {}
        cards.append(NodeCard(
            name=n["Description"]["Hostname"], role=n["Spec"]["Role"],
            availability=n["Spec"]["Availability"], state=n["Status"]["State"],
            leader=bool(ms.get("Leader")),
            tasks=tuple(sorted(by_node.get(n["ID"], []), key=lambda c: (c.service, c.slot or 0)))))
    known = {c.name for c in cards}
    cards += [NodeCard(name=m, state="unknown") for m in names if m not in known]
    return ClusterSnapshot(time_s, tuple(sorted(cards, key=lambda c: _node_key(c.name))),
                           tuple(pending))


def _task_card(t: dict, svc: dict[str, str]) -> TaskCard | None:
    state, desired = t["Status"]["State"], t.get("DesiredState", "")
    if desired != "running" and state != "running":
        return None  # finished tasks are history, not cards
    if state not in LIVE_STATES:
        return None
    return TaskCard(id=t["ID"], service=svc.get(t["ServiceID"], t["ServiceID"][:10]),
                    slot=t.get("Slot"), image=t["Spec"]["ContainerSpec"]["Image"].split("@")[0],
                    state=state, desired=desired)


def _node_key(name: str) -> tuple:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (name.rstrip("0123456789"), int(digits) if digits else 0, name)


# -- recording ------------------------------------------------------------------------------
class Recorder:
    """Poll snapshots every `interval` seconds between `start()` and `stop()`."""

    def __init__(self, fetch: Callable[[], ClusterSnapshot], interval: float = 0.25,
                 limit: int = 2000) -> None:
        self.fetch, self.interval, self.limit = fetch, interval, limit
        self.snapshots: list[ClusterSnapshot] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Recorder":
        if self._thread is not None:
            raise RuntimeError("this recorder is already recording")
        self._poll()
        self._thread = threading.Thread(target=self._run, name="swarmlab-recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[ClusterSnapshot]:
        """Stop polling, wait for the thread, take one last snapshot."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=self.interval + 10)
            self._thread = None
            self._poll()
        return self.snapshots

    def _run(self) -> None:
        while not self._stop.wait(self.interval) and len(self.snapshots) < self.limit:
            self._poll()

    def _poll(self) -> None:
        try:
            self.snapshots.append(self.fetch())
        except Exception:  # noqa: BLE001 - counted, never printed from the thread
            self.errors += 1

    def __enter__(self) -> "Recorder":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# -- figures --------------------------------------------------------------------------------
def task_color(service: str, version: str) -> str:
    """A hue per service; v2 lighter and shifted a little, other versions paler still."""
    hue = (zlib.crc32(service.encode()) % 360) / 360
    shift, light = {"1": (0.0, 0.34), "2": (0.09, 0.6)}.get(version, (0.18, 0.74))
    r, g, b = colorsys.hls_to_rgb((hue + shift) % 1.0, light, 0.7)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


#: versions of one service, clearly apart (blue, orange, green, ...), as in the legend
VERSION_PALETTE = ("#1f6fd1", "#f08c2e", "#2e9e5b", "#9b59b6", "#c0392b", "#7f8c8d")


def version_color(versions: Sequence[str], version: str) -> str:
    return VERSION_PALETTE[list(versions).index(version) % len(VERSION_PALETTE)] \
        if version in versions else VERSION_PALETTE[-1]


def uniform_frames(snaps: Sequence[ClusterSnapshot], step_s: float,
                   max_frames: int = 150) -> list[ClusterSnapshot]:
    """One frame per `step_s` of recorded time (the latest snapshot at or before each step),
    so every frame lasts as long and a wait (the update delay) plays as a wait; the step
    grows when the recording is too long for `max_frames`."""
    if not snaps:
        return []
    t0, end = snaps[0].time, snaps[-1].time
    step = max(step_s, (end - t0) / max(1, max_frames - 1))
    out, k, i = [], 0, 0
    while True:
        t = t0 + i * step
        if t > end + 1e-9:
            break
        while k + 1 < len(snaps) and snaps[k + 1].time <= t + 1e-9:
            k += 1
        out.append(replace(snaps[k], time=t))
        i += 1
    if out[-1].time < end:
        out.append(snaps[-1])
    return out


def changed_frames(snaps: Sequence[ClusterSnapshot]) -> list[ClusterSnapshot]:
    """The snapshots where something visible changed (first and last always kept)."""
    out: list[ClusterSnapshot] = []
    for s in snaps:
        if not out or _signature(s) != _signature(out[-1]):
            out.append(s)
    if snaps and out[-1] is not snaps[-1]:
        out.append(snaps[-1])
    return out


def _signature(s: ClusterSnapshot) -> tuple:
    return tuple((n.name, n.role, n.availability, n.state, n.leader,
                  tuple((t.id, t.state, t.image) for t in n.tasks)) for n in s.nodes)


def drain_figure(snaps: Sequence[ClusterSnapshot], node: str, title: str = "",
                 duration_ms: int = 500) -> go.Figure:
    """Tasks leaving a drained node, frame by frame."""
    return cluster_figure(snaps, title or f"Draining {node}: its tasks move to other nodes",
                          highlight=node, duration_ms=duration_ms)


def rolling_update_figure(snaps: Sequence[ClusterSnapshot], service: str, title: str = "",
                          duration_ms: int = 500, step_s: float = 0.5) -> go.Figure:
    """A rolling update: the service's cards change version batch by batch (left) and the
    running replicas per version over time (right: the plateaus are the update delay).
    Frames are `step_s` of recorded time apart and play `duration_ms` each (real time by
    default), so the delay between batches is seen as it happened."""
    return cluster_figure(uniform_frames(snaps, step_s), title or f"Rolling update of {service}",
                          service=service, timeline=True, duration_ms=duration_ms,
                          every_frame=True)


def cluster_figure(snaps: Sequence[ClusterSnapshot], title: str = "Cluster",
                   service: str | None = None, highlight: str | None = None,
                   timeline: bool = False, duration_ms: int = 500,
                   every_frame: bool = False) -> go.Figure:
    """The cluster, animated. Frames are the snapshots where something changed, or all of
    them (`every_frame`, for snapshots taken at a uniform step). No fixed width: the figure
    takes the page's."""
    frames = list(snaps) if every_frame else changed_frames(snaps)
    if not frames:
        raise ValueError("no snapshots: nothing to animate")
    t0 = frames[0].time
    names = [n.name for n in frames[0].nodes]
    versions = sorted({t.version for s in snaps for t in s.tasks(service, running=False)},
                      key=_version_key)
    fig = (make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.08,
                         subplot_titles=("tasks per node", f"running {service} per version"))
           if timeline else go.Figure())
    k_rows = max(1, max(len(_cards(n, service)) for s in frames for n in s.nodes))
    first = _frame_data(frames[0], names, service, versions, snaps, t0, timeline)
    for i, tr in enumerate(first):
        fig.add_trace(go.Scatter(tr), **({"row": 1, "col": 1 + (i > 0)} if timeline else {}))
    # frames as plain dicts, axes named: validated once by the figure (go.Frame validates
    # each again, which is slow with many frames)
    axes = [dict(xaxis="x", yaxis="y")] + [dict(xaxis="x2", yaxis="y2")] * (len(first) - 1)
    fig.frames = [dict(name=str(k), traces=list(range(len(first))),
                       data=[dict(d, **a) for d, a in zip(
                           _frame_data(f, names, service, versions, snaps, t0, timeline), axes)],
                       layout=dict(annotations=_headers(f, names, k_rows, title, t0, timeline)))
                  for k, f in enumerate(frames)]
    buttons, sliders = play_controls([f"{f.time - t0:.1f}" for f in frames], duration_ms)
    fig.update_layout(annotations=_headers(frames[0], names, k_rows, title, t0, timeline),
                      updatemenus=buttons, sliders=sliders, height=360 + 70 * k_rows,
                      autosize=True, plot_bgcolor="white", showlegend=timeline,
                      # on the title's line, right: clear of the cards and the timeline
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.12,
                                  yanchor="middle", title_text=f"{service}:"),
                      margin=dict(l=10, r=10, t=110 if timeline else 90, b=90))
    fig.update_xaxes(range=[-0.6, len(names) - 0.4], visible=False, row=1 if timeline else None,
                     col=1 if timeline else None)
    fig.update_yaxes(range=[k_rows + 0.3, -1.6], visible=False, row=1 if timeline else None,
                     col=1 if timeline else None)
    if highlight in names:
        x = names.index(highlight)
        fig.add_shape(type="rect", x0=x - 0.48, x1=x + 0.48, y0=-1.5, y1=k_rows + 0.2,
                      fillcolor="#f6dede", line=dict(width=0), layer="below")
    if timeline:
        end = max(s.time for s in snaps) - t0
        top = max((sum(s.versions(service).values()) for s in snaps), default=1)
        fig.update_xaxes(title_text="seconds", range=[0, max(end, 0.1)], row=1, col=2)
        fig.update_yaxes(title_text="running replicas", range=[0, top + 0.5], dtick=1,
                         row=1, col=2)
    return fig


def _cards(n: NodeCard, service: str | None) -> list[TaskCard]:
    return [t for t in n.tasks if service is None or t.service == service]


def _frame_data(s: ClusterSnapshot, names: list[str], service: str | None,
                versions: list[str], snaps: Sequence[ClusterSnapshot], t0: float,
                timeline: bool) -> list[dict]:
    xs, ys, colors, texts, lines = [], [], [], [], []
    color = (lambda t: version_color(versions, t.version)) if service else \
        (lambda t: task_color(t.service, t.version))
    for x, name in enumerate(names):
        node = next((n for n in s.nodes if n.name == name), NodeCard(name))
        for y, t in enumerate(_cards(node, service)):
            xs.append(x)
            ys.append(y)
            colors.append(color(t))
            texts.append(f"{_short_name(t)}<br>v{t.version}")
            lines.append("#111" if t.state == "running" and t.desired == "running" else "#bbb")
    data = [dict(type="scatter", x=xs, y=ys, mode="markers+text", text=texts, showlegend=False,
                 textposition="middle center", textfont=dict(color="white", size=10),
                 hoverinfo="text", marker=dict(symbol="square", size=54, color=colors,
                                               line=dict(color=lines, width=2)))]
    if timeline:
        past = [p for p in snaps if p.time <= s.time]
        for v in versions:
            data.append(dict(type="scatter", x=[p.time - t0 for p in past],
                             y=[p.versions(service or "").get(v, 0) for p in past],
                             mode="lines", line_shape="hv", name=f"v{v}", showlegend=True,
                             line=dict(color=version_color(versions, v), width=3)))
    return data


def _version_key(v: str) -> tuple:
    return (0, int(v), v) if v.isdigit() else (1, 0, v)


def _short_name(t: TaskCard) -> str:
    """`vote_result.1` -> `result.1`: a stack's prefix does not fit on a card."""
    name = t.service.split("_", 1)[-1][:9]
    return f"{name}.{t.slot}" if t.slot else name


def _headers(s: ClusterSnapshot, names: list[str], k_rows: int, title: str, t0: float,
             timeline: bool) -> list[dict]:
    xref, yref = ("x", "y")
    out = [dict(text=f"<b>{title}</b>  t = {s.time - t0:.1f} s", x=0, y=1.12, xref="paper",
                yref="paper", showarrow=False, xanchor="left", font=dict(size=15))]
    for x, name in enumerate(names):
        n = next((m for m in s.nodes if m.name == name), NodeCard(name))
        color = STATE_COLORS["down"] if n.down else (
            "#7f8c8d" if n.availability in ("drain", "pause") else "#34495e")
        role = ("leader" if n.leader else n.role) or "-"
        out.append(dict(text=f"<b>{name}</b><br>{role}<br>{n.availability or '-'} · {n.state}",
                        x=x, y=-1.0, xref=xref, yref=yref, showarrow=False,
                        xanchor="center", yanchor="middle",
                        font=dict(color="white", size=11), bgcolor=color, borderpad=4))
    if timeline:
        out += [dict(text="tasks per node", x=0.31, y=1.04, xref="paper", yref="paper",
                     showarrow=False),
                dict(text="running replicas per version (flat steps: the update delay)",
                     x=0.82, y=1.04, xref="paper", yref="paper", showarrow=False)]
    return out


__all__ = ["ClusterSnapshot", "NodeCard", "Recorder", "TaskCard", "changed_frames",
           "cluster_figure", "drain_figure", "rolling_update_figure", "snapshot_from_api",
           "task_color"]

