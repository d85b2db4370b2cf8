import pytest

from .engine_double import EngineAPIDouble, node_json


@pytest.fixture
def engine():
    """An EngineAPIDouble (server-side test double) with a 3-node swarm, node1 leading."""
    double = EngineAPIDouble(node_id="n1aaaaaaaaaaaaaaaaaaaaaaa").start()
    for node in (node_json("n1aaaaaaaaaaaaaaaaaaaaaaa", "node1", role="manager", leader=True),
                 node_json("n2bbbbbbbbbbbbbbbbbbbbbbb", "node2", addr="127.0.1.2"),
                 node_json("n3ccccccccccccccccccccccc", "node3", addr="127.0.1.3")):
        double.nodes[node["ID"]] = node
    yield double
    double.stop()


@pytest.fixture
def cli(engine, capsys, monkeypatch):
    """Run `swarmlab --host <double> ARGS`; returns (exit code, stdout, stderr)."""
    from swarmlab.cli import main

    monkeypatch.setenv("SWARMLAB_CONVERGE_TIMEOUT", "5")

    def run(*argv: str):
        code = main(["--host", engine.url, *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run
