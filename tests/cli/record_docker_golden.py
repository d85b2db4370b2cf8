"""Record what the real docker CLI sends for the command lines in GOLDEN_COMMANDS.

    python tests/cli/record_docker_golden.py   (needs a `docker` CLI; talks only to
                                                 the EngineAPIDouble on 127.0.0.1)

Each command line runs, in order, against one EngineAPIDouble seeded by `seed()`;
the requests that change state (POST/DELETE) are written to golden/docker_cli.json.
test_golden.py replays the same lines through `swarmlab` against a fresh double and
expects the same requests: same paths, same query, same JSON bodies.
"""
from __future__ import annotations

import json
import pathlib
import shlex
import subprocess
import sys

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from cli.engine_double import EngineAPIDouble, node_json  # noqa: E402

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


def seed(double: EngineAPIDouble) -> None:
    for node in (node_json("n1aaaaaaaaaaaaaaaaaaaaaaa", "node1", role="manager", leader=True),
                 node_json("n2bbbbbbbbbbbbbbbbbbbbbbb", "node2", addr="127.0.1.2")):
        double.nodes[node["ID"]] = node
    for name in ("password", "s2"):
        double.secrets["sec" + name] = {"ID": "sec" + name, "Version": {"Index": 1},
                                        "Spec": {"Name": name, "Labels": {}}}
    double.configs["cfgcfg"] = {"ID": "cfgcfg", "Version": {"Index": 1}, "Spec": {"Name": "cfg"}}


def changes(requests: list[dict]) -> list[dict]:
    return [r for r in requests if r["method"] in ("POST", "DELETE")]


def main() -> None:
    double = EngineAPIDouble(node_id="n1aaaaaaaaaaaaaaaaaaaaaaa").start()
    seed(double)
    host = double.url.replace("http://", "tcp://")
    golden = []
    try:
        for line in GOLDEN_COMMANDS:
            double.requests.clear()
            run = subprocess.run(["docker", "-H", host, *shlex.split(line)], capture_output=True,
                                 text=True, timeout=60, input="")
            golden.append({"command": line, "exit": run.returncode, "stdout": run.stdout,
                           "stderr": run.stderr, "requests": changes(double.requests)})
    finally:
        double.stop()
    version = subprocess.run(["docker", "--version"], capture_output=True, text=True).stdout.strip()
    GOLDEN.write_text(json.dumps({"docker": version, "commands": golden}, indent=1) + "\n")
    print(f"wrote {len(golden)} commands to {GOLDEN}")


if __name__ == "__main__":
    main()
