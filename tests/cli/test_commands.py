"""Commands end to end through docker-py against the EngineAPIDouble (a test double of
the server side): convergence progress, its timeout, logs, secrets from stdin, stacks,
and the lab commands' hand-over to swarmlab.lab."""
import base64
import io
import struct
import sys

import pytest

from swarmlab import lab as lab_module
from swarmlab.cli import main


def test_create_waits_for_convergence_like_docker(cli, engine):
    code, out, err = cli("service", "create", "--name", "www", "--replicas", "2",
                         "--update-monitor", "300ms", "swarmlab/web:1")
    assert code == 0, err
    service_id = out.splitlines()[0]
    assert out.splitlines()[1:5] == ["overall progress: 0 out of 2 tasks", "1/2:  ", "2/2:  ",
                                     "overall progress: 2 out of 2 tasks"]
    assert out.splitlines()[-1] == f"verify: Service {service_id} converged"


def test_scale_waits_and_prints_docker_lines(cli, engine):
    cli("service", "create", "-d", "--name", "www", "--replicas", "3", "--update-monitor", "200ms", "web:1")
    code, out, _ = cli("service", "scale", "www=1")
    assert code == 0
    assert out.splitlines()[0] == "www scaled to 1"
    assert out.splitlines()[-1] == "verify: Service www converged"
    running = [t for t in engine.tasks if t["DesiredState"] == "running"]
    assert len(running) == 1


def test_a_service_that_cannot_converge_times_out_with_the_reason(cli, engine, monkeypatch):
    monkeypatch.setenv("SWARMLAB_CONVERGE_TIMEOUT", "1.5")
    code, out, err = cli("service", "create", "--name", "bad", "--constraint", "node.labels.dc==mars", "web:1")
    assert code == 1
    assert "1/1: no suitable node (scheduling constraints not satisfied on 3 nodes)" in out.splitlines()
    assert err.startswith("Error: service ")
    assert "did not converge within 1.5s; task errors:\n  no suitable node" in err


def test_update_and_rollback_progress(cli, engine):
    cli("service", "create", "-d", "--name", "www", "--replicas", "2", "--update-monitor", "200ms",
        "--rollback-monitor", "200ms", "web:1")
    code, out, _ = cli("service", "update", "--image", "web:2", "www")
    assert code == 0 and out.splitlines()[0] == "www" and out.endswith("verify: Service www converged\n")
    images = {t["Spec"]["ContainerSpec"]["Image"] for t in engine.tasks if t["DesiredState"] == "running"}
    assert images == {"web:2"}
    code, out, _ = cli("service", "rollback", "www")
    assert code == 0
    images = {t["Spec"]["ContainerSpec"]["Image"] for t in engine.tasks if t["DesiredState"] == "running"}
    assert images == {"web:1"}


def test_service_logs_are_prefixed_with_task_and_node(cli, engine):
    cli("service", "create", "-d", "--name", "www", "web:1")
    task = engine.tasks[-1]
    details = (f"com.docker.swarm.node.id={task['NodeID']},com.docker.swarm.service.id="
               f"{task['ServiceID']},com.docker.swarm.task.id={task['ID']}")
    engine.logs = [(1, f"{details} hello from www\n".encode()), (2, f"{details} oops\n".encode())]
    code, out, _ = cli("service", "logs", "www")
    assert code == 0
    prefix = f"www.1.{task['ID'][:12]}@node1    | "
    assert out == f"{prefix}hello from www\n{prefix}oops\n"
    logs_request = [r for r in engine.requests if r["path"].endswith("/logs")][-1]
    assert logs_request["query"]["details"] in ("1", "True", "true")


def test_secret_create_from_stdin_and_errors(cli, engine, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"MyVaultPassword\n")))
    code, out, _ = cli("secret", "create", "password", "-")
    assert code == 0 and out.startswith("sec")
    assert base64.b64decode(engine.secret_data["password"]) == b"MyVaultPassword\n"
    code, out, err = cli("secret", "create", "x", "/nonexistent/file")
    assert code == 1 and err.startswith('Error reading content from "/nonexistent/file"')
    code, out, err = cli("secret", "rm", "password", "nope")
    assert (code, out, err) == (1, "password\n", "Error response from daemon: secret nope not found\n")


def test_swarm_unlock_reads_the_key_from_stdin(cli, engine, monkeypatch):
    code, _, err = cli("swarm", "unlock")
    assert (code, err) == (1, "Error: swarm is not locked\n")
    monkeypatch.setattr(engine, "_get_info", _locked_info(engine))
    monkeypatch.setattr(sys, "stdin", io.StringIO("SWMKEY-1-secret\n"))
    assert cli("swarm", "unlock")[0] == 0
    unlock = [r for r in engine.requests if r["path"] == "/swarm/unlock"]
    assert unlock[-1]["json"] == {"UnlockKey": "SWMKEY-1-secret"}


def _locked_info(engine):
    from .engine_double import _json

    async def info(request, rest):
        return _json({"Swarm": {"NodeID": "", "LocalNodeState": "locked", "ControlAvailable": False}})
    return info


