"""Snapshots, the recorder, the swarm figures, the cluster view and the checks' hints,
without a browser: pure parts on API documents, then one short live lab."""
from __future__ import annotations

import threading
import time

import pytest

from swarmlab import check
from swarmlab.check._core import Result, run
from swarmlab.viz.swarm import (
    ClusterSnapshot, NodeCard, Recorder, TaskCard, changed_frames, drain_figure,
    rolling_update_figure, snapshot_from_api, task_color,
)
from swarmlab.widgets.cluster import ClusterView, render_cluster


def api_node(i: int, role: str = "worker", availability: str = "active", state: str = "ready",
             leader: bool = False) -> dict:
    doc = {"ID": f"id{i}", "Description": {"Hostname": f"node{i}"},
           "Spec": {"Role": role, "Availability": availability, "Labels": {}},
           "Status": {"State": state}}
    if role == "manager":
        doc["ManagerStatus"] = {"Leader": leader, "Reachability": "reachable"}
    return doc


def api_task(tid: str, node: int | None, slot: int, image: str = "swarmlab/web:1",
             state: str = "running", desired: str = "running", service: str = "s1") -> dict:
    return {"ID": tid, "ServiceID": service, "Slot": slot, "NodeID": f"id{node}" if node else "",
            "DesiredState": desired, "Status": {"State": state},
            "Spec": {"ContainerSpec": {"Image": image + "@sha256:abc"}}}


SERVICES = [{"ID": "s1", "Spec": {"Name": "www"}}]


def test_snapshot_from_api_places_tasks_and_drops_history():
    nodes = [api_node(1, "manager", leader=True), api_node(2), api_node(10, state="down")]
    tasks = [api_task("a", 2, 1), api_task("b", 1, 2, "swarmlab/web:2"),
             api_task("c", 2, 3, state="shutdown", desired="shutdown"),  # history: no card
             api_task("d", None, 4, state="pending")]
    s = snapshot_from_api(nodes, tasks, SERVICES, 5.0, names=["node1", "node2", "node10", "node11"])
    assert [n.name for n in s.nodes] == ["node1", "node2", "node10", "node11"]  # natural order
    assert s.node("node1").leader and s.node("node10").down and s.node("node11").state == "unknown"
    assert [t.label for t in s.node("node2").tasks] == ["www.1"]
    assert s.node("node1").tasks[0].version == "2" and s.node("node1").tasks[0].image == "swarmlab/web:2"
    assert [t.id for t in s.pending] == ["d"]
    assert s.where("www") == {"node1": 1, "node2": 1, "node10": 0, "node11": 0}
    assert s.versions("www") == {"1": 1, "2": 1}


def snap(t: float, layout: dict[str, list[str]], drained: str = "") -> ClusterSnapshot:
    """layout: node -> versions of its www tasks."""
    nodes = tuple(NodeCard(name, "worker", "drain" if name == drained else "active", "ready",
                           tasks=tuple(TaskCard(f"{name}-{k}-{v}", "www", k + 1,
                                                f"swarmlab/web:{v}", "running", "running")
                                       for k, v in enumerate(vs)))
                  for name, vs in layout.items())
    return ClusterSnapshot(t, nodes)


DRAIN = [snap(0.0, {"node1": ["1"], "node2": ["1", "1"], "node3": ["1"]}),
         snap(0.2, {"node1": ["1"], "node2": ["1", "1"], "node3": ["1"]}, "node2"),
         snap(0.4, {"node1": ["1"], "node2": ["1", "1"], "node3": ["1"]}, "node2"),
         snap(0.6, {"node1": ["1", "1"], "node2": [], "node3": ["1", "1"]}, "node2")]


def test_changed_frames_keep_only_visible_changes():
    assert [s.time for s in changed_frames(DRAIN)] == [0.0, 0.2, 0.6]


def test_drain_figure_is_deterministic_and_shows_the_move():
    a, b = drain_figure(DRAIN, "node2"), drain_figure(DRAIN, "node2")
    assert a.to_json() == b.to_json()
    assert len(a.frames) == 3
    xs_first, xs_last = a.frames[0].data[0].x, a.frames[-1].data[0].x
    assert list(xs_first).count(1) == 2 and list(xs_last).count(1) == 0  # node2 is column 1
    assert "drain" in a.frames[1].layout.annotations[2].text


