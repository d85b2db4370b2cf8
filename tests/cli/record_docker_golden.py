"""Record what the real docker CLI sends for the command lines in GOLDEN_COMMANDS.

    python tests/cli/record_docker_golden.py   (needs a `docker` CLI; talks only to
                                                 the EngineAPIDouble on 127.0.0.1)

Two scenarios: "writes" (command lines that change state, run in order on a double
seeded by `seed()`: the POST/DELETE requests are kept) and "reads" (tables, inspect,
templates and errors on a double seeded by `seed_reads()`, with times relative to
now so that "Running 5 minutes ago" reads the same whenever the test runs).
test_golden.py replays the same lines through `swarmlab` against fresh doubles and
expects the same requests (paths, query, JSON bodies) and the same output.
"""
from __future__ import annotations

import datetime as dt
import json
import pathlib
import time
import shlex
import subprocess
import sys

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from cli.engine_double import EngineAPIDouble, node_json, task_json  # noqa: E402

GOLDEN = HERE / "golden" / "docker_cli.json"

GOLDEN_COMMANDS = [
    "swarm init --advertise-addr 127.0.1.1",
    "swarm init --advertise-addr 127.0.1.1 --autolock --cert-expiry 1h --task-history-limit 3 --dispatcher-heartbeat 2s",
    "swarm join --token SWMTKN-1-x 127.0.1.1:2377",
    "swarm join-token --rotate -q worker",
    "swarm update --autolock=false --task-history-limit 7",
    "node update --availability drain node2",
    "node update --label-add Memcached=true --label-add a node1",
    "node update --availability active --label-rm a node1",
    "node promote node2",
    "node demote node2",
    "service create -d --no-resolve-image --name www -p 8080:80 --replicas 3 nginx",
    "service create -d --no-resolve-image --name vote --update-parallelism 2 --update-delay 10s --replicas 4 --publish 27017:27017 instavote/vote",
    "service create -d --no-resolve-image --name=api --secret=password lucj/api",
    "service create -d --no-resolve-image --mount type=volume,src=data,dst=/data/db --name db --publish 27017:27017 mongo:4.0",
    "service create -d --no-resolve-image --name api2 --secret password --secret source=s2,target=/x,uid=1,gid=2,mode=0400 --config source=cfg,target=/etc/cfg,mode=0400 lucj/api",
    ("service create -d --no-resolve-image --name big --mount type=volume,src=data,dst=/data/db "
     "--publish published=5432,target=5432,mode=host,protocol=udp --constraint node.labels.dc==east "
     "--constraint node.role==worker --placement-pref spread=node.labels.dc --replicas-max-per-node 2 "
     "--env A=1 --label x=1 --container-label y=2 --restart-condition on-failure --restart-delay 1m30s "
     "--restart-max-attempts 3 --restart-window 500ms --rollback-parallelism 0 --rollback-order start-first "
     "--update-failure-action rollback --update-monitor 2s --update-max-failure-ratio 0.25 --limit-cpu 0.5 "
     "--limit-memory 512M --reserve-cpu 0.25 --reserve-memory 64m --health-cmd true --health-interval 5s "
     "--health-timeout 1s --health-retries 3 --health-start-period 2s --stop-grace-period 20s "
     "--endpoint-mode dnsrr --hostname h1 --workdir /w --user 1000 busybox:1 sleep 10"),
    "service create -d --no-resolve-image --mode global --name agent busybox",
    "service create -d --no-resolve-image --mode replicated-job --replicas 5 --max-concurrent 2 --name job busybox",
    "service create -d --no-resolve-image --no-healthcheck --mode global-job --name gj -p 80 busybox",
    "service scale -d www=1",
    "service update -d --no-resolve-image --image nginx:2 www",
    ("service update -d --no-resolve-image --image swarmlab/web:2 --env-add A=9 --env-add C=3 "
     "--label-add m=2 --constraint-add node.labels.dc==east --secret-add s2 --publish-add 9090:90 "
     "--publish-rm 80 --replicas 5 --force --update-parallelism 2 --update-delay 10s --limit-memory 1G "
     "--health-cmd 'curl x' www"),
    "service update -d --env-rm A --label-rm m --constraint-rm node.labels.dc==east --secret-rm s2 www",
    "service update -d --secret-rm password api",
    "service update -d --rollback www",
    "service rollback -d vote",
    "service rm www vote",
    "secret rm s2",
]


