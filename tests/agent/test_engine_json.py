"""The Engine API reads JSON the way Docker does (what docker-py sends must parse)."""
from swarmlab.objects import ServiceSpec, from_json


def test_keys_match_case_insensitively_like_go():
    spec = from_json(ServiceSpec, {"Name": "www", "TaskTemplate": {"ContainerSpec": {
        "Image": "swarmlab/web:1"}}, "Mode": {"replicated": {"Replicas": 3}}})
    assert spec.mode.replicated is not None and spec.mode.replicated.replicas == 3


def test_exact_keys_win_over_folded_ones():
    spec = from_json(ServiceSpec, {"Name": "a", "name": "b"})
    assert spec.name == "a"


def test_an_empty_order_or_failure_action_reads_as_the_default_like_dockerd():
    from swarmlab.objects import FailureAction, UpdateConfig, UpdateOrder, to_json
    cfg = from_json(UpdateConfig, {"Parallelism": 2, "Order": "", "FailureAction": ""})
    assert cfg.order == UpdateOrder.STOP_FIRST and cfg.failure_action == FailureAction.PAUSE
    assert to_json(cfg)["Order"] == "stop-first"  # returned as stored
    assert from_json(UpdateConfig, {"Order": "start-first"}).order == UpdateOrder.START_FIRST


def test_an_unknown_order_is_refused_in_dockerds_words():
    import pytest
    from swarmlab.objects import InvalidArgument, UpdateConfig
    for bad, words in ((("Order", "sideways"), "unrecognized update order sideways"),
                       (("FailureAction", "panic"), "unrecognized update failure action panic")):
        with pytest.raises(InvalidArgument, match=f"^{words}$"):
            from_json(UpdateConfig, dict([bad]))
        with pytest.raises(ValueError):  # still bad JSON to whoever reads it as such
            from_json(UpdateConfig, dict([bad]))
