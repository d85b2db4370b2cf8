"""``swarmlab/vote:1``: the front end of the voting app, in the shape of Docker's example.

A page with two options; a vote is pushed onto the KV store's queue (found by
service name, ``KV_HOST``) with the voter's id from a cookie, so voting again
changes a vote rather than adding one. The page says which task served it.

Environment: ``OPTION_A`` (Cats), ``OPTION_B`` (Dogs), ``KV_HOST`` (kv), ``KV_PORT`` (80),
``WORKER_QUEUE`` (votes), ``PORT`` (80), ``SWARMLAB_BIND`` (0.0.0.0).
"""
from __future__ import annotations

import html
import json
import secrets
from http.cookies import SimpleCookie

from ._http import Handler, KvClient, KvError, env, log, serve, task_name

PAGE = """<!doctype html><html><head><title>{a} vs {b}</title></head><body>
<h1>{a} vs {b}!</h1>
<form method="post" action="/">
<button name="vote" value="a">{a}</button> <button name="vote" value="b">{b}</button>
</form><p>{message}</p><p>Processed by task {task}</p></body></html>
"""


def options() -> dict[str, str]:
    return {"a": env("OPTION_A", "Cats"), "b": env("OPTION_B", "Dogs")}


def page(message: str) -> str:
    opts = options()
    return PAGE.format(a=html.escape(opts["a"]), b=html.escape(opts["b"]),
                       message=html.escape(message), task=html.escape(task_name()))


class VoteHandler(Handler):
    def voter_id(self) -> tuple[str, bool]:
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        if "voter_id" in cookie:
            return cookie["voter_id"].value, False
        return secrets.token_hex(8), True

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.reply(200, "ok\n")
        elif path == "/":
            self.reply(200, page(""), "text/html; charset=utf-8")
        else:
            self.reply(404, "not found\n")

    def do_POST(self) -> None:
        choice = self.form().get("vote", "")
        voter, new = self.voter_id()
        headers = {"Set-Cookie": f"voter_id={voter}; Path=/"} if new else {}
        if choice not in options():
            return self.reply(400, page("choose a or b"), "text/html; charset=utf-8", headers)
        try:
            KvClient().lpush(env("WORKER_QUEUE", "votes"),
                             json.dumps({"voter_id": voter, "vote": choice}))
        except KvError as exc:
            log(f"vote lost: {exc}")
            return self.reply(503, page("the vote store is unavailable, try again"),
                              "text/html; charset=utf-8", headers)
        self.reply(200, page(f"you voted for {options()[choice]}"),
                   "text/html; charset=utf-8", headers)


def main() -> None:
    serve(VoteHandler, "vote")


if __name__ == "__main__":
    main()
