"""The Raft panel: each manager's state, term, log, commit and applied index,
with a timeline slider and RaftScope's scenario buttons.

With `figure=True` the election figure sits under the table and the two share
one player: the panel's slider (or its play button) moves both, a frame at a
time, and the figure drawn is that frame alone (`ElectionDrawing.figure_dict`).
Under it, RaftScope's clicks, as buttons (a plotly click needs a widget front
end this kit does not ship): stop or restart a node, or drop one of the
messages of the frame shown. Each reruns the scenario's seed with the fault
added at that moment (`scenarios.rerun`): the story up to there is the same,
what follows is new, and the slider stays where it was.

Theory of operation: the panel shows a list of `PanelFrame`s, one at a time.
Frames come either from a recorded trace (`RaftPanel.from_run`, or a scenario
button, which runs the scenario on the simulator and replays its trace) or
from a live lab (`RaftPanel.live(fetch)`, where `fetch()` returns rows shaped
like `swarmlab raft status --format json`: Node, State, Term, Commit, Applied,
LastIndex, Leader; each click on "refresh" appends one frame; with `trace=` (a
lab's `trace()`), the log column gets each entry's term from the leaders'
appends in it). The log column shows the last dozen entries. Times are in
seconds. Nothing runs in
the background: the play button is the browser's `Play` widget moving the
slider, and every change happens inside a widget callback, so no output
appears after a cell has returned.
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import ipywidgets as W

from ..scenarios import SCENARIOS, Fault, ScenarioRun, rerun, run as run_scenario
from ..viz._style import STATE_COLORS, term_color
from ..viz.election import ElectionDrawing
from ..viz.events import live_trace
from ..viz.frames import Frame, node_name
from ..viz.replay import replay, status_rows

Fetch = Callable[[], Sequence[dict]]
#: the log column shows this many entries at most (the last ones)
LOG_SHOWN = 12
COLUMNS = ("Node", "State", "Term", "Commit", "Applied", "LastIndex", "Leader")
#: the buttons, in RaftScope's words, and the scenario each one plays
BUTTONS = {
    "First election": "first-election",
    "Log replication": "log-replication",
    "Kill the leader": "kill-the-leader",
    "Align timers (split vote)": "split-vote",
    "Partition the minority": "partition-minority",
}


@dataclass(frozen=True)
class PanelFrame:
    time: float
    rows: tuple[dict, ...]
    #: the term of every log entry, by node name (None: unknown, e.g. a live lab);
    #: or, from a live trace, {index: term} by node name
    logs: dict[str, tuple[int, ...] | dict[int, int]] | None = None
    notes: tuple[str, ...] = field(default=())
    #: seconds left on each node's election timer (None: a leader, a node down)
    timers: dict[str, float | None] | None = None
    caption: str = ""


def frames_from_trace(frames: Sequence[Frame]) -> list[PanelFrame]:
    out = []
    for f in frames:
        rows = status_rows(f)
        out.append(PanelFrame(f.time, tuple(rows), {r["Node"]: n.log for r, n in zip(rows, f.nodes)},
                              f.notes, {r["Node"]: n.timer_s for r, n in zip(rows, f.nodes)},
                              f.caption))
    return out


def entry_terms(docs: Sequence[dict]) -> dict[int, int]:
    """The term of each log index, from a live lab's trace (`Lab.trace()`): a leader's
    `append` gives its entries its own term (a later leader's overwrites)."""
    evs = live_trace(docs)
    leading: dict[int, bool] = {}
    terms: dict[int, int] = {}
    for e in evs:
        if e.kind == "state":
            leading[e.node] = e.fields.get("state") == "leader"
        elif e.kind == "send" and e.fields.get("type") == "HEARTBEAT":
            leading.setdefault(e.node, True)
        elif e.kind == "append" and leading.get(e.node):
            for idx in range(int(e.fields["first"]), int(e.fields["last"]) + 1):
                terms[idx] = e.term
    return terms


def frame_from_status(rows: Sequence[dict], time: float) -> PanelFrame:
    """A live lab's status rows as one frame (extra keys are ignored)."""
    missing = [c for c in COLUMNS if any(c not in r for r in rows)]
    if missing:
        raise ValueError(f"status rows lack {', '.join(missing)}")
    return PanelFrame(time, tuple({c: r[c] for c in COLUMNS} for r in rows))


class RaftPanel:
    def __init__(self, frames: Sequence[PanelFrame] = (), seed: int = 1,
                 fetch: Fetch | None = None, clock: Callable[[], float] | None = None,
                 figure: bool = False, trace: Callable[[], Sequence[dict]] | None = None) -> None:
        """`figure=True` also shows the election figure of the scenario played, on the
        same player, with buttons to stop or restart a node or drop a message."""
        self.frames: list[PanelFrame] = list(frames)
        self.seed = seed
        self.with_figure = figure
        self.fetch = fetch
        self.trace = trace
        self._clock = clock
        self._t0: float | None = None
        self.run: ScenarioRun | None = None
        self.drawing: ElectionDrawing | None = None
        self._build()
        self._show()

    # -- constructors ----------------------------------------------------------
    @classmethod
    def from_run(cls, run: ScenarioRun, **kw) -> "RaftPanel":
        panel = cls(seed=run.seed, **kw)
        panel.load_run(run)
        return panel

    @classmethod
    def scenario(cls, name: str, seed: int = 1, **kw) -> "RaftPanel":
        return cls.from_run(run_scenario(name, seed), **kw)

    @classmethod
    def live(cls, fetch: Fetch, clock: Callable[[], float] | None = None,
             trace: Callable[[], Sequence[dict]] | None = None) -> "RaftPanel":
        """A panel fed by a live lab: each refresh calls `fetch()` once (and `trace()`,
        if given, for the terms of the log entries)."""
        panel = cls(fetch=fetch, clock=clock, trace=trace)
        panel.refresh()
        return panel

    # -- actions ---------------------------------------------------------------
    def load_run(self, run: ScenarioRun, at: int = 0) -> None:
        """Show a run from frame `at`; table and figure share the frames."""
        self.run = run
        frames = replay(run.events, marks=run.marks, tick_s=run.tick_s)
        self.frames = frames_from_trace(frames)
        if self.with_figure:
            # heartbeats shown, as RaftScope does: each one refills a timer, and can be dropped
            self.drawing = ElectionDrawing(frames, title=run.name.capitalize())
        self._set_range(min(at, len(self.frames) - 1))

    def play(self, name: str) -> ScenarioRun:
        """Run a scenario on the simulator with the panel's seed and show it."""
        r = run_scenario(name, seed=int(self.seed_box.value))
        self.load_run(r)
        return r

    def toggle(self, node: int) -> ScenarioRun:
        """RaftScope's click on a node: stop it if it runs, restart it if it is down,
        from the frame shown on; the run is replayed with that fault."""
        f = self.current
        if self.run is None or f is None:
            raise RuntimeError("no scenario run to change")
        row = next(r for r in f.rows if r["Node"] == node_name(node))
        action = "restart" if row["State"] == "down" else "crash"
        return self._rerun(Fault(self._frame_end(), action, node))

    def drop(self, src: int, dst: int, type: str) -> ScenarioRun:
        """RaftScope's click on a message: that message (of the frame shown) is lost."""
        if self.run is None or self.current is None:
            raise RuntimeError("no scenario run to change")
        return self._rerun(Fault(self.current.time, "drop", src, dst, type,
                                 window=max(1e-6, self._frame_end() - self.current.time)))

    def _rerun(self, fault: Fault) -> ScenarioRun:
        assert self.run is not None
        k = self.index
        r = rerun(self.run, [fault])
        self.load_run(r, at=k)
        return r

    def _frame_end(self) -> float:
        k = self.index
        if k + 1 < len(self.frames):
            return self.frames[k + 1].time
        return self.frames[k].time + 0.05

    def refresh(self) -> PanelFrame:
        """Poll the live lab once and show the new frame."""
        if self.fetch is None:
            raise RuntimeError("this panel replays a trace; it has no live source")
        if self._clock is not None:
            t = self._clock()
        else:  # seconds since the first refresh
            now = time.monotonic()
            self._t0 = now if self._t0 is None else self._t0
            t = round(now - self._t0, 3)
        frame = frame_from_status(list(self.fetch()), t)
        if self.trace is not None:
            terms = entry_terms(list(self.trace()))
            frame = PanelFrame(frame.time, frame.rows, {r["Node"]: terms for r in frame.rows})
        self.frames.append(frame)
        self._set_range(len(self.frames) - 1)
        return frame

    @property
    def index(self) -> int:
        return int(self.slider.value)

    @property
    def current(self) -> PanelFrame | None:
        return self.frames[self.index] if self.frames else None

    def html(self) -> str:
        return render(self.current)

    def figure_json(self) -> dict | None:
        """The figure of the frame shown (None without a figure)."""
        if self.drawing is None or not self.frames:
            return None
        return self.drawing.figure_dict(self.index)

    # -- widgets ---------------------------------------------------------------
    def _build(self) -> None:
        self.slider = W.IntSlider(0, 0, 0, description="frame", continuous_update=True,
                                  readout=False, layout=W.Layout(width="50%"))
        self.player = W.Play(value=0, min=0, max=0, interval=500, description="play")
        W.jslink((self.player, "value"), (self.slider, "value"))
        self.clock_label = W.Label("")
        self.slider.observe(lambda _: self._show(), names="value")
        self.view = W.HTML()
        self.seed_box = W.IntText(self.seed, description="seed", layout=W.Layout(width="140px"))
        self.buttons = []
        for label, name in BUTTONS.items():
            b = W.Button(description=label, layout=W.Layout(width="auto"))
            b.on_click(lambda _b, name=name: self.play(name))
            self.buttons.append(b)
        self.refresh_button = W.Button(description="refresh", icon="refresh")
        self.refresh_button.on_click(lambda _b: self.refresh())
        controls = [self.refresh_button] if self.fetch else self.buttons + [self.seed_box]
        self.figure = W.Output()
        self.node_buttons = W.HBox([], layout=W.Layout(flex_flow="row wrap"))
        self.message_menu = W.Dropdown(options=[], description="message",
                                       layout=W.Layout(width="auto"))
        self.drop_button = W.Button(description="drop it", icon="times",
                                    layout=W.Layout(width="auto"))
        self.drop_button.on_click(lambda _b: self._drop_selected())
        self.faults = W.VBox([W.HTML("<i>change the story from this moment:</i>"),
                              self.node_buttons, W.HBox([self.message_menu, self.drop_button])])
        parts = [W.HBox(controls, layout=W.Layout(flex_flow="row wrap")),
                 W.HBox([self.player, self.slider, self.clock_label]), self.view]
        self.widget = W.VBox(parts + ([self.figure, self.faults] if self.with_figure else []))

    def _set_range(self, value: int) -> None:
        top = max(0, len(self.frames) - 1)
        self.slider.max = self.player.max = top
        if self.slider.value == value:
            self._show()
        self.slider.value = value

    def _show(self) -> None:
        f = self.current
        self.view.value = self.html()
        self.clock_label.value = "" if f is None else f"t = {f.time:.2f} s"
        if not self.with_figure:
            return
        fig = self.figure_json()
        self.figure.outputs = () if fig is None else (_mime(fig),)
        self._fault_controls()

    def _fault_controls(self) -> None:
        f = self.current
        if f is None or self.run is None or self.run.key not in SCENARIOS:
            self.node_buttons.children = ()
            self.message_menu.options = []
            return
        names = [str(r["Node"]) for r in f.rows]
        if [b.node_name for b in self.node_buttons.children] != names:  # a button per node,
            buttons = []  # made once per cluster, relabelled per frame
            for name in names:
                b = W.Button(layout=W.Layout(width="auto"))
                b.node_name = name
                node = int(name.removeprefix("node"))
                b.on_click(lambda _b, node=node: self.toggle(node))
                buttons.append(b)
            self.node_buttons.children = tuple(buttons)
        for b, r in zip(self.node_buttons.children, f.rows):
            down = r["State"] == "down"
            b.description = f"{'restart' if down else 'stop'} {r['Node']}"
            b.icon = "play" if down else "power-off"
            b.button_style = "success" if down else "danger"
        arrows = self.drawing.arrows(self.drawing.frames[self.index]) if self.drawing else []
        opts = [(f"{a.type} {node_name(a.src)} → {node_name(a.dst)}", (a.src, a.dst, a.type))
                for a in arrows if not a.dropped]
        self.message_menu.options = list(dict.fromkeys(opts))
        self.drop_button.disabled = not opts

    def _drop_selected(self) -> None:
        if self.message_menu.value is not None:
            self.drop(*self.message_menu.value)

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


def _mime(fig: dict) -> dict:
    """A plotly figure's JSON as a display output, set on an Output widget from a
    callback (no `display()` call, so nothing depends on where the callback runs)."""
    return {"output_type": "display_data", "metadata": {},
            "data": {"application/vnd.plotly.v1+json": fig,
                     "text/plain": "<plotly figure>"}}


def render(frame: PanelFrame | None) -> str:
    """The frame as an HTML table (also usable without widgets)."""
    if frame is None:
        return "<i>no frame yet</i>"
    timers = frame.timers is not None
    cols = COLUMNS[:3] + ("Log",) + COLUMNS[3:] + (("Timer",) if timers else ())
    head = "".join(f"<th style='padding:2px 8px'>{c}</th>" for c in cols)
    body = "".join(_row(r, frame) for r in frame.rows)
    notes = html.escape(" · ".join(frame.notes))
    caption = (f"<div style='color:#333;max-width:880px'>{html.escape(frame.caption)}</div>"
               if frame.caption else "")
    return (f"<div style='font-family:monospace'><b>t = {frame.time:.3f} s</b> "
            f"<span style='color:#b03a2e'>{notes}</span>{caption}<table>{head}{body}</table></div>")


def _row(r: dict, frame: PanelFrame) -> str:
    color = STATE_COLORS.get(str(r["State"]), "#999")
    state = (f"<span style='background:{color};color:white;padding:1px 6px;"
             f"border-radius:4px'>{html.escape(str(r['State']))}</span>")
    terms = frame.logs.get(r["Node"]) if frame.logs is not None else None
    cells = [html.escape(str(r[c])) for c in COLUMNS]
    tds = cells[:1] + [state] + cells[2:3] + [_log_cells(r, terms)] + cells[3:]
    if frame.timers is not None:
        left = frame.timers.get(r["Node"])
        tds.append("" if left is None else f"{left:.2f} s")
    return "<tr>" + "".join(f"<td style='padding:2px 8px'>{c}</td>" for c in tds) + "</tr>"


def _log_cells(r: dict, terms: tuple[int, ...] | dict[int, int] | None) -> str:
    """The last dozen entries, a small box each, coloured and labelled by term (blank:
    not known); committed entries framed in black."""
    n = int(r["LastIndex"])
    first = max(1, n - LOG_SHOWN + 1)
    boxes = [] if first == 1 else [f"<span title='{first - 1} earlier entries'>…</span>"]
    for idx in range(first, n + 1):
        if isinstance(terms, dict):
            t = terms.get(idx, 0)
        else:
            t = terms[idx - 1] if terms is not None and idx <= len(terms) else 0
        border = "#111" if idx <= int(r["Commit"]) else "#ccc"
        label = t or "?"
        boxes.append(f"<span title='index {idx}, term {label}' style='display:inline-block;"
                     f"width:18px;text-align:center;margin:1px;color:white;"
                     f"background:{term_color(t)};border:2px solid {border}'>"
                     f"{t if t else ''}</span>")
    return "".join(boxes) or "<i>empty</i>"