def test_rolling_update_figure_has_a_timeline_per_version():
    snaps = [snap(0, {"n1": ["1", "1"], "n2": ["1", "1"]}),
             snap(1, {"n1": ["2", "1"], "n2": ["2", "1"]}),
             snap(3, {"n1": ["2", "1"], "n2": ["2", "1"]}),   # the delay: nothing changes
             snap(4, {"n1": ["2", "2"], "n2": ["2", "2"]})]
    fig = rolling_update_figure(snaps, "www")
    # a frame every 0.5 s of recorded time: the 2 s delay plays as 4 frames of no change
    assert [float(f.name) for f in fig.frames] == list(range(9)) and len(fig.data) == 3
    assert [s["label"] for s in fig.layout.sliders[0].steps][:3] == ["0.0", "0.5", "1.0"]
    last = fig.frames[-1].data
    assert list(last[1].y) == [4, 4, 2, 2, 2, 2, 2, 2, 0]
    assert list(last[2].y) == [0, 0, 2, 2, 2, 2, 2, 2, 4]
    # v1 and v2 clearly apart, named in a legend; no fixed width (it takes the page's)
    v1, v2 = last[1].line.color, last[2].line.color
    assert v1 != v2 and (last[1].name, last[2].name) == ("v1", "v2")
    assert fig.layout.showlegend and fig.layout.width is None and fig.layout.autosize
    assert set(fig.frames[-1].data[0].marker.color) == {v2}
    assert task_color("www", "1") != task_color("www", "2")


def test_uniform_frames_take_the_latest_snapshot_at_each_step():
    from swarmlab.viz.swarm import uniform_frames
    snaps = [snap(0, {"n1": ["1"]}), snap(0.7, {"n1": ["2"]}), snap(1.2, {"n1": ["2"]})]
    out = uniform_frames(snaps, 0.5)
    assert [round(s.time, 3) for s in out] == [0, 0.5, 1.0, 1.2]
    assert [s.versions("www") for s in out] == [{"1": 1}, {"1": 1}, {"2": 1}, {"2": 1}]
    assert len(uniform_frames([snap(k * 0.1, {"n1": ["1"]}) for k in range(5000)], 0.1)) <= 151


def test_recorder_polls_until_stopped_and_leaves_no_thread():
    calls = []

    def fetch():
        calls.append(1)
        return DRAIN[0]
    r = Recorder(fetch, interval=0.01).start()
    time.sleep(0.15)
    got = r.stop()
    assert len(got) >= 5 and len(got) == len(calls)
    assert not any(t.name == "swarmlab-recorder" for t in threading.enumerate())
    n = len(calls)
    time.sleep(0.05)
    assert len(calls) == n  # nothing polls after stop()


class FakeLab:
    nodes = ["node1", "node2", "node3"]


def test_cluster_view_refresh_and_watch_with_a_fake_source():
    seq = iter(DRAIN)
    view = ClusterView(FakeLab(), fetch=lambda: next(seq), interval=0.0)
    assert "node2" in view.view.value and view.view.value.count("swarmlab-task") == 4
    seen = view.watch(lambda s: s.where("www")["node2"] == 0, timeout=2)
    assert len(seen) == 3 and "drain" in view.view.value
    html = render_cluster(ClusterSnapshot(0, (NodeCard("node9", state="down"),)))
    assert "#c0392b" in html  # a down node is red


class FakeAPI:
    def __init__(self, services=(), nodes=(), tasks=()):
        self._s, self._n, self._t = list(services), list(nodes), list(tasks)

    def services(self, filters=None):
        return self._s

    def nodes(self):
        return self._n

    def tasks(self, filters=None):
        return self._t


class FakeClientLab:
    def __init__(self, api):
        self.api = api

    def client(self):
        return self


def service(name: str, replicas: int) -> dict:
    return {"ID": name, "Spec": {"Name": name, "Mode": {"Replicated": {"Replicas": replicas}},
                                 "TaskTemplate": {"ContainerSpec": {"Image": "swarmlab/web:1"}}}}


def test_checks_fail_at_once_with_a_hint_when_nothing_was_done():
    lab = FakeClientLab(FakeAPI(services=[service("www", 3)]))
    t = time.monotonic()
    with pytest.raises(AssertionError, match=r"www asks for 3 replicas, not 8: the replica count") as e:
        check.replicas("www", 8, lab=lab, wait=5)
    # the command only on request, and it is the one that works when pasted
    assert "docker service scale" not in str(e.value)
    assert e.value.command.startswith("`docker service scale www=8` (here: `swarmlab service scale www=8`)")
    with pytest.raises(AssertionError, match="no service named api"):
        check.service_has_secret("api", "password", lab=lab, wait=5)
    assert time.monotonic() - t < 1  # not pending: no waiting


