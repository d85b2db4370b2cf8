"""The time series charts of labs 07 and 11 (swarmlab.viz.metrics): pure, fit the page."""
import pytest

from swarmlab.viz.metrics import counters_figure, rates, series_figure


def test_series_figure_one_line_per_series_sorted_by_time():
    fig = series_figure({"kitchen": [(2.0, 21.5), (0.0, 21.0), (1.0, 21.2)],
                         "attic": [(0.0, 15.0), (1.0, 15.5)]},
                        title="temperature", y_title="°C")
    assert [t.name for t in fig.data] == ["attic", "kitchen"]
    kitchen = fig.data[1]
    assert list(kitchen.x) == [0.0, 1.0, 2.0] and list(kitchen.y) == [21.0, 21.2, 21.5]
    assert fig.layout.yaxis.title.text == "°C"
    assert fig.layout.width is None          # takes the page's width
    assert fig.data[0].line.color != fig.data[1].line.color


def test_series_figure_is_deterministic_and_refuses_nothing_to_draw():
    pts = {"a": [(0.0, 1.0), (1.0, 2.0)]}
    assert series_figure(pts).to_json() == series_figure(pts).to_json()
    with pytest.raises(ValueError):
        series_figure({})


def test_rates_per_second_between_scrapes():
    scrapes = [(10.0, {"node1": 0, "node2": 5}),
               (12.0, {"node1": 10, "node2": 5}),
               (14.0, {"node1": 14, "node2": 9})]
    assert rates(scrapes) == {"node1": [(12.0, 5.0), (14.0, 2.0)],
                              "node2": [(12.0, 0.0), (14.0, 2.0)]}


def test_rates_sort_the_scrapes_and_read_a_reset_as_a_restart():
    scrapes = [(2.0, {"n": 8}), (1.0, {"n": 4}), (3.0, {"n": 3})]
    assert rates(scrapes) == {"n": [(2.0, 4.0), (3.0, 3.0)]}


def test_rates_skip_a_counter_missing_from_a_scrape():
    scrapes = [(0.0, {"a": 1}), (1.0, {"a": 2, "b": 7}), (2.0, {"a": 4, "b": 8})]
    assert rates(scrapes) == {"a": [(1.0, 1.0), (2.0, 2.0)], "b": [(2.0, 1.0)]}


def test_counters_figure_rates_and_totals_from_the_first_scrape():
    scrapes = [(100.0, {"node1": 0, "node2": 0}), (101.0, {"node1": 3, "node2": 1}),
               (102.0, {"node1": 6, "node2": 3})]
    fig = counters_figure(scrapes, title="requests per node")
    node1 = next(t for t in fig.data if t.name == "node1")
    assert list(node1.x) == [1.0, 2.0] and list(node1.y) == [3.0, 3.0]
    assert fig.layout.yaxis.title.text == "connections per second"
    totals = counters_figure(scrapes, per_second=False, unit="requests")
    node2 = next(t for t in totals.data if t.name == "node2")
    assert list(node2.x) == [0.0, 1.0, 2.0] and list(node2.y) == [0, 1, 3]
    assert totals.layout.yaxis.title.text == "requests (total)"
    with pytest.raises(ValueError):
        counters_figure(scrapes[:1])
