"""The Raft panel: replays scenarios, runs them from buttons, and takes live status rows."""
from __future__ import annotations

import pytest

from swarmlab.scenarios import run
from swarmlab.widgets import BUTTONS, RaftPanel, frame_from_status, render


def test_panel_replays_a_scenario_with_the_slider():
    p = RaftPanel.scenario("kill-the-leader", seed=2)
    assert p.index == 0 and p.slider.max == len(p.frames) - 1 > 5
    first = p.html()
    p.slider.value = p.slider.max
    last = p.html()
    assert first != last and "down" not in first
    old, new = p.run.facts["old_leader"], p.run.facts["new_leader"]
    rows = {r["Node"]: r for r in p.current.rows}
    assert rows[f"node{new}"]["State"] == "leader"
    assert rows[f"node{old}"]["Leader"] == f"node{new}"


def test_scenario_buttons_run_on_the_simulator_with_the_seed():
    p = RaftPanel()
    assert p.frames == [] and "no frame" in p.html()
    p.seed_box.value = 4
    button = next(b for b in p.buttons if b.description == "Align timers (split vote)")
    button.click()
    assert p.run.name == "split vote" and p.run.seed == 4
    again = run(BUTTONS[button.description], 4)
    assert [e.time for e in p.run.events] == [e.time for e in again.events]
    assert p.index == 0 and len(p.frames) > 3


def test_live_panel_polls_its_source_on_refresh():
    status = [{"Node": "node1", "State": "leader", "Term": 2, "Commit": 3, "Applied": 3,
               "LastIndex": 4, "Leader": "node1"},
              {"Node": "node2", "State": "follower", "Term": 2, "Commit": 3, "Applied": 2,
               "LastIndex": 4, "Leader": "node1"}]
    calls = []

    def fetch():
        calls.append(1)
        return status

    p = RaftPanel.live(fetch)
    assert len(calls) == 1 and p.refresh_button in p.widget.children[0].children
    status = [dict(status[0], Term=3), dict(status[1], State="candidate", Term=3)]
    p.refresh_button.click()
    assert len(calls) == 2 and p.index == 1
    assert p.current.rows[1]["State"] == "candidate" and "candidate" in p.html()


def test_status_rows_must_have_the_raft_status_columns():
    with pytest.raises(ValueError, match="LastIndex"):
        frame_from_status([{"Node": "n1", "State": "leader", "Term": 1, "Commit": 0,
                            "Applied": 0, "Leader": "n1"}], 0.0)


def test_replay_panel_has_no_live_source():
    with pytest.raises(RuntimeError):
        RaftPanel().refresh()
    assert "no frame" in render(None)


def test_panel_with_figure_shows_the_animation_of_each_scenario_played():
    p = RaftPanel(figure=True)
    assert p.figure in p.widget.children and p.figure.outputs == ()
    next(b for b in p.buttons if b.description == "Kill the leader").click()
    (out,) = p.figure.outputs
    fig = out["data"]["application/vnd.plotly.v1+json"]
    assert len(fig["frames"]) > 10 and fig["layout"]["title"]["text"].startswith("Kill the leader")
    assert p.figure not in RaftPanel().widget.children