def test_show_command_prints_the_last_failed_checks_command(capsys):
    lab = FakeClientLab(FakeAPI(services=[service("www", 3)]))
    with pytest.raises(check.CheckFailed):
        check.replicas("www", 8, lab=lab, wait=1)
    check.show_command()
    assert "docker service scale www=8" in capsys.readouterr().out


def test_checks_wait_while_the_cluster_converges():
    states = iter([Result(False, "converging", pending=True)] * 2 + [Result(True, "done")])
    assert run(lambda api: next(states), lab=FakeClientLab(None), wait=5).ok
    with pytest.raises(AssertionError, match="still converging"):
        run(lambda api: Result(False, "still converging", pending=True), FakeClientLab(None), 0.5)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_live_drain_from_the_view(tmp_path, monkeypatch):
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "home"))
    from swarmlab.widgets.live import fresh_lab, snapshot
    lab = fresh_lab("view", managers=1, workers=2)
    try:
        c = lab.client()
        c.services.create("swarmlab/web:1", name="www", mode={"Replicated": {"Replicas": 4}})
        check.replicas("www", 4, lab=lab)
        view = ClusterView(lab, interval=0.15)
        assert sum(view.current.where("www").values()) == 4
        seen = view.act("drain", "node2")
        assert seen[-1].node("node2").tasks == () and seen[-1].node("node2").availability == "drain"
        assert view.figure.outputs and "plotly" in str(view.figure.outputs[0]["data"].keys())
        check.drained("node2", lab=lab)
        check.replicas("www", 4, lab=lab)
        assert snapshot(lab).where("www")["node2"] == 0
    finally:
        lab.down()


def test_before_swarm_init_the_view_says_no_swarm_yet_not_errors():
    s = ClusterSnapshot(0, tuple(NodeCard(f"node{i}", state="no swarm") for i in (1, 2, 3)),
                        error="node1: This node is not a swarm manager.")
    html = render_cluster(s)
    assert "no swarm yet" in html and "no manager answered" not in html and "#c0392b" not in html


def test_tasks_of_a_node_the_managers_see_down_are_drawn_lost():
    from swarmlab.viz.swarm import TaskCard
    t = TaskCard("t1", "www", 1, "swarmlab/web:1", "running", "running")
    html = render_cluster(ClusterSnapshot(0, (NodeCard("node2", state="down", tasks=(t,)),
                                              NodeCard("node1", state="ready", tasks=(t,)))))
    assert html.count("data-state='lost'") == 1 and "lost: its node is down" in html


def test_a_button_on_a_lab_that_is_gone_says_so_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "home"))
    from swarmlab.lab.registry import LabRecord, NodeRecord

    class GoneLab:
        nodes = ["node1"]
        record = LabRecord("gone", nodes=[NodeRecord("node1", "127.0.0.1", api_port=9)])

        def client(self):
            raise AssertionError("a gone lab must not be asked")
    view = ClusterView(GoneLab(), fetch=lambda: DRAIN[0], interval=0.0)
    t = time.monotonic()
    view.click("drain")
    assert "the lab gone is gone" in view.status.value and time.monotonic() - t < 1
    GoneLab.record.save()  # the record is there, but no node answers
    view.click("kill")
    assert "no node of the lab gone answers" in view.status.value


def test_a_failed_action_says_why_under_the_buttons():
    class Broken(FakeLab):
        def kill(self, node):
            raise RuntimeError("node1 is not a node of this lab")
    view = ClusterView(Broken(), fetch=lambda: DRAIN[0], interval=0.0)
    view.click("kill")
    assert view.status.value.endswith("failed: node1 is not a node of this lab")
    assert "start" in view.buttons and list(view.buttons).index("start") == list(view.buttons).index("kill") + 1


def test_a_removed_service_runs_no_task():
    """dockerd answers a task filter naming no service with 404: running() is then empty."""
    import requests

    import docker
    from swarmlab.notebook import running

    class Gone(FakeAPI):
        def tasks(self, filters=None):
            response = requests.Response()
            response.status_code = 404
            raise docker.errors.NotFound("service agent not found", response=response)
    assert running("agent", lab=FakeClientLab(Gone())) == []
