"""Figures from traces: frames and traces as expected, deterministic, faithful to the run."""
from __future__ import annotations

import json

import pytest

from swarmlab.scenarios import run
from swarmlab.viz import (
    STATES, changes_only, datacenter_split, election_figure, log_figure, quorum, quorum_figure,
    replay, splits, status_rows, tolerated,
)
from swarmlab.viz._style import DOWN_EDGE, DOWN_FILL, MESSAGE_LABELS
from swarmlab.viz.election import positions


@pytest.fixture(scope="module")
def killed():
    return run("kill-the-leader", 1)


def test_replay_ends_where_the_cluster_ended(killed):
    last = replay(killed.events)[-1]
    for n in last.nodes:
        s = killed.final[n.id]
        assert (n.state, n.term, n.last_index, n.commit, n.applied) == (
            s["role"], s["term"], s["last_index"], s["commit"], s["applied"])
        assert n.leader == s["leader"]


@pytest.mark.parametrize("name", ["partition-minority", "log-replication", "split-vote"])
def test_replay_final_frame_matches_every_scenario(name):
    r = run(name, 2)
    rows = {row["Node"]: row for row in status_rows(replay(r.events)[-1])}
    for i, s in r.final.items():
        row = rows[f"node{i}"]
        assert (row["State"], row["Term"], row["LastIndex"], row["Commit"]) == (
            s["role"], s["term"], s["last_index"], s["commit"])
        assert row["Leader"] == (f"node{s['leader']}" if s["leader"] else "")


def test_replay_shows_the_killed_leader_down_and_the_election_in_steps(killed):
    frames = replay(killed.events, marks=killed.marks)
    old = killed.facts["old_leader"]
    kill = next(k for k, f in enumerate(frames) if any("killed" in n for n in f.notes))
    assert frames[kill].node(old).state == "down"
    seen = [f.node(killed.facts["new_leader"]).state for f in frames[kill:]]
    # the new leader went through pre-vote and candidacy in separate frames
    assert seen.index("pre-candidate") < seen.index("candidate") < seen.index("leader")
    assert all(f.time <= g.time for f, g in zip(frames, frames[1:]))


def test_replay_marks_all_land_in_frames(killed):
    frames = replay(killed.events, marks=killed.marks)
    assert [n for f in frames for n in f.notes] == [m.text for m in killed.marks]


def test_election_figure_has_one_frame_per_replay_frame(killed):
    fig = election_figure(killed.events, killed.marks)
    frames = replay(killed.events, marks=killed.marks)
    # seed 1, today's Raft core; silences get a quiet frame every 50 ms (timers run down)
    assert len(fig.frames) == len(frames) == 92
    # nodes, timers, message handles; a legend entry per state, for the timer, per
    # message family, "rejected" and "lost"
    assert len(fig.data) == 3 + len(STATES) + 1 + len(MESSAGE_LABELS) + 2
    assert len(fig.layout.sliders[0].steps) == len(fig.frames)
    # each frame draws one arrow per message sent in it (+ the caption; no cut here)
    for f, ff in zip(frames, fig.frames):
        assert len(ff.layout.annotations) == len(f.arrows) + 1
        assert len(ff.data[2].x) == len(f.arrows)
        colors = list(ff.data[0].marker.color)
        assert len(colors) == killed.n


def _arc_turns(trace, k):
    """How much of a full turn the k-th arc of a timers trace covers."""
    xs = list(trace.x if hasattr(trace, "x") else trace["x"])
    arcs, cur = [], 0
    for x in xs:
        if x is None:
            arcs.append(cur)
            cur = 0
        else:
            cur += 1
    return arcs[k]


def test_timers_run_down_between_frames_and_reset_on_heartbeats():
    r = run("first-election", 1)
    frames = replay(r.events, marks=r.marks, tick_s=r.tick_s)
    before = [f for f in frames if not f.leaders]
    # before any leader, every timer shrinks from frame to frame, and is in (0, 1]
    for f, g in zip(before[:8], before[1:9]):
        for a, b in zip(f.nodes, g.nodes):
            assert 0 < b.timer < a.timer <= 1
            assert abs((a.timer_s - b.timer_s) - (g.time - f.time)) < 1e-3
    # with a leader, a follower's timer goes back up when a heartbeat arrives
    leader = r.facts["leader"]
    follower = next(i for i in r.final if i != leader)
    led = [f for f in frames if f.leaders == [leader]]
    timers = [f.node(follower).timer for f in led]
    assert any(b > a for a, b in zip(timers, timers[1:]))
    assert min(timers) > 0.5  # heartbeats every 0.1 s: never close to running out
    assert all(f.node(leader).timer is None for f in led)  # a leader has no election timer
    # the figure's arcs: shorter when the timer is lower, one per follower or candidate
    fig = election_figure(r.events, r.marks, tick_s=r.tick_s)
    a, b = fig.frames[0].data[1], fig.frames[5].data[1]
    assert list(a.x).count(None) == list(b.x).count(None) == r.n
    assert _arc_turns(b, 0) < _arc_turns(a, 0)
    k = frames.index(led[0])
    assert list(fig.frames[k].data[1].x).count(None) == r.n - 1


