"""Known breaks of Docker conformance (issue 17), each driven as a client drives dockerd:
docker-py (and the docker CLI, where it is the one that broke) against one lab of real
node processes (local backend): a manager and a worker, shared by the module's tests,
each of which leaves no service behind."""
from __future__ import annotations

import re
import shutil
import subprocess

import docker
import pytest
import requests

from swarmlab.lab import Lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SWARMLAB_HOME", str(tmp_path_factory.mktemp("home")))
        lab = Lab.up("conform", managers=1, workers=1)
        try:
            yield lab
        finally:
            lab.down()


@pytest.fixture
def c(lab):
    client = lab.client()
    yield client
    for s in client.services.list():
        s.remove()


@pytest.fixture
def url(c) -> str:
    return c.api.base_url


_PREREQUISITE: list = []


@pytest.fixture(autouse=True)
def _prerequisite(prerequisite):
    """The run's rule for what it lacks (skip on a laptop, fail where CI requires docker),
    for the helpers below that are not fixtures."""
    _PREREQUISITE[:] = [prerequisite]


def need_docker_cli() -> None:
    if shutil.which("docker") is None:
        _PREREQUISITE[0]("docker", "no docker CLI on PATH")


def docker_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    need_docker_cli()
    host = url.replace("http://", "tcp://")
    return subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True,
                          timeout=60)


# -- 1. routes and API versions ----------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("GET", "/nope"), ("GET", "/v1.44/nope"), ("GET", "/v9.99/nope"),
    ("DELETE", "/info"), ("PUT", "/v1.44/services/create")])
def test_an_unknown_route_is_page_not_found_in_json(url, method, path):
    r = requests.request(method, url + path, timeout=5)
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"message": "page not found"}


def test_an_api_version_above_the_highest_is_refused(lab, url):
    api = docker.APIClient(base_url=url, version="1.99")
    with pytest.raises(docker.errors.APIError) as e:
        api.info()
    assert e.value.response.status_code == 400
    assert e.value.explanation == ("client version 1.99 is too new. Maximum supported API "
                                   "version is 1.44")
    # compared as numbers (1.100 > 1.44), not as text
    r = requests.get(url + "/v1.100/info", timeout=5)
    assert r.status_code == 400 and "1.100 is too new" in r.json()["message"]


def test_an_api_version_below_the_lowest_is_refused(url):
    r = requests.get(url + "/v1.12/info", timeout=5)
    assert r.status_code == 400
    assert r.json()["message"] == ("client version 1.12 is too old. Minimum supported API "
                                   "version is 1.24, please upgrade your client to a newer "
                                   "version")
    assert requests.get(url + "/v1.24/info", timeout=5).status_code == 200
    assert requests.get(url + "/v1.44/info", timeout=5).status_code == 200


# -- 2. a service without a name --------------------------------------------------------

NAMED = r"^[a-z]+_[a-z]+$"  # dockerd's adjective_surname


def test_a_service_created_without_a_name_gets_a_random_one(c, url):
    svc = c.services.create("swarmlab/web:1")  # docker-py sends "Name": null
    assert re.match(NAMED, svc.name), svc.name
    other = c.api.create_service(docker.types.TaskTemplate(
        docker.types.ContainerSpec("swarmlab/web:1")))
    assert c.api.inspect_service(other["ID"])["Spec"]["Name"] != ""
    r = docker_cli(url, "service", "create", "--detach", "--quiet", "swarmlab/web:1")
    assert r.returncode == 0, r.stderr
    name = c.api.inspect_service(r.stdout.strip())["Spec"]["Name"]
    assert re.match(NAMED, name), name
    # a name given is kept, and still checked as swarmkit checks it
    assert c.services.create("swarmlab/web:1", name="www").name == "www"
    with pytest.raises(docker.errors.APIError, match="valid as a DNS name component"):
        c.services.create("swarmlab/web:1", name="-bad")