def seed(double: EngineAPIDouble, t0: float = 0.0) -> None:
    for node in (node_json("n1aaaaaaaaaaaaaaaaaaaaaaa", "node1", role="manager", leader=True),
                 node_json("n2bbbbbbbbbbbbbbbbbbbbbbb", "node2", addr="127.0.1.2")):
        double.nodes[node["ID"]] = node
    for name in ("password", "s2"):
        double.secrets["sec" + name] = {"ID": "sec" + name, "Version": {"Index": 1},
                                        "Spec": {"Name": name, "Labels": {}}}
    double.configs["cfgcfg"] = {"ID": "cfgcfg", "Version": {"Index": 1}, "Spec": {"Name": "cfg"}}


READ_COMMANDS = [
    "node ls",
    "node ls -q",
    "node ls --format json",
    "node ls --format '{{.Hostname}}: {{.ManagerStatus}}'",
    "node ls --format 'table {{.ID}}\t{{.Hostname}}\t{{.TLSStatus}}'",
    "node inspect -f '{{ json .Spec }}' node1",
    "node inspect -f '{{ json .Spec.Labels }}' node1",
    "node inspect -f '{{.Status.State}} {{.Spec.Role}} {{.ManagerStatus.Leader}}' node1 node2",
    "node inspect node3",
    "node inspect --format json node3",
    "node inspect nope",
    "node inspect node1 nope",
    "node ps node2",
    "node ps",
    "node ps nope",
    "node promote nope",
    "node rm nope",
    "service ls",
    "service ls -q",
    "service ls --format json",
    "service ls --format '{{.Name}} {{.Replicas}}'",
    "service ps www",
    "service ps --no-trunc www",
    "service ps -f desired-state=running www",
    "service ps -q www",
    "service ps www agent",
    "service ps --format json www",
    "service ps nope",
    "service inspect -f '{{.Spec.Name}} {{json .Spec.Mode}}' www",
    "service inspect www",
    "service inspect nope",
    "service rm nope",
    "service update -d --replicas 2 nope",
    "service scale www",
    "service scale agent=2",
    "secret ls",
    "secret ls --format json",
    "secret inspect password",
    "secret inspect nope",
    "config ls",
    "config inspect -f '{{.Spec.Name}}' cfg",
    "swarm join-token manager",
    "swarm join-token -q worker",
    "swarm unlock-key",
    "swarm unlock-key -q",
    "swarm ca",
    "service inspect --pretty agent www",
    "node inspect --pretty node3 node2",
    "node inspect --pretty self",
    "secret inspect --pretty password",
    "config inspect --pretty cfg",
    "config ls --format json",
    "node ls -f role=manager",
]


