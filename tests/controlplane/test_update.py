"""Rolling updates and rollbacks, with Docker's UpdateConfig options and UpdateStatus."""
import dataclasses
from collections import Counter

import pytest

from cp_harness import Harness, web
from swarmlab.objects import (
    SECOND_NS, FailedPrecondition, FailureAction, SequenceError, TaskState, UpdateConfig,
    UpdateOrder, UpdateState,
)


def with_image(spec, image):
    c = dataclasses.replace(spec.task_template.container_spec, image=image)
    return dataclasses.replace(spec, task_template=dataclasses.replace(
        spec.task_template, container_spec=c))


def update(h, ref, image=None, **changes):
    svc = h.service(ref)
    spec = svc.spec if image is None else with_image(svc.spec, image)
    spec = dataclasses.replace(spec, **changes)
    result = h.manager.update_service(svc.id, svc.version.index, spec)
    h.flush()  # with asynchronous Raft, the write lands when the entry commits
    return result


def image_of(t):
    return t.spec.container_spec.image


def running_images(h, sid):
    return Counter(image_of(t) for t in h.running(sid))


def start(h, replicas, **cfg):
    spec = web(replicas=replicas, image="swarmlab/web:1")
    if cfg:
        spec = dataclasses.replace(spec, update_config=UpdateConfig(**cfg))
    s = h.manager.create_service(spec)
    h.run_until(lambda: len(h.running(s.id)) == replicas)
    return s


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-raft", "async-raft"])
def test_rolling_update_of_12_replicas_goes_in_4_batches_of_3(asynchronous):
    h = Harness(workers=3, asynchronous=asynchronous)
    s = start(h, 12, parallelism=3, delay=2 * SECOND_NS, monitor=SECOND_NS)
    update(h, s.id, "swarmlab/web:2")
    status = h.service(s.id).update_status
    assert status.state == UpdateState.UPDATING and status.message == "update in progress"
    most_in_flight = 0
    while h.service(s.id).update_status.state == UpdateState.UPDATING:
        h.step()
        new = [t for t in h.tasks(s.id) if image_of(t) == "swarmlab/web:2"
               and t.status.state < TaskState.RUNNING]
        most_in_flight = max(most_in_flight, len(new))
        assert h.clock.now_ns() < status.started_at + 120 * SECOND_NS
    batches = Counter(t.created_at for t in h.tasks(s.id) if image_of(t) == "swarmlab/web:2")
    assert sorted(batches.values()) == [3, 3, 3, 3]
    times = sorted(batches)
    assert all(b - a >= 2 * SECOND_NS for a, b in zip(times, times[1:]))  # Delay between
    assert most_in_flight == 3
    final = h.service(s.id)
    assert final.update_status.state == UpdateState.COMPLETED
    assert final.update_status.message == "update completed"
    assert image_of_spec(final.previous_spec) == "swarmlab/web:1"
    assert running_images(h, s.id) == Counter({"swarmlab/web:2": 12})


def image_of_spec(spec):
    return spec.task_template.container_spec.image


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-raft", "async-raft"])
def test_failed_update_rolls_back_by_itself_with_failure_action_rollback(asynchronous):
    h = Harness(workers=3, asynchronous=asynchronous)
    s = start(h, 12, parallelism=3, failure_action=FailureAction.ROLLBACK,
              monitor=5 * SECOND_NS)
    update(h, s.id, "swarmlab/web:broken")
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.ROLLBACK_STARTED)
    status = h.service(s.id).update_status
    assert status.message.startswith("update rolled back due to failure or early termination "
                                      "of task ")
    assert image_of_spec(h.service(s.id).spec) == "swarmlab/web:1"
    assert image_of_spec(h.service(s.id).previous_spec) == "swarmlab/web:broken"
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.ROLLBACK_COMPLETED,
                timeout_s=120)
    assert h.service(s.id).update_status.message == "rollback completed"
    h.run(2)
    assert running_images(h, s.id) == Counter({"swarmlab/web:1": 12})
    # the failure stopped the update early: most slots never ran the broken image
    broken = [t for t in h.tasks(s.id) if image_of(t) == "swarmlab/web:broken"]
    assert len({t.slot for t in broken}) < 12
    assert sorted(Counter(t.created_at for t in broken).values())[-1] == 3