def test_a_service_cannot_be_renamed_nor_change_mode(c):
    svc = c.services.create("swarmlab/web:1", name="keep")
    spec = c.api.inspect_service(svc.id)
    version = spec["Version"]["Index"]
    for change, words in ((dict(Name="other"), "renaming services is not supported"),
                          (dict(Mode={"Global": {}}), "service mode change is not allowed")):
        r = requests.post(f"{c.api.base_url}/v1.44/services/{svc.id}/update?version={version}",
                          json=dict(spec["Spec"], **change), timeout=5)
        assert (r.status_code, r.json()["message"]) == (501, words)  # swarmkit: Unimplemented
    assert c.api.inspect_service(svc.id)["Version"]["Index"] == version

# -- 3. node addresses ------------------------------------------------------------------

def test_a_nodes_status_addr_is_its_bare_ip(lab, c, url):
    nodes = {n["Description"]["Hostname"]: n for n in c.api.nodes()}
    for rec in lab.record.nodes:
        assert nodes[rec.name]["Status"]["Addr"] == rec.addr
    manager = nodes["node1"]
    assert manager["ManagerStatus"]["Addr"] == f"{lab.record.node('node1').addr}:2377"
    assert c.api.inspect_node(manager["ID"])["Status"]["Addr"] == lab.record.node("node1").addr
    r = docker_cli(url, "node", "inspect", "--format",
                   "{{.Status.Addr}} {{.ManagerStatus.Addr}}", "self")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [rec := lab.record.node("node1").addr, f"{rec}:2377"]


# -- 4. UpdateStatus is reset by every spec update --------------------------------------

def test_a_scale_after_an_automatic_rollback_reports_no_rollback(lab, c, url):
    fast = dict(monitor=1_000_000_000, delay=0)
    svc = c.services.create("swarmlab/web:1", name="flaky",
                            update_config=docker.types.UpdateConfig(
                                failure_action="rollback", **fast),
                            rollback_config=docker.types.RollbackConfig(**fast))
    lab.wait_for(lambda: running(c, "flaky"), 30, "flaky running")
    svc.update(image="swarmlab/worker:1", command=["python3", "-c", "raise SystemExit(3)"])
    lab.wait_for(lambda: (c.api.inspect_service(svc.id).get("UpdateStatus") or {}).get(
        "State") == "rollback_completed", 60, "the automatic rollback")
    r = docker_cli(url, "service", "scale", "flaky=2")
    assert r.returncode == 0, r.stderr
    assert "rollback" not in r.stdout + r.stderr
    assert "UpdateStatus" not in c.api.inspect_service(svc.id)
    assert len(running(c, "flaky")) == 2


