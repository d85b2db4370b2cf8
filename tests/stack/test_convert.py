"""Every compose key a stack converts, to the exact Engine API spec `docker stack deploy` sends."""
from __future__ import annotations

import base64
import textwrap

from swarmlab import stack
from swarmlab.objects import ServiceSpec, from_json, to_json

FULL = textwrap.dedent("""
    version: "3.8"
    services:
      web:
        image: swarmlab/web:2
        entrypoint: python3 -m swarmlab.workloads.web
        command: ["--flag", "two words"]
        hostname: "{{.Task.Name}}"
        user: "1000"
        working_dir: /srv
        stop_grace_period: 1m30s
        stop_signal: SIGINT
        labels: [tier=front]
        environment:
          B: "2"
          A: 1
          EMPTY:
        healthcheck:
          test: curl -f http://localhost/health
          interval: 2s
          timeout: 500ms
          retries: 3
          start_period: 1s
        ports:
          - "8080:80"
          - "9000-9001:90-91/udp"
          - target: 443
            published: 8443
            protocol: tcp
            mode: host
          - "7000"
        secrets:
          - db_password
          - source: api_key
            target: key.txt
            uid: "100"
            gid: "101"
            mode: 0400
        configs:
          - source: site
            target: /etc/site.conf
        networks:
          front:
            aliases: [www]
          back:
        deploy:
          mode: replicated
          replicas: 3
          endpoint_mode: vip
          labels:
            team: blue
          placement:
            constraints: [node.role == worker, node.labels.dc == east]
            preferences:
              - spread: node.labels.dc
            max_replicas_per_node: 2
          update_config:
            parallelism: 2
            delay: 10s
            failure_action: rollback
            monitor: 5s
            max_failure_ratio: 0.25
            order: start-first
          rollback_config:
            parallelism: 0
            delay: 1s
            failure_action: pause
            order: stop-first
          restart_policy:
            condition: on-failure
            delay: 5s
            max_attempts: 3
            window: 2m
          resources:
            limits:
              cpus: "0.5"
              memory: 128M
            reservations:
              cpus: "0.25"
              memory: 1g
      agent:
        image: swarmlab/worker:1
        healthcheck:
          disable: true
        deploy:
          mode: global
          endpoint_mode: dnsrr
    networks:
      front:
      back:
        external: true
        name: shared-back
    secrets:
      db_password:
        file: ./db.txt
      api_key:
        external: true
    configs:
      site:
        file: ./site.conf
        labels:
          kind: web
""")

WEB = {
    "Name": "shop_web",
    "Labels": {"team": "blue", "com.docker.stack.namespace": "shop",
               "com.docker.stack.image": "swarmlab/web:2"},
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "swarmlab/web:2",
            "Labels": {"tier": "front", "com.docker.stack.namespace": "shop"},
            "Command": ["python3", "-m", "swarmlab.workloads.web"],
            "Args": ["--flag", "two words"],
            "Hostname": "{{.Task.Name}}",
            "Dir": "/srv",
            "User": "1000",
            "StopSignal": "SIGINT",
            "Env": ["A=1", "B=2", "EMPTY"],
            "StopGracePeriod": 90_000_000_000,
            "Healthcheck": {"Test": ["CMD-SHELL", "curl -f http://localhost/health"],
                            "Interval": 2_000_000_000, "Timeout": 500_000_000,
                            "StartPeriod": 1_000_000_000, "Retries": 3},
            "Secrets": [
                {"File": {"Name": "key.txt", "UID": "100", "GID": "101", "Mode": 0o400},
                 "SecretName": "api_key"},
                {"File": {"Name": "db_password", "UID": "0", "GID": "0", "Mode": 0o444},
                 "SecretName": "shop_db_password"},
            ],
            "Configs": [{"File": {"Name": "/etc/site.conf", "UID": "0", "GID": "0", "Mode": 0o444},
                         "ConfigName": "shop_site"}],
        },
        "Resources": {"Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 128 * 2**20},
                      "Reservations": {"NanoCPUs": 250_000_000, "MemoryBytes": 2**30}},
        "Placement": {"Constraints": ["node.role == worker", "node.labels.dc == east"],
                      "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.dc"}}],
                      "MaxReplicas": 2},
        "Networks": [{"Target": "shared-back", "Aliases": ["web"]},
                     {"Target": "shop_front", "Aliases": ["www", "web"]}],
        "RestartPolicy": {"Condition": "on-failure", "Delay": 5_000_000_000,
                          "Window": 120_000_000_000, "MaxAttempts": 3},
    },
    "Mode": {"Replicated": {"Replicas": 3}},
    "EndpointSpec": {"Mode": "vip", "Ports": [
        {"Protocol": "tcp", "TargetPort": 7000, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 443, "PublishedPort": 8443, "PublishMode": "host"},
        {"Protocol": "udp", "TargetPort": 90, "PublishedPort": 9000, "PublishMode": "ingress"},
        {"Protocol": "udp", "TargetPort": 91, "PublishedPort": 9001, "PublishMode": "ingress"},
    ]},
    "UpdateConfig": {"Parallelism": 2, "Delay": 10_000_000_000, "Monitor": 5_000_000_000,
                     "FailureAction": "rollback", "MaxFailureRatio": 0.25, "Order": "start-first"},
    "RollbackConfig": {"Parallelism": 0, "Delay": 1_000_000_000, "FailureAction": "pause",
                       "MaxFailureRatio": 0.0, "Order": "stop-first"},
}


