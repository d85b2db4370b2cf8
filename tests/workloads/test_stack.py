"""The voting-app workloads (kv, worker, vote, result) as real processes talking HTTP."""
from __future__ import annotations

import http.client
import json
import time
import urllib.parse

from swarmlab.workloads._http import KvClient


def request(url: str, method: str = "GET", body: str = "", headers: dict | None = None):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=3)
    try:
        conn.request(method, parts.path or "/", body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), resp.getheader("Set-Cookie")
    finally:
        conn.close()


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return value


def test_kv_strings_counters_and_queue(start):
    kv = start("kv")
    client = KvClient("127.0.0.1", kv.port)
    assert client.get("missing") is None
    client.set("greeting", "hello world")
    assert client.get("greeting") == "hello world"
    assert client.incr("hits") == 1
    assert client.incr("hits", 5) == 6
    assert client.incr("hits", -2) == 4
    assert request(kv.url + "/incr/greeting", "POST")[0] == 400
    assert [client.lpush("q", item) for item in ("a", "b", "c")] == [1, 2, 3]
    assert request(kv.url + "/llen/q")[1] == "3"
    assert [client.rpop("q") for _ in range(4)] == ["a", "b", "c", None]
    assert client.scan("gr") == {"greeting": "hello world"}
    assert request(kv.url + "/kv/greeting", "DELETE")[0] == 200
    assert client.get("greeting") is None


def test_kv_persists_to_its_data_dir(start, tmp_path):
    first = start("kv", KV_DATA_DIR=str(tmp_path))
    KvClient("127.0.0.1", first.port).set("kept", "yes")
    KvClient("127.0.0.1", first.port).lpush("q", "item")
    first.stop()
    second = start("kv", KV_DATA_DIR=str(tmp_path))
    client = KvClient("127.0.0.1", second.port)
    assert client.get("kept") == "yes"
    assert client.rpop("q") == "item"


def test_votes_flow_from_vote_through_worker_to_result(start):
    kv = start("kv")
    kv_env = {"KV_HOST": "127.0.0.1", "KV_PORT": str(kv.port)}
    vote = start("vote", **kv_env, OPTION_A="Tea", OPTION_B="Coffee")
    result = start("result", **kv_env)
    worker = start("worker", http=False, **kv_env, WORKER_POLL_S="0.05")

    status, page, _ = request(vote.url + "/")
    assert status == 200 and "Tea vs Coffee" in page
    status, page, cookie = request(vote.url + "/", "POST", "vote=a",
                                   {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and "you voted for Tea" in page
    voter = cookie.split(";")[0]
    request(vote.url + "/", "POST", "vote=b", {"Cookie": "voter_id=other"})
    wait_for(lambda: json.loads(request(result.url + "/json")[1])["total"] == 2)
    # The first voter changes their mind: one vote moves, none is added.
    request(vote.url + "/", "POST", "vote=b", {"Cookie": voter})
    counts = wait_for(lambda: (c := json.loads(request(result.url + "/json")[1]))["b"] == 2 and c)
    assert counts == {"a": 0, "b": 2, "total": 2}
    assert "0%" in request(result.url + "/")[1] and "100%" in request(result.url + "/")[1]
    assert request(vote.url + "/", "POST", "vote=z")[0] == 400
    code, out = worker.stop()
    assert code is not None and "changed a -> b" in out


def test_vote_and_result_report_a_missing_kv_store(start, free_port):
    gone = {"KV_HOST": "127.0.0.1", "KV_PORT": str(free_port())}
    vote = start("vote", **gone)
    result = start("result", **gone)
    assert request(vote.url + "/", "POST", "vote=a")[0] == 503
    assert request(result.url + "/json")[0] == 503


def test_worker_waits_for_the_kv_store_then_works(start, free_port):
    port = free_port()
    worker = start("worker", http=False, KV_HOST="127.0.0.1", KV_PORT=str(port),
                   WORKER_POLL_S="0.05")
    time.sleep(0.3)
    kv = start("kv", PORT=str(port))
    client = KvClient("127.0.0.1", kv.port)
    client.lpush("votes", json.dumps({"voter_id": "v1", "vote": "a"}))
    client.lpush("votes", "not json")
    wait_for(lambda: client.get("count:a") == "1", timeout=8)
    _, out = worker.stop()
    assert "waiting for kv store" in out and "connected to kv store" in out
    assert "skipped malformed item" in out