def test_failure_action_pause_and_continue():
    h = Harness(workers=2)
    s = start(h, 4)  # Docker's defaults: parallelism 1, failure action pause
    update(h, s.id, "x:broken")
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.PAUSED)
    msg = h.service(s.id).update_status.message
    assert msg.startswith("update paused due to failure or early termination of task ")
    touched = {t.slot for t in h.tasks(s.id) if image_of(t) == "x:broken"}
    h.run(10)  # paused: no further slot is updated (the failed ones keep restarting)
    assert {t.slot for t in h.tasks(s.id) if image_of(t) == "x:broken"} == touched
    assert len(touched) < 4

    c = h.manager.create_service(dataclasses.replace(
        web("c", replicas=4, image="x:1"),
        update_config=UpdateConfig(parallelism=2, failure_action=FailureAction.CONTINUE,
                                   monitor=SECOND_NS)))
    h.run_until(lambda: len(h.running(c.id)) == 4)
    update(h, c.id, "x:broken")
    h.run(30)
    assert {t.slot for t in h.tasks(c.id) if image_of(t) == "x:broken"} == {1, 2, 3, 4}
    assert h.service(c.id).update_status.state == UpdateState.UPDATING


def test_start_first_never_drops_below_replicas():
    h = Harness(workers=2)
    s = start(h, 4, parallelism=2, order=UpdateOrder.START_FIRST, monitor=SECOND_NS)
    update(h, s.id, "swarmlab/web:2")
    while h.service(s.id).update_status.state == UpdateState.UPDATING:
        h.step()
        assert len([t for t in h.tasks(s.id) if t.status.state == TaskState.RUNNING]) >= 4
    assert running_images(h, s.id) == Counter({"swarmlab/web:2": 4})


def test_force_update_redeploys_without_a_spec_change():
    h = Harness(workers=2)
    s = start(h, 2, monitor=SECOND_NS)
    before = {t.id for t in h.running(s.id)}
    svc = h.service(s.id)
    tt = dataclasses.replace(svc.spec.task_template, force_update=svc.spec.task_template.force_update + 1)
    h.manager.update_service(svc.id, svc.version.index, dataclasses.replace(svc.spec, task_template=tt))
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.COMPLETED)
    after = {t.id for t in h.running(s.id)}
    assert len(after) == 2 and not (before & after)


def test_manual_rollback_and_its_refusals():
    h = Harness(workers=2)
    s = start(h, 3, monitor=SECOND_NS)
    with pytest.raises(FailedPrecondition, match="does not have a previous spec"):
        h.manager.rollback_service(s.id, h.service(s.id).version.index)
    update(h, s.id, "swarmlab/web:2")
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.COMPLETED)
    svc = h.service(s.id)
    with pytest.raises(SequenceError, match="update out of sequence"):
        h.manager.rollback_service(s.id, svc.version.index - 1)
    h.manager.rollback_service(s.id, svc.version.index)
    status = h.service(s.id).update_status
    assert status.state == UpdateState.ROLLBACK_STARTED
    assert status.message == "manually requested rollback"
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.ROLLBACK_COMPLETED)
    assert running_images(h, s.id) == Counter({"swarmlab/web:1": 3})


def test_stale_service_update_changes_nothing():
    h = Harness(workers=1)
    s = start(h, 1)
    stale = h.service(s.id)
    update(h, s.id, "swarmlab/web:2")
    before = h.store.snapshot()
    with pytest.raises(SequenceError):
        h.manager.update_service(stale.id, stale.version.index, with_image(stale.spec, "x:3"))
    assert h.store.snapshot() == before