def running(c, name: str) -> list[dict]:
    return [t for t in c.api.tasks(filters={"service": name})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


# -- 5. an empty Order (or FailureAction) is the default --------------------------------

STACK = """\
services:
  web:
    image: swarmlab/web:1
    deploy:
      replicas: 1
      update_config:
        parallelism: 2
      rollback_config:
        parallelism: 0
"""


def test_stack_deploy_with_update_config_takes_the_default_order(c, url, tmp_path):
    compose = tmp_path / "stack.yml"
    compose.write_text(STACK)
    r = docker_cli(url, "stack", "deploy", "--detach=true", "-c", str(compose), "st")
    try:
        assert r.returncode == 0, r.stderr
        spec = c.api.inspect_service("st_web")["Spec"]
        assert spec["UpdateConfig"]["Parallelism"] == 2
        assert spec["UpdateConfig"]["Order"] == "stop-first"
        assert spec["UpdateConfig"]["FailureAction"] == "pause"
        assert spec["RollbackConfig"]["Order"] == "stop-first"
    finally:
        docker_cli(url, "stack", "rm", "st")


def test_an_empty_order_on_the_engine_api_is_stop_first(c):
    task = docker.types.TaskTemplate(docker.types.ContainerSpec("swarmlab/web:1"))
    blank = {"Parallelism": 1, "Order": "", "FailureAction": ""}
    sid = c.api.create_service(task, name="blank", update_config=blank)["ID"]
    assert c.api.inspect_service(sid)["Spec"]["UpdateConfig"]["Order"] == "stop-first"
    # a bad value is still refused, and changes nothing
    version = c.api.inspect_service(sid)["Version"]["Index"]
    with pytest.raises(docker.errors.APIError) as e:
        c.api.update_service(sid, version, task, name="blank",
                             update_config=dict(blank, Order="sideways"))
    assert e.value.response.status_code == 400
    assert e.value.explanation == "unrecognized update order sideways"  # dockerd's words
    assert c.api.inspect_service(sid)["Version"]["Index"] == version


# -- 6. list filters --------------------------------------------------------------------

def api_error(fn) -> tuple[int, str]:
    with pytest.raises(docker.errors.APIError) as e:
        fn()
    return e.value.response.status_code, e.value.explanation


def test_task_filters_as_dockerd(lab, c, url):
    a = c.services.create("swarmlab/web:1", name="fa", labels={"tier": "front"},
                          mode={"replicated": {"Replicas": 2}})
    b = c.services.create("swarmlab/web:1", name="fb", labels={"tier": "back"})
    lab.wait_for(lambda: len(running(c, "fa")) == 2 and running(c, "fb"), 30, "fa and fb")

    def ids(**f):
        return {t["ID"] for t in c.api.tasks(filters=f)}
    fa, fb = ids(service="fa"), ids(service="fb")
    assert len(fa) == 2 and len(fb) == 1
    assert ids(service=a.id[:6]) == fa  # an ID prefix resolves too
    assert ids(label="tier=front") == fa and ids(label="tier") == fa | fb
    assert ids(label=["tier", "tier=back"]) == fb and not ids(label="tier=side")
    assert ids(name="fa.1") == {t["ID"] for t in c.api.tasks(filters={"service": "fa"})
                                if t["Slot"] == 1}
    one = next(iter(fa))
    assert ids(id=one[:8]) == {one} and ids(service="fa", id=one[:8]) == {one}
    node_id = c.api.inspect_task(one)["NodeID"]
    hostname = c.api.inspect_node(node_id)["Description"]["Hostname"]
    assert all(c.api.inspect_task(t)["NodeID"] == node_id for t in ids(node=hostname))
    desired = {t["ID"]: t["DesiredState"] for t in c.api.tasks()}
    assert ids(**{"desired-state": "running"}) == {i for i, d in desired.items() if d == "running"}
    assert ids(**{"desired-state": ["shutdown", "ready"]}) == {
        i for i, d in desired.items() if d in ("shutdown", "ready")}
    assert ids(runtime="container") >= fa | fb and not ids(runtime="plugin")

    # _up-to-date: only tasks of the service's current spec (what the CLI's progress reads)
    b.update(image="swarmlab/web:2")
    lab.wait_for(lambda: [t for t in running(c, "fb")
                          if t["Spec"]["ContainerSpec"]["Image"] == "swarmlab/web:2"], 30,
                 "fb updated")
    current = c.api.tasks(filters={"service": "fb", "_up-to-date": "true"})
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in current} == {"swarmlab/web:2"}
    assert len(c.api.tasks(filters={"service": "fb"})) > len(current)  # and the old one

    assert api_error(lambda: c.api.tasks(filters={"colour": "red"})) == (
        400, "invalid filter 'colour'")
    assert api_error(lambda: c.api.tasks(filters={"service": "nope"})) == (
        404, "service nope not found")
    assert api_error(lambda: c.api.tasks(filters={"node": "nope"})) == (
        404, "node nope not found")
    assert api_error(lambda: c.api.tasks(filters={"desired-state": "sideways"})) == (
        500, "Invalid desired-state filter: 'sideways'")

    r = docker_cli(url, "service", "ps", "-q", "-f", "desired-state=running", "fb")
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) == {t["ID"] for t in current}


