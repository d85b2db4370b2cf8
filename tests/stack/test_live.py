"""The sample stacks on a live local lab: deploy, use, list, redeploy in place, remove."""
from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request

import pytest

from swarmlab import stack
from swarmlab.stack import StackError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def http(url: str, data: bytes | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def converged(client, name: str) -> bool:
    rows = stack.services(client, name)
    return bool(rows) and all(r.replicas.split("/")[0] == r.replicas.split("/")[1] != "0"
                              for r in rows if r.mode == "replicated")


def ports() -> dict[str, str]:
    base = random.Random().randrange(20000, 29000, 2)
    return {"VOTE_PORT": str(base), "RESULT_PORT": str(base + 1)}


def test_vote_stack_deploy_list_redeploy_remove(lab, client):
    env = ports()
    addrs = [n.addr for n in lab.record.nodes]
    lines: list[str] = []
    result = stack.deploy(client, stack.sample_path("vote"), "vote", lines.append, env=env)
    assert lines == ["Creating network vote_backend", "Creating network vote_frontend",
                     "Creating service vote_kv", "Creating service vote_result",
                     "Creating service vote_vote", "Creating service vote_worker"]
    assert result.networks_skipped == []
    wait_for(lambda: converged(client, "vote"), 30, "the vote stack to run")

    assert stack.ls(client) == [stack.StackRow("vote", 4, "Swarm")]
    rows = {r.name: r for r in stack.services(client, "vote")}
    assert rows["vote_vote"].replicas == "2/2" and rows["vote_vote"].image == "swarmlab/vote:1"
    assert rows["vote_vote"].ports == f"*:{env['VOTE_PORT']}->80/tcp"
    tasks = stack.ps(client, "vote")
    assert {t.name for t in tasks if t.desired_state == "Running"} == {
        "vote_kv.1", "vote_result.1", "vote_vote.1", "vote_vote.2", "vote_worker.1"}
    assert {t.node for t in tasks} <= {"node1", "node2", "node3"}
    svc = client.api.inspect_service("vote_worker")["Spec"]
    assert svc["Labels"] == {"APP": "VOTING", "com.docker.stack.namespace": "vote",
                             "com.docker.stack.image": "swarmlab/worker:1"}
    assert svc["TaskTemplate"]["Networks"] == [{"Target": "vote_backend", "Aliases": ["worker"]},
                                               {"Target": "vote_frontend", "Aliases": ["worker"]}]

    # the published port answers on every node, whichever node runs the tasks (routing mesh)
    for addr in addrs:
        status, page = wait_for(lambda: (s := http(f"http://{addr}:{env['VOTE_PORT']}/"))[0] == 200 and s,
                                10, f"the vote page on {addr}")
        assert "Cats vs Dogs" in page

    # redeploy with a change: the same services, updated in place
    before = {s["Spec"]["Name"]: s for s in client.api.services()}
    lines.clear()
    stack.deploy(client, stack.sample_path("vote"), "vote", lines.append, env={**env, "OPTION_A": "Tea"})
    assert lines == [f"Updating service {n} (id: {before[n]['ID']})"
                     for n in ("vote_kv", "vote_result", "vote_vote", "vote_worker")]
    after = {s["Spec"]["Name"]: s for s in client.api.services()}
    assert {n: s["ID"] for n, s in after.items()} == {n: s["ID"] for n, s in before.items()}
    assert after["vote_vote"]["Version"]["Index"] > before["vote_vote"]["Version"]["Index"]
    assert "OPTION_A=Tea" in after["vote_vote"]["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert after["vote_vote"]["PreviousSpec"] == before["vote_vote"]["Spec"]
    wait_for(lambda: "Tea vs Dogs" in http(f"http://{addrs[-1]}:{env['VOTE_PORT']}/")[1], 30,
             "the updated vote page")

    lines.clear()
    removed = stack.rm(client, "vote", lines.append)
    assert lines == ["Removing service vote_kv", "Removing service vote_result",
                     "Removing service vote_vote", "Removing service vote_worker",
                     "Removing network vote_backend", "Removing network vote_frontend"]
    assert removed.services == ["vote_kv", "vote_result", "vote_vote", "vote_worker"]
    assert stack.ls(client) == [] and client.api.services() == []
    wait_for(lambda: not client.api.tasks(), 30, "the stack's tasks to go")
    with pytest.raises(StackError, match="nothing found in stack: vote"):
        stack.ps(client, "vote")
    lines.clear()
    stack.rm(client, "vote", lines.append)
    assert lines == ["Nothing found in stack: vote"]


def test_vote_is_counted_through_any_node(lab, client):
    """A vote sent to the published port of one node shows on the result page of another.
    The vote front end finds the store by service name (`KV_HOST: kv`)."""
    env = ports()
    addrs = [n.addr for n in lab.record.nodes]
    stack.deploy(client, stack.sample_path("vote"), "vote", lambda _: None, env=env)
    try:
        wait_for(lambda: converged(client, "vote"), 30, "the vote stack to run")
        status, page = wait_for(
            lambda: (s := http(f"http://{addrs[2]}:{env['VOTE_PORT']}/", b"vote=b"))[0] == 200 and s,
            20, "a vote to be taken")
        assert "you voted for Dogs" in page
        counts = wait_for(lambda: (r := http(f"http://{addrs[1]}:{env['RESULT_PORT']}/json"))[0] == 200
                          and json.loads(r[1])["total"] >= 1 and json.loads(r[1]), 20, "the vote counted")
        assert counts == {"a": 0, "b": 1, "total": 1}
    finally:
        stack.rm(client, "vote", lambda _: None)


def test_metrics_stack_secrets_configs_and_prune(lab, client, tmp_path):
    env = {"INFLUX_PORT": str(random.randrange(30000, 31000)),
           "CHRONOGRAF_PORT": str(random.randrange(31000, 32000))}
    lines: list[str] = []
    stack.deploy(client, stack.sample_path("metrics"), "tick", lines.append, env=env)
    assert [x for x in lines if not x.startswith("Creating network")] == [
                     "Creating secret tick_influxdb-admin-password", "Creating config tick_telegraf-conf",
                     "Creating service tick_chronograf", "Creating service tick_influxdb",
                     "Creating service tick_kapacitor", "Creating service tick_telegraf"]
    secret = client.api.inspect_secret("tick_influxdb-admin-password")
    assert secret["Spec"]["Labels"] == {"com.docker.stack.namespace": "tick"}
    telegraf = client.api.inspect_service("tick_telegraf")["Spec"]
    refs = telegraf["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert refs[0]["SecretID"] == secret["ID"] and refs[0]["File"]["Name"] == "influxdb-admin-password"
    wait_for(lambda: len([t for t in client.api.tasks(filters={"service": "tick_telegraf"})
                          if t["Status"]["State"] == "running"]) == 3, 30, "telegraf on every node")

    # a redeploy that drops a service keeps it, unless --prune
    smaller = tmp_path / "metrics.yml"
    text = stack.sample_path("metrics").read_text()
    smaller.write_text(text.replace("./metrics/", str(stack.sample_path("metrics").parent / "metrics") + "/")
                       .split("  chronograf:")[0] + text[text.index("\nconfigs:"):].replace(
                           "./metrics/", str(stack.sample_path("metrics").parent / "metrics") + "/"))
    lines.clear()
    stack.deploy(client, smaller, "tick", lines.append, env=env)
    assert [s.name for s in stack.services(client, "tick")] == [
        "tick_chronograf", "tick_influxdb", "tick_kapacitor", "tick_telegraf"]
    lines.clear()
    stack.deploy(client, smaller, "tick", lines.append, env=env, prune=True)
    assert lines[0] == "Removing service tick_chronograf"
    assert [s.name for s in stack.services(client, "tick")] == [
        "tick_influxdb", "tick_kapacitor", "tick_telegraf"]

    lines.clear()
    stack.rm(client, "tick", lines.append)
    assert [x for x in lines if not x.startswith("Removing network")] == [
                     "Removing service tick_influxdb", "Removing service tick_kapacitor",
                     "Removing service tick_telegraf", "Removing secret tick_influxdb-admin-password",
                     "Removing config tick_telegraf-conf"]
    assert not (client.api.services() or client.api.secrets() or client.api.configs())


def test_external_objects_and_foreign_conflicts_are_checked_before_any_write(lab, client, tmp_path):
    compose = tmp_path / "ext.yml"
    compose.write_text(
        "version: '3.8'\nservices:\n  app:\n    image: swarmlab/web:1\n    secrets: [token]\n"
        "    ports: ['${PORT}:80']\n  side:\n    image: swarmlab/web:1\n"
        "secrets:\n  token:\n    external: true\n    name: shared-token\n")
    port = str(random.randrange(32000, 33000))
    with pytest.raises(stack.ComposeError, match="secret not found: shared-token") as e:
        stack.deploy(client, compose, "ext", lambda _: None, env={"PORT": port})
    assert e.value.file == str(compose) and e.value.line == 9
    assert client.api.services() == []

    secret_id = client.api.create_secret("shared-token", b"t0k3n")["ID"]
    client.api.create_service({"ContainerSpec": {"Image": "swarmlab/web:1"}}, name="other",
                              endpoint_spec={"Ports": [{"TargetPort": 80, "PublishedPort": int(port)}]})
    with pytest.raises(stack.ComposeError, match=f"port '{port}' is already in use by service 'other'"):
        stack.deploy(client, compose, "ext", lambda _: None, env={"PORT": port})
    assert [s["Spec"]["Name"] for s in client.api.services()] == ["other"]

    client.api.remove_service("other")
    stack.deploy(client, compose, "ext", lambda _: None, env={"PORT": port})
    app = client.api.inspect_service("ext_app")["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert app["Secrets"][0]["SecretID"] == secret_id and app["Secrets"][0]["SecretName"] == "shared-token"
    lines: list[str] = []
    stack.rm(client, "ext", lines.append)
    assert [x for x in lines if not x.startswith("Removing network")] == [
        "Removing service ext_app", "Removing service ext_side"]  # not the external secret
    assert [s["ID"] for s in client.api.secrets()] == [secret_id]
