"""The cluster object, `swarm update`, networks, and service status counts."""
import dataclasses

import pytest

from cp_harness import Harness, web
from swarmlab.objects import (
    SECOND_NS, AlreadyExists, FailedPrecondition, NetworkAttachmentConfig, NetworkSpec,
    OrchestrationConfig, RestartPolicy, SequenceError, DispatcherConfig,
)
from swarmlab.manager import service_status


def test_init_makes_the_cluster_from_the_profile_with_an_ingress_network():
    h = Harness(workers=0)
    view = h.store.view()
    cluster = view.cluster().to_json()
    assert cluster["Spec"]["Dispatcher"] == {"HeartbeatPeriod": 1 * SECOND_NS}  # lab profile
    assert cluster["Spec"]["Raft"]["ElectionTick"] == 10
    assert cluster["Spec"]["Orchestration"] == {"TaskHistoryRetentionLimit": 5}
    assert set(cluster["JoinTokens"]) == {"Worker", "Manager"}
    [ingress] = view.networks()
    assert ingress.spec.name == "ingress" and ingress.spec.ingress
    with pytest.raises(FailedPrecondition, match="already part of a swarm"):
        h.manager.init("again")


def test_swarm_update_changes_retention_and_heartbeat():
    h = Harness(workers=1)
    cluster = h.store.view().cluster()
    spec = dataclasses.replace(cluster.spec,
                               orchestration=OrchestrationConfig(task_history_retention_limit=2),
                               dispatcher=DispatcherConfig(heartbeat_period=2 * SECOND_NS))
    with pytest.raises(SequenceError):
        h.manager.update_cluster(cluster.version.index - 1, spec)
    h.manager.update_cluster(cluster.version.index, spec)
    s = h.manager.create_service(web(replicas=1, image="x:broken",
                                     restart_policy=RestartPolicy(delay=0)))
    h.run(20)
    assert len(h.tasks(s.id)) == 2
    h.step()
    assert h.manager.dispatcher.heartbeat_period_ns == 2 * SECOND_NS


def test_networks_and_their_refusals():
    h = Harness(workers=1)
    net = h.manager.create_network(NetworkSpec(name="backend"))
    with pytest.raises(AlreadyExists, match="name conflicts with an existing object"):
        h.manager.create_network(NetworkSpec(name="backend"))
    spec = dataclasses.replace(web(), task_template=dataclasses.replace(
        web().task_template, networks=(NetworkAttachmentConfig(target=net.id),)))
    svc = h.manager.create_service(spec)
    with pytest.raises(FailedPrecondition, match="network backend is in use by service web"):
        h.manager.remove_network("backend")
    h.manager.remove_service(svc.id)
    h.manager.remove_network("backend")
    assert [n.spec.name for n in h.store.view().networks()] == ["ingress"]


def test_service_status_counts():
    h = Harness(workers=2)
    s = h.manager.create_service(web(replicas=3))
    h.run_until(lambda: len(h.running(s.id)) == 3)
    st = service_status(h.store.view(), h.service(s.id))
    assert st.to_json() == {"RunningTasks": 3, "DesiredTasks": 3, "CompletedTasks": 0}
