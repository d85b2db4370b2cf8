"""The Raft panel: replays scenarios, runs them from buttons, and takes live status rows."""
from __future__ import annotations

import html
import time

import ipywidgets as W
import pytest

from swarmlab.scenarios import run
from swarmlab.widgets import BUTTONS, RaftPanel, frame_from_status, render


def test_panel_replays_a_scenario_with_the_slider():
    p = RaftPanel.scenario("kill-the-leader", seed=2)
    assert p.index == 0 and p.slider.max == len(p.frames) - 1 > 5
    first = p.html()
    p.slider.value = p.slider.max
    last = p.html()
    assert first != last and ">down</span>" not in first
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


def test_panel_with_figure_shows_the_figure_of_each_scenario_played():
    p = RaftPanel(figure=True)
    assert p.figure in p.widget.children and p.figure.outputs == ()
    next(b for b in p.buttons if b.description == "Kill the leader").click()
    (out,) = p.figure.outputs
    fig = out["data"]["application/vnd.plotly.v1+json"]
    assert fig["layout"]["title"]["text"].startswith("Kill the leader")
    assert "width" not in fig["layout"] and fig["layout"]["autosize"]
    assert p.figure not in RaftPanel().widget.children


def _plays(widget):
    out = []
    if isinstance(widget, W.Play):
        out.append(widget)
    for c in getattr(widget, "children", ()):
        out += _plays(c)
    return out


def test_table_and_figure_share_one_player():
    p = RaftPanel.scenario("kill-the-leader", seed=1, figure=True)
    assert _plays(p.widget) == [p.player]  # one player; the figure has no controls
    (out,) = p.figure.outputs
    assert "sliders" not in out["data"]["application/vnd.plotly.v1+json"]["layout"]
    for k in (0, 10, len(p.frames) - 1):
        p.slider.value = k
        f = p.frames[k]
        (out,) = p.figure.outputs
        fig = out["data"]["application/vnd.plotly.v1+json"]
        assert f"t = {f.time:.2f} s" in fig["layout"]["title"]["text"]
        assert f"t = {f.time:.3f} s" in p.html() and p.clock_label.value == f"t = {f.time:.2f} s"
        states = {r["Node"]: r["State"] for r in f.rows}
        texts = fig["data"][0]["text"]
        assert [("down" in t) for t in texts] == [s == "down" for s in states.values()]
        assert f.caption and html.escape(f.caption) in p.html()


def test_table_shows_timers_in_seconds_and_the_last_dozen_entries():
    p = RaftPanel.scenario("first-election", seed=1)
    assert "Timer" in p.html() and " s</td>" in p.html()
    rows = [{"Node": "node1", "State": "leader", "Term": 3, "Commit": 18, "Applied": 18,
             "LastIndex": 20, "Leader": "node1"}]
    docs = [{"kind": "state", "node": "node1", "term": 2, "time": 1.0, "state": "leader"},
            {"kind": "append", "node": "node1", "term": 2, "time": 1.1, "first": 1, "last": 15},
            {"kind": "state", "node": "node1", "term": 3, "time": 2.0, "state": "leader"},
            {"kind": "append", "node": "node1", "term": 3, "time": 2.1, "first": 16, "last": 20}]
    live = RaftPanel.live(lambda: rows, trace=lambda: docs)
    cell = live.html()
    assert cell.count("title='index") == 12 and "…" in cell
    assert "title='index 9, term 2'" in cell and "title='index 20, term 3'" in cell
    assert "title='index 8," not in cell


def _follower(p):
    f = p.current
    leader = next(r["Node"] for r in f.rows if r["State"] == "leader")
    return leader, next(r["Node"] for r in f.rows if r["State"] == "follower")


def test_stopping_a_follower_changes_the_story_and_restarting_it_rejoins():
    p = RaftPanel.scenario("kill-the-leader", seed=1, figure=True)
    before = p.run
    p.slider.value = k = 25  # node1 leads, nobody is down yet
    leader, follower = _follower(p)
    stop = next(b for b in p.node_buttons.children if b.description == f"stop {follower}")
    t0 = time.monotonic()
    stop.click()
    assert time.monotonic() - t0 < 3.0  # responsive
    assert p.index == k and p.run is not before
    # the same story up to the click, then the follower is down and answers nothing
    assert p.frames[k].rows == before_frames(before)[k].rows
    fid = int(follower.removeprefix("node"))
    (crash,) = [e for e in p.run.events if e.kind == "crash"]
    assert crash.node == fid and abs(crash.time - p.frames[k + 1].time) < 1e-6
    later = [f for f in p.frames if f.time > crash.time]
    assert all(r["State"] == "down" for f in later for r in f.rows if r["Node"] == follower)
    assert not [e for e in p.run.events if e.node == fid and e.time > crash.time]
    assert any("you stopped" in n for f in p.frames for n in f.notes)
    # restart it a second later: it rejoins, follows the leader and catches up
    p.slider.value = k2 = k + 20
    restart = next(b for b in p.node_buttons.children if b.description == f"restart {follower}")
    restart.click()
    final = {r["Node"]: r for r in p.frames[-1].rows}
    assert final[follower]["State"] == "follower" and final[follower]["Leader"] == leader
    assert final[follower]["Commit"] == final[leader]["Commit"]
    assert p.index == k2


def before_frames(run):
    from swarmlab.widgets.raft_panel import frames_from_trace
    from swarmlab.viz import replay
    return frames_from_trace(replay(run.events, marks=run.marks, tick_s=run.tick_s))


def test_dropping_a_message_changes_the_story():
    p = RaftPanel.scenario("first-election", seed=1, figure=True)
    k = next(k for k, f in enumerate(p.drawing.frames)
             if any(a.type == "VOTE" for a in f.arrows))
    p.slider.value = k
    label, value = next((lab, v) for lab, v in p.message_menu.options if v[2] == "VOTE")
    p.message_menu.value = value
    p.drop_button.click()
    assert p.index == k
    f = p.drawing.frames[k]
    lost = [a for a in f.arrows if (a.src, a.dst, a.type) == value]
    assert lost and lost[0].dropped
    assert any(e.kind == "net" and e.fields["action"] == "drop" for e in p.run.events)


def test_live_panel_times_are_seconds_since_the_first_refresh():
    rows = [{"Node": "node1", "State": "leader", "Term": 1, "Commit": 1, "Applied": 1,
             "LastIndex": 1, "Leader": "node1"}]
    p = RaftPanel.live(lambda: rows)
    assert p.current.time == 0.0
    time.sleep(0.05)
    p.refresh()
    assert 0.04 <= p.current.time < 5 and "t = 0.0" in p.html()


def test_a_dropped_heartbeat_does_not_refill_the_followers_timer():
    p = RaftPanel.scenario("first-election", seed=1, figure=True)
    frames = p.drawing.frames
    k = next(k for k, f in enumerate(frames) if f.leaders and k > 3
             and any(a.type == "HEARTBEAT" for a in f.arrows))
    p.slider.value = k
    hb = next(v for _, v in p.message_menu.options if v[2] == "HEARTBEAT")
    before = frames[k].node(hb[1]).timer
    p.drop(*hb)
    new = p.drawing.frames
    assert [f.time for f in new[:k + 1]] == [f.time for f in frames[:k + 1]]
    assert new[:k] == frames[:k]  # the same story up to the frame of the drop
    assert [a for a in new[k].arrows if a.dropped] == [
        a for a in new[k].arrows if (a.src, a.dst, a.type) == hb]
    after = new[k].node(hb[1]).timer
    assert after < before  # it ran on: nothing reset it in this frame
    assert "is lost" in new[k].caption