def seed_reads(double: EngineAPIDouble, t0: float) -> None:
    """Timestamps are t0 minus ages picked mid-way in go-units' buckets ("2 minutes"
    covers 120-179 s), so a few seconds between seeding and printing change nothing."""
    def _ago(seconds: float) -> str:
        when = dt.datetime.fromtimestamp(t0 - seconds, dt.timezone.utc)
        return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"

    n1, n2, n3 = "n1aaaaaaaaaaaaaaaaaaaaaaa", "n2bbbbbbbbbbbbbbbbbbbbbbb", "n3ccccccccccccccccccccccc"
    nodes = [node_json(n1, "node1", role="manager", leader=True),
             node_json(n2, "node2", role="manager", addr="127.0.1.2", availability="drain"),
             node_json(n3, "node3", addr="127.0.1.3", state="down")]
    nodes[0]["Spec"]["Labels"] = {"Memcached": "true"}
    nodes[1]["ManagerStatus"]["Reachability"] = "unreachable"
    nodes[2]["Description"]["TLSInfo"] = {"TrustRoot": "OLD"}
    for node in nodes:
        node["CreatedAt"] = _ago(3 * 3600)
        double.nodes[node["ID"]] = node
    www = {"ID": "wwwservice0000000000000001", "Version": {"Index": 7}, "CreatedAt": _ago(600),
           "UpdatedAt": _ago(300),
           "Spec": {"Name": "www", "Labels": {}, "TaskTemplate": {
               "ContainerSpec": {"Image": "swarmlab/web:1@sha256:" + "a" * 64, "Init": False},
               "Placement": {"MaxReplicas": 2}},
               "Mode": {"Replicated": {"Replicas": 3}},
               "EndpointSpec": {"Mode": "vip", "Ports": [
                   {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
                   {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "host"}]}},
           "Endpoint": {"Spec": {}, "Ports": [
               {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
               {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "host"}]}}
    agent = {"ID": "agentservice00000000000002", "Version": {"Index": 3}, "CreatedAt": _ago(900),
             "UpdatedAt": _ago(900),
             "Spec": {"Name": "agent", "Labels": {"tier": "ops"}, "TaskTemplate": {
                 "ContainerSpec": {"Image": "swarmlab/worker:1"}}, "Mode": {"Global": {}}},
             "Endpoint": {"Spec": {}}}
    double.add_service(www)
    double.add_service(agent)
    image = www["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    tasks = [
        task_json("t1new000000000000000000001", www["ID"], 1, n1, created=_ago(150), image=image),
        task_json("t1old000000000000000000002", www["ID"], 1, n3, state="shutdown", desired="shutdown",
                  created=_ago(450), image=image),
        task_json("t1older0000000000000000003", www["ID"], 1, n3, state="failed", desired="shutdown",
                  created=_ago(4000), image=image,
                  err="task: non-zero exit (137): the process was killed"),
        task_json("t2task000000000000000000004", www["ID"], 2, n2, created=_ago(90), image=image),
        task_json("t3task000000000000000000005", www["ID"], 3, "", state="pending", created=_ago(210),
                  image=image, err="no suitable node (1 node not available for new tasks)"),
        task_json("tagent1000000000000000006", agent["ID"], 0, n1, created=_ago(330),
                  image="swarmlab/worker:1"),
        task_json("tagent2000000000000000007", agent["ID"], 0, n2, state="starting", created=_ago(270),
                  image="swarmlab/worker:1"),
    ]
    tasks[0]["Status"]["PortStatus"] = {"Ports": [
        {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "host"}]}
    double.tasks.extend(tasks)
    double.secrets["secpassword"] = {"ID": "secpassword0000000000000", "Version": {"Index": 11},
                                     "CreatedAt": _ago(7200), "UpdatedAt": _ago(7200),
                                     "Spec": {"Name": "password", "Labels": {"env": "lab"}}}
    double.configs["cfgcfg"] = {"ID": "cfgconfig000000000000000", "Version": {"Index": 12},
                                "CreatedAt": _ago(90), "UpdatedAt": _ago(90),
                                "Spec": {"Name": "cfg", "Labels": {}, "Data": "aGVsbG8K"}}
    double.unlock_key = "SWMKEY-1-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    double.swarm["TLSInfo"] = {"TrustRoot": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}


SCENARIOS = {"writes": (seed, GOLDEN_COMMANDS), "reads": (seed_reads, READ_COMMANDS)}


def changes(requests: list[dict]) -> list[dict]:
    return [r for r in requests if r["method"] in ("POST", "DELETE")]


def record(seeder, commands: list[str], t0: float) -> list[dict]:
    double = EngineAPIDouble(node_id="n1aaaaaaaaaaaaaaaaaaaaaaa").start()
    seeder(double, t0)
    host = double.url.replace("http://", "tcp://")
    golden = []
    try:
        for line in commands:
            double.requests.clear()
            run = subprocess.run(["docker", "-H", host, *shlex.split(line)], capture_output=True,
                                 text=True, timeout=60, input="")
            golden.append({"command": line, "exit": run.returncode, "stdout": run.stdout,
                           "stderr": run.stderr, "requests": changes(double.requests)})
    finally:
        double.stop()
    return golden


def main() -> None:
    t0 = time.time()
    scenarios = {name: record(seeder, commands, t0) for name, (seeder, commands) in SCENARIOS.items()}
    version = subprocess.run(["docker", "--version"], capture_output=True, text=True).stdout.strip()
    GOLDEN.write_text(json.dumps({"docker": version, "seeded_at": t0, "scenarios": scenarios},
                                 indent=1) + "\n")
    print(f"wrote {sum(map(len, scenarios.values()))} commands to {GOLDEN}")


if __name__ == "__main__":
    main()