def full_project(tmp_path):
    (tmp_path / "db.txt").write_text("s3cret\n")
    (tmp_path / "site.conf").write_text("listen 80\n")
    (tmp_path / "stack.yml").write_text(FULL)
    return stack.load(tmp_path / "stack.yml", env={})


def test_every_key_converts_to_the_engine_spec(tmp_path):
    plan = stack.plan(full_project(tmp_path), "shop")
    assert plan.services["shop_web"] == WEB
    assert plan.services["shop_agent"] == {
        "Name": "shop_agent",
        "Labels": {"com.docker.stack.namespace": "shop", "com.docker.stack.image": "swarmlab/worker:1"},
        "TaskTemplate": {"ContainerSpec": {"Image": "swarmlab/worker:1",
                                           "Labels": {"com.docker.stack.namespace": "shop"},
                                           "Healthcheck": {"Test": ["NONE"]}},
                         "Resources": {}, "Placement": {},
                         "Networks": [{"Target": "shop_default", "Aliases": ["agent"]}]},
        "Mode": {"Global": {}},
        "EndpointSpec": {"Mode": "dnsrr"},
    }


def test_stack_objects(tmp_path):
    plan = stack.plan(full_project(tmp_path), "shop")
    assert plan.secrets == [{"Name": "shop_db_password",
                             "Labels": {"com.docker.stack.namespace": "shop"},
                             "Data": base64.b64encode(b"s3cret\n").decode()}]
    assert plan.configs == [{"Name": "shop_site",
                             "Labels": {"kind": "web", "com.docker.stack.namespace": "shop"},
                             "Data": base64.b64encode(b"listen 80\n").decode()}]
    assert plan.external_secrets == ["api_key"] and plan.external_configs == []
    assert plan.external_networks == ["shared-back"]
    assert plan.networks == {
        "shop_default": {"Driver": "overlay", "Scope": "swarm", "Internal": False, "Attachable": False,
                         "Labels": {"com.docker.stack.namespace": "shop"}},
        "shop_front": {"Driver": "overlay", "Scope": "swarm", "Internal": False, "Attachable": False,
                       "Labels": {"com.docker.stack.namespace": "shop"}},
    }


def test_specs_round_trip_through_the_api_types(tmp_path):
    """What the lab's Engine API makes of the spec is the spec (for the keys it models)."""
    plan = stack.plan(full_project(tmp_path), "shop")
    decoded = to_json(from_json(ServiceSpec, plan.services["shop_web"]))
    assert decoded["TaskTemplate"]["Placement"] == WEB["TaskTemplate"]["Placement"]
    assert decoded["UpdateConfig"] == WEB["UpdateConfig"]
    assert decoded["EndpointSpec"] == WEB["EndpointSpec"]
    assert decoded["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1", "B=2", "EMPTY"]


def test_legacy_restart_and_jobs():
    text = ("version: '3.9'\nservices:\n"
            "  a:\n    image: x\n    restart: on-failure:4\n"
            "  b:\n    image: x\n    restart: unless-stopped\n"
            "  c:\n    image: x\n    deploy:\n      mode: replicated-job\n      replicas: 5\n"
            "  d:\n    image: x\n    deploy:\n      mode: global-job\n")
    plan = stack.plan(stack.load(text, env={}), "j")
    assert plan.services["j_a"]["TaskTemplate"]["RestartPolicy"] == {"Condition": "on-failure", "MaxAttempts": 4}
    assert plan.services["j_b"]["TaskTemplate"]["RestartPolicy"] == {"Condition": "any"}
    assert plan.services["j_c"]["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 5, "TotalCompletions": 5}}
    assert plan.services["j_d"]["Mode"] == {"GlobalJob": {}}


def test_units():
    from swarmlab.stack._units import duration_ns, nano_cpus, ram_bytes, short_ports, Port
    assert duration_ns("1h2m3.5s") == 3_723_500_000_000 and duration_ns("0") == 0
    assert duration_ns("300us") == 300_000 and duration_ns("-1s") == -1_000_000_000
    for bad in ("10", "10 s", "s", "1.2.3s", ""):
        try:
            duration_ns(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    assert ram_bytes("512m") == 512 * 2**20 and ram_bytes("1.5GiB") == 3 * 2**29 and ram_bytes(42) == 42
    assert nano_cpus("1.5") == 1_500_000_000
    assert short_ports("127.0.0.1:8080:80/udp") == [Port(80, 8080, "udp")]
    assert short_ports(80) == [Port(80)]