def test_rollback_uses_the_rollback_config():
    h = Harness(workers=3)
    spec = dataclasses.replace(web(replicas=6, image="swarmlab/web:1"),
                               update_config=UpdateConfig(parallelism=1, monitor=SECOND_NS),
                               rollback_config=UpdateConfig(parallelism=0, monitor=SECOND_NS))
    s = h.manager.create_service(spec)
    h.run_until(lambda: len(h.running(s.id)) == 6)
    update(h, s.id, "swarmlab/web:2")
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.COMPLETED, 120)
    svc = h.service(s.id)
    h.manager.rollback_service(s.id, svc.version.index)
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.ROLLBACK_COMPLETED)
    rolled = [t for t in h.tasks(s.id) if image_of(t) == "swarmlab/web:1"
              and t.created_at >= h.service(s.id).update_status.started_at]
    forward = [t for t in h.tasks(s.id) if image_of(t) == "swarmlab/web:2"]
    assert len(Counter(t.created_at for t in forward)) == 6  # parallelism 1: one at a time
    assert len(Counter(t.created_at for t in rolled)) == 1  # parallelism 0: all at once


def test_max_failure_ratio_tolerates_some_failures():
    h = Harness(workers=2)
    s = start(h, 4, parallelism=1, max_failure_ratio=0.5, monitor=SECOND_NS)
    update(h, s.id, "x:broken")
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.PAUSED, 120)
    failed = {t.slot for t in h.tasks(s.id) if image_of(t) == "x:broken"
              and t.status.state == TaskState.FAILED}
    assert len(failed) >= 2  # one failure in four (0.25) and two (0.5) were tolerated


def test_every_spec_update_resets_the_update_status():
    """swarmkit's UpdateService clears UpdateStatus: a scale after an automatic rollback
    (or after a finished update) reports no update at all; one during a rollback restarts
    the updater, which brings every slot to the current spec."""
    h = Harness(workers=2)
    s = start(h, 3, failure_action=FailureAction.ROLLBACK, monitor=SECOND_NS)
    update(h, s.id, "swarmlab/web:broken")
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.ROLLBACK_COMPLETED,
                timeout_s=120)
    update(h, s.id, mode=web(replicas=4).mode)
    assert h.service(s.id).update_status is None
    h.run_until(lambda: len(h.running(s.id)) == 4)
    assert h.service(s.id).update_status is None
    assert running_images(h, s.id) == Counter({"swarmlab/web:1": 4})

    update(h, s.id, "swarmlab/web:2")
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.COMPLETED, 120)
    update(h, s.id, labels={"tier": "front"})
    assert h.service(s.id).update_status is None

    update(h, s.id, "swarmlab/web:broken")
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.ROLLBACK_STARTED)
    update(h, s.id, mode=web(replicas=5).mode)  # mid-rollback
    status = h.service(s.id).update_status
    assert status.state == UpdateState.UPDATING and status.message == "update in progress"
    h.run_until(lambda: h.service(s.id).update_status.state == UpdateState.COMPLETED, 120)
    h.run(2)
    assert running_images(h, s.id) == Counter({"swarmlab/web:2": 5})


def test_a_rename_or_a_mode_change_is_refused_and_changes_nothing():
    from swarmlab.objects import Global, ServiceMode, Unimplemented
    h = Harness(workers=1)
    s = start(h, 1)
    before = h.store.snapshot()
    svc = h.service(s.id)
    with pytest.raises(Unimplemented, match="^renaming services is not supported$"):
        h.manager.update_service(s.id, svc.version.index, dataclasses.replace(svc.spec,
                                                                              name="other"))
    with pytest.raises(Unimplemented, match="^service mode change is not allowed$"):
        h.manager.update_service(s.id, svc.version.index, dataclasses.replace(
            svc.spec, mode=ServiceMode(global_=Global())))
    assert h.store.snapshot() == before
