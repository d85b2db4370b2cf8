"""Quorum arithmetic and its chart: how many manager failures a swarm tolerates.

Raft needs a majority (a quorum of floor(N/2)+1) of the managers to elect a
leader and commit anything, so N managers tolerate floor((N-1)/2) failures:
3 tolerate 1, 4 still only 1, 5 tolerate 2, 7 tolerate 3. Spread over
datacenters, a split survives the loss of a whole datacenter when the managers
left elsewhere still make a quorum (7 managers as 3-2-2: yes; 4-2-1: no).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots


def quorum(managers: int) -> int:
    """Managers that must be up for the swarm to make decisions."""
    if managers < 1:
        raise ValueError("a swarm has at least one manager")
    return managers // 2 + 1


def tolerated(managers: int) -> int:
    """Manager failures the swarm survives."""
    return managers - quorum(managers)


@dataclass(frozen=True, slots=True)
class SplitOutcome:
    split: tuple[int, ...]
    left_after_worst_loss: int  # managers left when the biggest datacenter is lost
    quorum: int

    @property
    def survives_any_datacenter_loss(self) -> bool:
        return self.left_after_worst_loss >= self.quorum


def datacenter_split(split: Sequence[int]) -> SplitOutcome:
    total = sum(split)
    return SplitOutcome(tuple(split), total - max(split), quorum(total))


def splits(total: int, datacenters: int) -> list[tuple[int, ...]]:
    """Every way to spread `total` managers over `datacenters` (largest first)."""
    def parts(left: int, k: int, cap: int) -> list[tuple[int, ...]]:
        if k == 1:
            return [(left,)] if left <= cap else []
        return [(p,) + rest for p in range(min(left, cap), -1, -1)
                for rest in parts(left - p, k - 1, p)]
    return parts(total, datacenters, total)


def quorum_figure(max_managers: int = 7, total: int = 7, datacenters: int = 3) -> go.Figure:
    """Left: failures tolerated by 1..max_managers managers. Right: which spreads of
    `total` managers over `datacenters` survive the loss of any one datacenter."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], subplot_titles=(
        "Managers vs failures tolerated",
        f"{total} managers over {datacenters} datacenters: lose the biggest one"))
    ns = list(range(1, max_managers + 1))
    fig.add_trace(go.Bar(x=ns, y=[quorum(n) for n in ns], name="quorum (majority)",
                         marker_color="#8fa9c4"), row=1, col=1)
    fig.add_trace(go.Bar(x=ns, y=[tolerated(n) for n in ns], name="failures tolerated",
                         marker_color="#2e9e5b", text=[tolerated(n) for n in ns],
                         textposition="outside"), row=1, col=1)
    outcomes = [datacenter_split(s) for s in splits(total, datacenters)]
    fig.add_trace(go.Bar(
        x=["-".join(map(str, o.split)) for o in outcomes],
        y=[o.left_after_worst_loss for o in outcomes], name="managers left",
        marker_color=["#2e9e5b" if o.survives_any_datacenter_loss else "#c0392b"
                      for o in outcomes],
        text=["survives" if o.survives_any_datacenter_loss else "no quorum"
              for o in outcomes], textposition="outside"), row=1, col=2)
    fig.add_hline(y=quorum(total), line_dash="dash", line_color="#333", row=1, col=2,
                  annotation_text=f"quorum {quorum(total)}", annotation_position="top left")
    fig.update_xaxes(title_text="managers", dtick=1, row=1, col=1)
    fig.update_xaxes(title_text="managers per datacenter", row=1, col=2)
    fig.update_yaxes(range=[0, max(max_managers, total) // 2 + 3], row=1, col=1)
    fig.update_yaxes(range=[0, total + 1], row=1, col=2)
    fig.update_layout(barmode="group", height=430, autosize=True, plot_bgcolor="white",
                      title="Fault tolerance of the managers (Raft quorum)",
                      legend=dict(orientation="h", y=-0.2))
    return fig