def test_the_timer_in_seconds_follows_the_tick_length():
    r = run("first-election", 1)
    f50 = replay(r.events, tick_s=0.05)[0]
    f100 = replay(r.events, tick_s=0.1)[0]
    assert f100.nodes[0].timer_s > f50.nodes[0].timer_s


def test_a_killed_leader_stays_in_the_figure_marked_down(killed):
    fig = election_figure(killed.events, killed.marks, show_heartbeats=False)
    frames = replay(killed.events, marks=killed.marks)
    old = killed.facts["old_leader"]
    k = next(k for k, f in enumerate(frames) if f.node(old).state == "down")
    nodes = fig.frames[k].data[0]
    at = list(nodes.customdata).index(old)
    assert len(nodes.x) == killed.n  # still drawn, in its place
    assert "down" in nodes.text[at] and nodes.marker.color[at] == DOWN_FILL
    assert nodes.marker.line.color[at] == DOWN_EDGE
    assert "down" in frames[k].caption
    # messages sent to it are lost
    lost = [a for f in frames[k:] for a in f.arrows if a.dst == old and f.node(old).state == "down"]
    assert lost and all(a.dropped for a in lost)


def test_a_partition_is_drawn_as_a_cut_and_messages_across_it_as_lost():
    r = run("partition-minority", 1)
    frames = replay(r.events, marks=r.marks)
    fig = election_figure(r.events, r.marks)
    minority, majority = tuple(r.facts["minority"]), tuple(r.facts["majority"])
    cut = [k for k, f in enumerate(frames) if f.cut]
    assert cut and frames[cut[0]].cut == (minority, majority)
    heal = next(k for k, f in enumerate(frames) if "the network heals" in f.notes)
    assert cut == list(range(cut[0], heal))  # from the partition until it heals
    for k in (cut[0], heal - 1):
        (line,) = fig.frames[k].layout.shapes
        assert line.type == "line" and line.line.dash == "dash"
        # the line separates the two sides
        pos = positions([n.id for n in frames[0].nodes], frames[cut[0]].cut)

        def side(i):
            x, y = pos[i]
            return (line.x1 - line.x0) * (y - line.y0) - (line.y1 - line.y0) * (x - line.x0) > 0
        assert len({side(i) for i in minority}) == len({side(i) for i in majority}) == 1
        assert side(minority[0]) != side(majority[0])
        assert any(a.text == "network cut" for a in fig.frames[k].layout.annotations)
    assert not fig.frames[heal].layout.shapes
    across = [a for k in cut for a in frames[k].arrows
              if (a.src in minority) != (a.dst in minority)]
    assert across and all(a.dropped for a in across)
    inside = [a for k in cut for a in frames[k].arrows
              if (a.src in minority) == (a.dst in minority)]
    assert inside and not any(a.dropped for a in inside)
    # a lost message is drawn with an x at its handle
    k = next(k for k in cut if any(a.dropped for a in frames[k].arrows))
    assert "x" in list(fig.frames[k].data[2].marker.symbol)
    assert "cut" in frames[cut[0]].caption


@pytest.mark.parametrize("name", ["first-election", "kill-the-leader", "split-vote",
                                  "partition-minority", "log-replication"])
def test_every_frame_has_a_caption(name):
    r = run(name, 1)
    frames = replay(r.events, marks=r.marks)
    assert all(f.caption.strip() for f in frames)
    fig = election_figure(r.events, r.marks)
    assert all(ff.layout.annotations[-1 if not ff.layout.shapes else -2].text
               for ff in fig.frames)


def test_captions_say_why(killed):
    frames = replay(killed.events, marks=killed.marks)
    new = killed.facts["new_leader"]
    text = " ".join(f.caption for f in frames).lower()
    assert f"node{new}'s election timer ran out first" in text
    assert f"node{new} has the votes of a majority" in text
    assert "no more heartbeats" in text
    split = run("split-vote", 1)
    text = " ".join(f.caption for f in replay(split.events, marks=split.marks)).lower()
    assert "already voted for" in text


def test_the_election_figure_fits_the_page(killed):
    fig = election_figure(killed.events, killed.marks)
    assert fig.layout.width is None and fig.layout.autosize
    # a person can follow it: at least 0.2 s on screen for each 50 ms frame
    play = fig.layout.updatemenus[0].buttons[0].args[1]
    assert play["frame"]["duration"] >= 200


def test_election_figure_without_heartbeats_draws_fewer_arrows(killed):
    a = election_figure(killed.events, show_heartbeats=False)
    b = election_figure(killed.events)
    na = sum(len(f.layout.annotations) for f in a.frames)
    nb = sum(len(f.layout.annotations) for f in b.frames)
    assert na < nb


def test_figures_are_deterministic_for_a_seed():
    a, b = run("split-vote", 5), run("split-vote", 5)
    fa, fb = election_figure(a.events, a.marks), election_figure(b.events, b.marks)
    assert json.dumps(fa.to_plotly_json(), sort_keys=True, default=str) == \
        json.dumps(fb.to_plotly_json(), sort_keys=True, default=str)
    la, lb = log_figure(a.events), log_figure(b.events)
    assert la.to_plotly_json() == lb.to_plotly_json()