def test_service_and_node_filters_as_dockerd(c):
    c.services.create("swarmlab/web:1", name="rep", labels={"k": "v"})
    c.services.create("swarmlab/web:1", name="glo", mode="global")

    def names(**f):
        return {s.name for s in c.services.list(filters=f)}
    assert names(mode="global") == {"glo"} and names(mode="replicated") == {"rep"}
    assert names(label="k=v") == {"rep"} and names(name="gl") == {"glo"}
    assert names(runtime="container") == {"rep", "glo"} and not names(runtime="plugin")
    assert api_error(lambda: c.services.list(filters={"colour": "red"})) == (
        400, "invalid filter 'colour'")

    def hosts(**f):
        return {n["Description"]["Hostname"] for n in c.api.nodes(filters=f)}
    assert hosts(role="manager") == {"node1"} and hosts(role="worker") == {"node2"}
    assert hosts(membership="accepted") == {"node1", "node2"} and not hosts(membership="pending")
    assert hosts(name="node2") == {"node2"}
    assert api_error(lambda: c.api.nodes(filters={"role": "boss"})) == (
        500, "Invalid role filter: 'boss'")
    assert api_error(lambda: c.api.nodes(filters={"colour": "red"})) == (
        400, "invalid filter 'colour'")
    node2 = c.nodes.get("node2")
    node2.update(dict(node2.attrs["Spec"], Labels={"zone": "a"}))
    assert hosts(**{"node.label": "zone=a"}) == {"node2"}
    assert not hosts(label="zone=a")  # `label` is the engine's labels, not the node's



def test_secret_and_config_filters_as_dockerd(c):
    made = [c.secrets.create(name="pw", data=b"x", labels={"k": "v"}),
            c.secrets.create(name="pw2", data=b"y"), c.configs.create(name="conf", data=b"z")]
    try:
        def names(lister, **f):
            return {o.name for o in lister(filters=f)}
        assert names(c.secrets.list, name="pw") == {"pw", "pw2"}
        assert names(c.secrets.list, names="pw") == {"pw"}  # `names`: exact
        assert names(c.secrets.list, label="k=v") == {"pw"}
        assert names(c.configs.list, name="co") == {"conf"}
        assert api_error(lambda: c.secrets.list(filters={"colour": "red"})) == (
            400, "invalid filter 'colour'")
        assert api_error(lambda: c.configs.list(filters={"names": "conf"})) == (
            400, "invalid filter 'names'")
    finally:
        for o in made:
            o.remove()

# -- 7. service logs --------------------------------------------------------------------

TALK = ("import sys, time\nprint('one', flush=True)\nprint('two', file=sys.stderr, flush=True)\n"
        "print('three', flush=True)\ntime.sleep(4)\nprint('late', flush=True)\ntime.sleep(600)")
TICK = ("import itertools, time\nfor i in itertools.count():\n"
        "    print(f'tick {i}', flush=True)\n    time.sleep(0.3)")
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


@pytest.fixture
def talk(lab, c):
    svc = c.services.create("swarmlab/worker:1", name="talk", command=["python3", "-c", TALK])
    lab.wait_for(lambda: b"late" in b"".join(c.api.service_logs("talk", stdout=True)), 30,
                 "talk's lines")
    task = c.api.tasks(filters={"service": "talk"})[0]
    host = c.api.inspect_node(task["NodeID"])["Description"]["Hostname"]
    return svc, task, host


