"""The Raft panel: each manager's state, term, log, commit and applied index,
with a timeline slider and RaftScope's scenario buttons.

Theory of operation: the panel shows a list of `PanelFrame`s, one at a time.
Frames come either from a recorded trace (`RaftPanel.from_run`, or a scenario
button, which runs the scenario on the simulator and replays its trace) or
from a live lab (`RaftPanel.live(fetch)`, where `fetch()` returns rows shaped
like `swarmlab raft status --format json`: Node, State, Term, Commit, Applied,
LastIndex, Leader; each click on "refresh" appends one frame). Nothing runs in
the background: the play button is the browser's `Play` widget moving the
slider, and every change happens inside a widget callback, so no output
appears after a cell has returned.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Callable, Sequence

import ipywidgets as W

from ..scenarios import ScenarioRun, run as run_scenario
from ..viz._style import STATE_COLORS, term_color
from ..viz.election import election_figure
from ..viz.replay import Frame, changes_only, replay, status_rows

Fetch = Callable[[], Sequence[dict]]
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
    #: the term of every log entry, by node name (None: unknown, e.g. a live lab)
    logs: dict[str, tuple[int, ...]] | None = None
    notes: tuple[str, ...] = field(default=())


def frames_from_trace(frames: Sequence[Frame]) -> list[PanelFrame]:
    return [PanelFrame(f.time, tuple(status_rows(f)),
                       {r["Node"]: n.log for r, n in zip(status_rows(f), f.nodes)}, f.notes)
            for f in frames]


def frame_from_status(rows: Sequence[dict], time: float) -> PanelFrame:
    """A live lab's status rows as one frame (extra keys are ignored)."""
    missing = [c for c in COLUMNS if any(c not in r for r in rows)]
    if missing:
        raise ValueError(f"status rows lack {', '.join(missing)}")
    return PanelFrame(time, tuple({c: r[c] for c in COLUMNS} for r in rows))


class RaftPanel:
    def __init__(self, frames: Sequence[PanelFrame] = (), seed: int = 1,
                 fetch: Fetch | None = None, clock: Callable[[], float] | None = None,
                 figure: bool = False) -> None:
        """`figure=True` also shows the election animation of each scenario played."""
        self.frames: list[PanelFrame] = list(frames)
        self.seed = seed
        self.with_figure = figure
        self.fetch = fetch
        self._clock = clock
        self.run: ScenarioRun | None = None
        self._build()
        self._show()

    # -- constructors ----------------------------------------------------------
    @classmethod
    def from_run(cls, run: ScenarioRun, **kw) -> "RaftPanel":
        panel = cls(seed=run.seed, **kw)
        panel.load_run(run)
        return panel

    @classmethod
    def scenario(cls, name: str, seed: int = 1) -> "RaftPanel":
        return cls.from_run(run_scenario(name, seed))

    @classmethod
    def live(cls, fetch: Fetch, clock: Callable[[], float] | None = None) -> "RaftPanel":
        """A panel fed by a live lab: each refresh calls `fetch()` once."""
        panel = cls(fetch=fetch, clock=clock)
        panel.refresh()
        return panel

    # -- actions ---------------------------------------------------------------
    def load_run(self, run: ScenarioRun) -> None:
        self.run = run
        self.frames = frames_from_trace(changes_only(replay(run.events, marks=run.marks)))
        self._set_range(0)
        if self.with_figure:
            fig = election_figure(run.events, run.marks, title=run.name.capitalize(),
                                  show_heartbeats=False)
            self.figure.outputs = (_mime(fig),)

    def play(self, name: str) -> ScenarioRun:
        """Run a scenario on the simulator with the panel's seed and show it."""
        r = run_scenario(name, seed=int(self.seed_box.value))
        self.load_run(r)
        return r

    def refresh(self) -> PanelFrame:
        """Poll the live lab once and show the new frame."""
        if self.fetch is None:
            raise RuntimeError("this panel replays a trace; it has no live source")
        t = self._clock() if self._clock else float(len(self.frames))
        frame = frame_from_status(list(self.fetch()), t)
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

    # -- widgets ---------------------------------------------------------------
    def _build(self) -> None:
        self.slider = W.IntSlider(0, 0, 0, description="frame", continuous_update=True,
                                  layout=W.Layout(width="60%"))
        self.player = W.Play(value=0, min=0, max=0, interval=400, description="play")
        W.jslink((self.player, "value"), (self.slider, "value"))
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
        parts = [W.HBox(controls, layout=W.Layout(flex_flow="row wrap")),
                 W.HBox([self.player, self.slider]), self.view]
        self.widget = W.VBox(parts + ([self.figure] if self.with_figure else []))

    def _set_range(self, value: int) -> None:
        top = max(0, len(self.frames) - 1)
        self.slider.max = self.player.max = top
        if self.slider.value == value:
            self._show()
        self.slider.value = value

    def _show(self) -> None:
        self.view.value = self.html()

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


def _mime(fig) -> dict:
    """A plotly figure as a display output, set on an Output widget from a callback
    (no `display()` call, so nothing depends on where the callback runs)."""
    return {"output_type": "display_data", "metadata": {},
            "data": {"application/vnd.plotly.v1+json": json.loads(fig.to_json()),
                     "text/plain": f"<plotly figure: {len(fig.frames)} frames>"}}


def render(frame: PanelFrame | None) -> str:
    """The frame as an HTML table (also usable without widgets)."""
    if frame is None:
        return "<i>no frame yet</i>"
    head = "".join(f"<th style='padding:2px 8px'>{c}</th>" for c in COLUMNS[:3] + ("Log",)
                   + COLUMNS[3:])
    body = "".join(_row(r, frame) for r in frame.rows)
    notes = html.escape(" · ".join(frame.notes))
    return (f"<div style='font-family:monospace'><b>t = {frame.time:.3f} s</b> "
            f"<span style='color:#b03a2e'>{notes}</span><table>{head}{body}</table></div>")


def _row(r: dict, frame: PanelFrame) -> str:
    color = STATE_COLORS.get(str(r["State"]), "#999")
    state = (f"<span style='background:{color};color:white;padding:1px 6px;"
             f"border-radius:4px'>{html.escape(str(r['State']))}</span>")
    terms = frame.logs.get(r["Node"]) if frame.logs is not None else None
    cells = [html.escape(str(r[c])) for c in COLUMNS]
    tds = cells[:1] + [state] + cells[2:3] + [_log_cells(r, terms)] + cells[3:]
    return "<tr>" + "".join(f"<td style='padding:2px 8px'>{c}</td>" for c in tds) + "</tr>"


def _log_cells(r: dict, terms: tuple[int, ...] | None) -> str:
    """One small box per entry, coloured by term; committed entries framed in black."""
    n = int(r["LastIndex"])
    terms = terms if terms is not None else (0,) * n
    boxes = []
    for idx, t in enumerate(terms[:n], start=1):
        border = "#111" if idx <= int(r["Commit"]) else "#ccc"
        boxes.append(f"<span title='index {idx}, term {t}' style='display:inline-block;"
                     f"width:18px;text-align:center;margin:1px;color:white;"
                     f"background:{term_color(t)};border:2px solid {border}'>"
                     f"{t if t else ''}</span>")
    return "".join(boxes) or "<i>empty</i>"