def test_stack_tables_from_the_namespace_label(cli, engine):
    for name in ("vote_vote", "vote_redis", "other"):
        labels = {"com.docker.stack.namespace": name.split("_")[0]} if "_" in name else {}
        cli("service", "create", "-d", "--name", name, *sum((["--label", f"{k}={v}"]
                                                            for k, v in labels.items()), []), "web:1")
    code, out, _ = cli("stack", "ls")
    assert out == "NAME      SERVICES   ORCHESTRATOR\nvote      2          Swarm\n"
    code, out, _ = cli("stack", "services", "--format", "{{.Name}} {{.Replicas}}", "vote")
    assert out == "vote_redis 1/1\nvote_vote 1/1\n"
    code, out, _ = cli("stack", "ps", "--format", "{{.Name}} {{.DesiredState}}", "vote")
    assert out == "vote_redis.1 Running\nvote_vote.1 Running\n"
    assert cli("stack", "ps", "nope")[2] == "nothing found in stack: nope\n"


class AttachedLab:
    """What `Lab.attach(name)` hands the CLI: records the calls made on it."""

    def __init__(self, name: str, calls: list) -> None:
        self.name, self.calls = name, calls

    def __getattr__(self, fn: str):
        if fn == "partition":
            return lambda *nodes: self.calls.append((fn, self.name, list(nodes)))
        if fn == "heal":
            return lambda: self.calls.append((fn, self.name))
        return lambda node: self.calls.append((fn, self.name, node))


def test_lab_commands_hand_over_to_swarmlab_lab(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(lab_module.Lab, "attach", classmethod(
        lambda cls, name=None: AttachedLab(name, calls)))

    def up(cls, name, **kw):
        calls.append(("up", name, kw.pop("progress") is not None, kw))
        return cls(lab_module.LabRecord(name, nodes=[lab_module.NodeRecord("node1", "127.0.1.1")]))
    monkeypatch.setattr(lab_module.Lab, "up", classmethod(up))
    monkeypatch.setenv("SWARMLAB_LAB", "course")
    assert main(["lab", "up", "--managers", "3", "--workers", "2", "--name", "big"]) == 0
    assert main(["--lab", "big", "lab", "kill", "node2"]) == 0
    assert main(["lab", "partition", "node1", "node3"]) == 0
    assert main(["lab", "heal"]) == 0
    assert main(["lab", "up", "--nodes", "3", "--engine", "docker-swarm", "--backend", "docker"]) == 0
    assert calls == [
        ("up", "big", True, {"backend": "local", "managers": 3, "workers": 2, "nodes": None,
                             "profile": "lab"}),
        ("kill", "big", "node2"), ("partition", "course", ["node1", "node3"]), ("heal", "course"),
        ("up", "course", True, {"backend": "docker", "managers": None, "workers": None, "nodes": 3,
                                "profile": "lab", "engine": "docker-swarm"}),
    ]
    out = capsys.readouterr().out
    assert "node1     127.0.1.1   tcp://127.0.1.1:2375" in out
    with pytest.raises(SystemExit):
        main(["lab", "up", "--backend", "vm"])
    assert main(["lab", "up", "--nodes", "3", "--managers", "1"]) == 2


def test_frame_helper_matches_dockers_stream_format():
    # the double writes Docker's multiplexed log frames: 8-byte header, then the payload
    assert struct.pack(">BxxxL", 1, 5) == b"\x01\x00\x00\x00\x00\x00\x00\x05"


def test_boolean_flags_take_docker_style_values(cli, engine):
    code, out, _ = cli("service", "create", "--detach=true", "--name", "a", "web:1")
    assert code == 0 and len(out.splitlines()) == 1
    code, out, _ = cli("service", "create", "--detach=false", "--update-monitor", "100ms", "--name", "b", "web:1")
    assert code == 0 and out.splitlines()[-1].endswith("converged")
    code, out, _ = cli("service", "create", "-d", "--init=false", "--read-only=true", "--name", "c", "web:1")
    spec = [r["json"] for r in engine.requests if r["path"] == "/services/create"][-1]
    assert spec["TaskTemplate"]["ContainerSpec"]["Init"] is False
    assert spec["TaskTemplate"]["ContainerSpec"]["ReadOnly"] is True


def test_service_logs_raw_and_details_as_the_docker_cli(cli, engine):
    cli("service", "create", "-d", "--name", "www", "web:1")
    task = engine.tasks[-1]
    details = (f"com.docker.swarm.node.id={task['NodeID']},com.docker.swarm.service.id="
               f"{task['ServiceID']},com.docker.swarm.task.id={task['ID']}")
    engine.logs = [(1, f"{details} hello\n".encode())]
    code, out, _ = cli("service", "logs", "--details", "www")
    assert (code, out) == (0, f"www.1.{task['ID'][:12]}@node1    |  hello\n")  # as docker's
    engine.logs = [(1, b"hello\n")]
    code, out, _ = cli("service", "logs", "--raw", "www")
    assert (code, out) == (0, "hello\n")
    logs_request = [r for r in engine.requests if r["path"].endswith("/logs")][-1]
    assert logs_request["query"]["details"] in ("0", "False", "false")  # --raw: no details
