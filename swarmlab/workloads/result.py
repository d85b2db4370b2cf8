"""``swarmlab/result:1``: shows the voting app's counts, as Docker's example ``result`` does.

It reads the ``count:<option>`` counters the worker keeps in the KV store.
``/`` is a page that refreshes itself; ``/json`` gives the numbers for tests.

Environment: ``OPTION_A`` (Cats), ``OPTION_B`` (Dogs), ``KV_HOST`` (kv), ``KV_PORT`` (80),
``PORT`` (80), ``SWARMLAB_BIND`` (0.0.0.0).
"""
from __future__ import annotations

import html

from ._http import Handler, KvClient, KvError, env, serve, task_name


def counts() -> dict[str, int]:
    found = KvClient().scan("count:")
    return {opt: int(found.get(f"count:{opt}", "0")) for opt in ("a", "b")}


def percent(part: int, total: int) -> str:
    return f"{100 * part / total:.0f}%" if total else "50%"


class ResultHandler(Handler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            return self.reply(200, "ok\n")
        if path not in ("/", "/json"):
            return self.reply(404, "not found\n")
        try:
            got = counts()
        except KvError as exc:
            return self.reply(503, f"kv store unavailable: {exc}\n")
        if path == "/json":
            return self.reply_json(200, {**got, "total": sum(got.values())})
        total = sum(got.values())
        a, b = html.escape(env("OPTION_A", "Cats")), html.escape(env("OPTION_B", "Dogs"))
        body = (f'<!doctype html><html><head><meta http-equiv="refresh" content="2">'
                f"<title>Results</title></head><body><h1>{a}: {percent(got['a'], total)} "
                f"&mdash; {b}: {percent(got['b'], total)}</h1><p>{total} votes</p>"
                f"<p>Processed by task {html.escape(task_name())}</p></body></html>\n")
        self.reply(200, body, "text/html; charset=utf-8")


def main() -> None:
    serve(ResultHandler, "result")


if __name__ == "__main__":
    main()
