"""Which node a command talks to (lab registry, --node, --host), what `raft status`
shows, and how failures read. Nodes here are EngineAPIDouble servers (server-side
test doubles) registered as a lab."""
import json
import socket

import pytest

from swarmlab.cli import main
from swarmlab.lab.registry import LabRecord, NodeRecord

from .engine_double import EngineAPIDouble, node_json


def raft(node, state, leader, term=3, index=17):
    return {"Node": node, "State": state, "Term": term, "Commit": index, "Applied": index,
            "LastIndex": index, "Leader": leader}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """Lab "t": node1 a worker, node2 the leader, node3 a follower, node4 a manager that
    does not answer (its port is closed)."""
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path))
    monkeypatch.setenv("SWARMLAB_LAB", "t")
    doubles = {
        "node1": EngineAPIDouble(node_id="id1", control=False),
        "node2": EngineAPIDouble(node_id="id2", raft=raft("node2", "leader", "node2")),
        "node3": EngineAPIDouble(node_id="id3", raft=raft("node3", "follower", "node2", index=16)),
    }
    listed = [node_json("id1", "node1"), node_json("id2", "node2", role="manager", leader=True),
              node_json("id3", "node3", role="manager"), node_json("id4", "node4", role="manager")]
    nodes = []
    for name, double in doubles.items():
        double.start()
        double.nodes.update({n["ID"]: n for n in listed})
        nodes.append(NodeRecord(name, "127.0.0.1", api_port=int(double.url.rsplit(":", 1)[1])))
    nodes.append(NodeRecord("node4", "127.0.0.1", api_port=closed_port()))
    LabRecord("t", nodes=nodes).save()
    yield doubles
    for double in doubles.values():
        double.stop()


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_default_target_is_the_leader(lab, capsys):
    code, out, _ = run(capsys, "node", "ls", "-q")
    assert code == 0 and out.split() == ["id1", "id2", "id3", "id4"]
    assert [r["path"] for r in lab["node2"].requests if r["path"] == "/nodes"] == ["/nodes"]
    assert not any(r["path"] == "/nodes" for r in lab["node1"].requests + lab["node3"].requests)


def test_node_flag_addresses_that_node_like_logging_into_it(lab, capsys):
    lab["node1"].errors[("GET", "/nodes")] = (503, "This node is not a swarm manager. Worker nodes "
                                                    "can't be used to view or modify cluster state.")
    code, out, err = run(capsys, "--node", "node1", "node", "ls")
    assert code == 1 and out == ""
    assert err == ("Error response from daemon: This node is not a swarm manager. Worker nodes "
                   "can't be used to view or modify cluster state.\n")
    lab["node1"].errors.clear()
    code, out, _ = run(capsys, "--node", "node1", "node", "ls", "--format", "{{.ID}}{{if .Self}}*{{end}}")
    assert "id1*" in out.split()


def test_unknown_node_and_lab(lab, capsys):
    assert run(capsys, "--node", "node9", "node", "ls") == (
        1, "", "Error: lab 't' has no node named 'node9'\n")
    code, _, err = run(capsys, "--lab", "nolab", "node", "ls")
    assert code == 1 and "no lab named 'nolab' (start one with: swarmlab lab up --name nolab)" in err


def test_unreachable_node_is_named(lab, capsys):
    code, out, err = run(capsys, "--node", "node4", "service", "ls")
    port = err.split("127.0.0.1:")[1].split(".")[0]
    assert code == 1
    assert err == (f"Cannot connect to the swarmlab node node4 at http://127.0.0.1:{port}. "
                   "Is the node running? (see: swarmlab lab ls)\n")


def test_raft_status_table_and_json(lab, capsys):
    code, out, _ = run(capsys, "raft", "status")
    assert code == 0
    assert out == (
        "NODE      STATE         TERM      COMMIT    APPLIED   LAST INDEX   LEADER\n"
        "node2     leader        3         17        17        17           node2\n"
        "node3     follower      3         16        16        16           node2\n"
        "node4     unreachable                                              \n")
    code, out, _ = run(capsys, "raft", "status", "--format", "json")
    rows = json.loads(out)
    assert rows[0] == raft("node2", "leader", "node2")
    assert rows[2] == {"Node": "node4", "State": "unreachable", "Term": None, "Commit": None,
                       "Applied": None, "LastIndex": None, "Leader": None}
    assert [sorted(r) for r in rows] == [sorted(["Node", "State", "Term", "Commit", "Applied",
                                                 "LastIndex", "Leader"])] * 3


def test_host_flag_and_env(lab, capsys, monkeypatch):
    url = lab["node3"].url
    assert run(capsys, "--host", url.replace("http://", "tcp://"), "node", "ls", "-q")[0] == 0
    assert any(r["path"] == "/nodes" for r in lab["node3"].requests)
    monkeypatch.setenv("SWARMLAB_HOST", url)
    lab["node3"].requests.clear()
    assert run(capsys, "service", "ls", "-q")[0] == 0
    assert any(r["path"] == "/services" for r in lab["node3"].requests)


def test_no_swarm_yet_goes_to_the_first_node(lab, capsys):
    for double in lab.values():
        double.control = False
    code, out, _ = run(capsys, "swarm", "init", "--advertise-addr", "127.0.0.1")
    assert code == 0 and out.startswith("Swarm initialized: current node (id1) is now a manager.")
    assert any(r["path"] == "/swarm/init" for r in lab["node1"].requests)


def test_node_flag_is_not_confused_with_a_node_argument(lab, capsys):
    # `node update NODE` has a positional named like the global --node: the flag must win
    code, out, err = run(capsys, "--node", "node3", "node", "update", "--availability", "drain", "node1")
    assert (code, out) == (0, "node1\n"), err
    assert any(r["path"] == "/nodes/id1/update" for r in lab["node3"].requests)
    assert not any(r["method"] == "POST" for r in lab["node1"].requests + lab["node2"].requests)


def test_join_without_node_says_which_node_refused(lab, capsys):
    lab["node2"].errors[("POST", "/swarm/join")] = (
        503, 'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
             'and join another one.')
    code, _, err = run(capsys, "swarm", "join", "--token", "SWMTKN-1-x", "127.0.0.1:2377")
    assert code == 1
    assert err.splitlines() == [
        'Error response from daemon: This node is already part of a swarm. Use "docker swarm leave" '
        'to leave this swarm and join another one.',
        "(that was node2, the node swarmlab addresses by default; for another node: "
        "swarmlab --node NODE swarm join ...)"]
    code, out, err = run(capsys, "--node", "node1", "swarm", "join", "--token", "SWMTKN-1-x", "127.0.0.1:2377")
    assert (code, out) == (0, "This node joined a swarm as a worker.\n")
