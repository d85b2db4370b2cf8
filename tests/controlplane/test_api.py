"""The object model speaks Docker Engine JSON exactly, and task states only move forward."""
import json

import pytest

from swarmlab.objects import (
    ContainerSpec, EndpointSpec, Global, Node, NodeSpec, Placement, PlacementPreference,
    PortConfig, PublishMode, Replicated, RestartCondition, RestartPolicy, Service,
    ServiceMode, ServiceSpec, SpreadOver, Task, TaskSpec, TaskState, TaskStateBackward,
    UpdateConfig, check_forward, format_time, from_json, parse_time, to_json,
)

DOCKER_SERVICE_SPEC = {
    "Name": "web",
    "Labels": {"tier": "front"},
    "TaskTemplate": {
        "ContainerSpec": {"Image": "swarmlab/web:1", "Args": ["--port", "80"],
                          "Env": ["A=1"], "StopGracePeriod": 10000000000},
        "Resources": {"Limits": {"NanoCPUs": 500000000},
                      "Reservations": {"MemoryBytes": 104857600}},
        "RestartPolicy": {"Condition": "on-failure", "Delay": 5000000000,
                          "MaxAttempts": 3, "Window": 60000000000},
        "Placement": {"Constraints": ["node.labels.dc==east"],
                      "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
                      "MaxReplicas": 2},
        "ForceUpdate": 1,
    },
    "Mode": {"Replicated": {"Replicas": 3}},
    "UpdateConfig": {"Parallelism": 2, "Delay": 10000000000, "FailureAction": "rollback",
                     "Monitor": 5000000000, "MaxFailureRatio": 0.25, "Order": "start-first"},
    "EndpointSpec": {"Mode": "vip", "Ports": [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}]},
}


def test_service_spec_round_trips_docker_json():
    spec = from_json(ServiceSpec, DOCKER_SERVICE_SPEC)
    assert spec.task_template.container_spec.image == "swarmlab/web:1"
    assert spec.mode.replicated.replicas == 3
    assert spec.task_template.restart_policy == RestartPolicy(
        RestartCondition.ON_FAILURE, 5_000_000_000, 3, 60_000_000_000)
    assert spec.task_template.placement.preferences[0].spread.spread_descriptor == "node.labels.zone"
    assert spec.endpoint_spec.ports[0].published_port == 8080
    assert to_json(spec) == DOCKER_SERVICE_SPEC


def test_docker_defaults_for_update_config():
    cfg = UpdateConfig()
    assert to_json(cfg) == {"Parallelism": 1, "Delay": 0, "FailureAction": "pause",
                            "Monitor": 5_000_000_000, "MaxFailureRatio": 0.0,
                            "Order": "stop-first"}
    assert ServiceSpec().update == cfg and ServiceSpec().rollback == cfg


def test_modes_and_global_is_an_empty_object():
    assert to_json(ServiceMode(global_=Global())) == {"Global": {}}
    assert from_json(ServiceMode, {"Global": {}}).is_global
    assert from_json(ServiceMode, {"ReplicatedJob": {"MaxConcurrent": 2,
                                                     "TotalCompletions": 5}}).is_job


def test_objects_carry_id_version_and_rfc3339_times():
    svc = Service(id="abc", created_at=1_700_000_000_123_456_789,
                  spec=ServiceSpec(name="x", task_template=TaskSpec(
                      container_spec=ContainerSpec(image="i"))))
    j = svc.to_json()
    assert j["ID"] == "abc" and j["Version"] == {"Index": 0}
    assert j["CreatedAt"] == "2023-11-14T22:13:20.123456789Z"
    assert j["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "i"
    assert Service.from_json(json.loads(json.dumps(j))) == svc
    task = Task(id="t", service_id="abc", node_id="n", slot=2, desired_state=TaskState.RUNNING)
    tj = task.to_json()
    assert tj["ServiceID"] == "abc" and tj["NodeID"] == "n" and tj["Slot"] == 2
    assert tj["Status"]["State"] == "new" and tj["DesiredState"] == "running"
    node = Node(id="n", spec=NodeSpec(labels={"dc": "east"}))
    nj = node.to_json()
    assert nj["Spec"] == {"Labels": {"dc": "east"}, "Role": "worker", "Availability": "active"}
    assert nj["Status"]["State"] == "unknown" and nj["Description"]["Platform"]["OS"] == "linux"


def test_times_parse_back_exactly():
    for ns in (0, 1, 1_500_000_000, 1_700_000_000_123_456_789):
        assert parse_time(format_time(ns)) == ns


def test_bad_json_is_refused_clearly():
    with pytest.raises(ValueError, match="Replicas"):
        from_json(ServiceSpec, {"Mode": {"Replicated": {"Replicas": "three"}}})
    with pytest.raises(ValueError, match="Condition"):
        from_json(RestartPolicy, {"Condition": "sometimes"})


def test_task_states_are_dockers_ordered_list():
    names = [s.value for s in TaskState]
    assert names == ["new", "allocated", "pending", "assigned", "accepted", "preparing",
                     "ready", "starting", "running", "complete", "shutdown", "failed",
                     "rejected", "remove", "orphaned"]
    assert TaskState.PENDING < TaskState.RUNNING < TaskState.FAILED
    check_forward(TaskState.RUNNING, TaskState.FAILED, "t1")
    with pytest.raises(TaskStateBackward, match="from running to pending"):
        check_forward(TaskState.RUNNING, TaskState.PENDING, "t1")


def test_host_mode_ports_and_preferences():
    spec = EndpointSpec(ports=(PortConfig(target_port=80, published_port=80,
                                          publish_mode=PublishMode.HOST),))
    assert to_json(spec)["Ports"][0]["PublishMode"] == "host"
    p = Placement(preferences=(PlacementPreference(SpreadOver("node.labels.dc")),))
    assert to_json(p) == {"Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.dc"}}]}
    assert to_json(Replicated(0)) == {"Replicas": 0}