def test_service_logs_through_the_docker_cli(url, talk):
    svc, task, host = talk
    prefix = f"talk.1.{task['ID'][:12]}@{host}    | "
    r = docker_cli(url, "service", "logs", "talk")
    assert r.returncode == 0, r.stderr  # it was `invalid details format`
    assert r.stdout.splitlines() == [prefix + m for m in ("one", "three", "late")]
    assert r.stderr.splitlines() == [prefix + "two"]
    r = docker_cli(url, "service", "logs", "--details", "--timestamps", "--no-trunc", "talk")
    assert r.returncode == 0, r.stderr
    full = f"talk.1.{task['ID']}@{host}    | "
    for line, m in zip(r.stdout.splitlines(), ("one", "three", "late")):
        assert re.fullmatch(STAMP + " " + re.escape(full) + " " + m, line), line  # no extras
    r = docker_cli(url, "service", "logs", "--raw", "--tail", "1", "talk")
    assert (r.returncode, r.stdout, r.stderr) == (0, "late\n", "")
    r = docker_cli(url, "service", "logs", "--tail", "0", "talk")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = docker_cli(url, "service", "logs", "--raw", "--no-task-ids", task["ID"])  # a task's
    assert r.returncode == 0 and r.stdout.splitlines() == ["one", "three", "late"], r.stderr


def test_service_logs_on_the_engine_api(c, url, talk):
    svc, task, host = talk
    raw = b"".join(c.api.service_logs("talk", stdout=True, details=True, timestamps=True))
    details = (f"com.docker.swarm.node.id={task['NodeID']},com.docker.swarm.service.id="
               f"{svc.id},com.docker.swarm.task.id={task['ID']}")
    lines = raw.decode().splitlines()
    assert [ln.split(" ", 2)[1:] for ln in lines] == [[details, m] for m in
                                                        ("one", "three", "late")]
    assert all(re.fullmatch(STAMP, ln.split(" ")[0]) for ln in lines)
    stamps = [ln.split(" ")[0] for ln in lines]
    assert b"".join(c.api.service_logs("talk", stderr=True)) == b"two\n"  # streams apart
    # since: a Unix time (seconds.nanoseconds) between `three` and `late`
    from swarmlab.objects import parse_time
    between = (parse_time(stamps[1]) + parse_time(stamps[2])) // 2
    since = f"{between // 10**9}.{between % 10**9:09d}"
    assert b"".join(c.api.service_logs("talk", stdout=True, since=since)) == b"late\n"
    r = requests.get(f"{url}/v1.44/services/talk/logs?stdout=1", timeout=5)
    assert r.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    assert r.content[:8] == bytes([1, 0, 0, 0, 0, 0, 0, 4]) and r.content[8:12] == b"one\n"
    r = requests.get(f"{url}/v1.41/services/talk/logs?stdout=1", timeout=5)
    assert r.headers["Content-Type"] == "application/vnd.docker.raw-stream"

    def refused(query: str) -> tuple[int, str]:
        r = requests.get(f"{url}/v1.44/services/talk/logs?{query}", timeout=5)
        return r.status_code, r.json()["message"]
    assert refused("") == (400, "must specify at least one of 'stdout' or 'stderr'")
    assert refused("stdout=1&tail=-1") == (500, "negative tail values not supported")
    assert refused("stdout=1&tail=x") == (500, 'tail value must be a positive integer or "all"')
    assert refused("stdout=1&since=yesterday") == (
        400, 'invalid value for "since": invalid timestamp "yesterday": invalid seconds '
             '"yesterday": invalid syntax')
    assert requests.get(f"{url}/services/nope/logs?stdout=1", timeout=5).status_code == 404


def test_service_logs_follow_sends_only_new_lines(lab, c, url):
    c.services.create("swarmlab/worker:1", name="tick", command=["python3", "-c", TICK])
    lab.wait_for(lambda: b"tick 3" in b"".join(c.api.service_logs("tick", stdout=True)), 30,
                 "ticks")
    before = len(b"".join(c.api.service_logs("tick", stdout=True)).splitlines())
    need_docker_cli()
    cli = subprocess.Popen(["docker", "-H", url.replace("http://", "tcp://"), "service", "logs",
                            "--follow", "--tail", "0", "--raw", "tick"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        got = [cli.stdout.readline().strip() for _ in range(4)]
    finally:
        cli.kill()
        cli.wait(10)
    numbers = [int(line.split()[1]) for line in got]
    assert numbers == list(range(numbers[0], numbers[0] + 4)), got  # in order, none twice
    assert numbers[0] >= before - 1  # `--tail 0`: nothing from before it began