def test_log_figure_frames_and_cells():
    r = run("log-replication", 1)
    fig = log_figure(r.events, r.marks)
    frames = changes_only(replay(r.events, marks=r.marks))
    assert len(fig.frames) == len(frames) and len(fig.data) == 4
    last = fig.frames[-1].data
    cells = sum(n.last_index for n in frames[-1].nodes)
    assert len(last[0].x) == cells  # one cell per entry of every node
    leader = r.final[r.facts["leader"]]
    assert max(last[1].x) == leader["commit"] + 0.5  # the commit bar after the last committed


def test_log_figure_shows_the_minority_entry_replaced():
    r = run("partition-minority", 1)
    frames = changes_only(replay(r.events, marks=r.marks))
    old, new = r.facts["old_leader"], r.facts["new_leader"]
    heal = next(k for k, f in enumerate(frames) if "the network heals" in f.notes)
    before, after = frames[heal].node(old).log, frames[-1].node(old).log
    assert before[-1] < after[-1]  # the old term's uncommitted entry was overwritten
    assert after == frames[-1].node(new).log


def test_quorum_arithmetic():
    assert [(n, quorum(n), tolerated(n)) for n in (1, 3, 4, 5, 7)] == [
        (1, 1, 0), (3, 2, 1), (4, 3, 1), (5, 3, 2), (7, 4, 3)]
    assert datacenter_split((3, 2, 2)).survives_any_datacenter_loss
    assert not datacenter_split((4, 2, 1)).survives_any_datacenter_loss
    assert not datacenter_split((5, 1, 1)).survives_any_datacenter_loss
    assert (3, 2, 2) in splits(7, 3) and all(sum(s) == 7 for s in splits(7, 3))
    with pytest.raises(ValueError):
        quorum(0)


def test_quorum_figure():
    fig = quorum_figure()
    assert len(fig.data) == 3
    assert list(fig.data[1].y) == [0, 0, 1, 1, 2, 2, 3]
    split = dict(zip(fig.data[2].x, fig.data[2].text))
    assert split["3-2-2"] == "survives" and split["4-2-1"] == "no quorum"


def test_empty_trace_is_refused():
    with pytest.raises(ValueError):
        election_figure([])


def test_traces_recorded_as_json_replay_the_same(killed):
    as_json = json.loads(json.dumps([e.to_dict() for e in killed.events]))
    assert replay(as_json) == replay(killed.events)
    assert len(election_figure(as_json).frames) == len(replay(killed.events))


def test_a_live_trace_replays_like_the_simulators():
    """`Lab.trace()` names nodes by hostname and stamps wall-clock times."""
    from swarmlab.viz import election_figure, live_trace, replay
    t = 1_800_000_000.0
    docs = [
        {"kind": "state", "node": "node2", "term": 1, "tick": 9, "time": t - 5, "state": "follower"},
        {"kind": "state", "node": "node2", "term": 2, "tick": 10, "time": t, "state": "candidate"},
        {"kind": "send", "node": "node2", "term": 2, "tick": 10, "time": t + 0.001,
         "type": "VOTE", "dst": "node3"},
        {"kind": "vote", "node": "node3", "term": 2, "tick": 4, "time": t + 0.01, "to": "node2",
         "granted": True},
        {"kind": "state", "node": "node2", "term": 2, "tick": 11, "time": t + 0.02,
         "state": "leader", "leader": "node2"},
        {"kind": "state", "node": "mgr-a", "term": 2, "tick": 3, "time": t + 0.03, "state": "follower",
         "leader": "node2"},
    ]
    evs = live_trace(docs, since=t - 1)
    assert [e.time for e in evs] == [0.0, 0.001, 0.01, 0.02, 0.03]
    assert [e.node for e in evs] == [2, 2, 3, 2, 1001]
    assert evs[1].fields["dst"] == 3 and evs[2].fields["to"] == 2 and evs[4].fields["leader"] == 2
    assert {n.id: n.state for n in replay(evs)[-1].nodes}[2] == "leader"
    assert election_figure(evs, title="live").frames


def test_the_quorum_figure_fits_the_page():
    fig = quorum_figure()
    assert fig.layout.width is None and fig.layout.autosize


def test_a_killed_live_manager_is_drawn_down():
    from swarmlab.viz import live_trace
    t = 1_800_000_000.0
    docs = [
        {"kind": "state", "node": "node2", "term": 2, "tick": 10, "time": t + 0.6,
         "state": "candidate"},
        {"kind": "send", "node": "node2", "term": 2, "tick": 10, "time": t + 0.601,
         "type": "VOTE", "dst": "node1"},
    ]
    evs = live_trace(docs, since=t - 0.2, down={"node1": t})
    frames = replay(evs)
    assert frames[-1].node(1).state == "down"
    assert [a.dropped for a in frames[-1].arrows] == [True]
    fig = election_figure(evs)
    assert any("down" in text for text in fig.frames[-1].data[0].text)
