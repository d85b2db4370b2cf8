"""``swarmlab/kv:1``: a tiny Redis-like key-value store spoken over HTTP.

It plays the part of Redis in the voting-app stack: strings, counters and lists
(a queue: LPUSH by the front end, RPOP by the worker). Optional persistence to
``KV_DATA_DIR`` (a JSON snapshot after each write) shows what a volume keeps.

    GET  /kv/KEY            value, or 404        PUT    /kv/KEY   set (body)
    DELETE /kv/KEY          remove               POST   /incr/KEY?by=N   new integer
    POST /lpush/LIST        push body, length    POST   /rpop/LIST  oldest item or 204
    GET  /llen/LIST         length               GET    /keys?prefix=P  {key: value}
    GET  /health
"""
from __future__ import annotations

import json
import os
import threading
import urllib.parse
from collections import deque
from pathlib import Path

from ._http import Handler, env, log, serve


class Store:
    """The data, guarded by one lock: every operation is atomic, like Redis's."""

    def __init__(self, data_dir: str = ""):
        self.lock = threading.Lock()
        self.strings: dict[str, str] = {}
        self.lists: dict[str, deque[str]] = {}
        self.path = Path(data_dir) / "kv.json" if data_dir else None
        if self.path and self.path.is_file():
            saved = json.loads(self.path.read_text())
            self.strings = saved["strings"]
            self.lists = {k: deque(v) for k, v in saved["lists"].items()}

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"strings": self.strings,
                                   "lists": {k: list(v) for k, v in self.lists.items()}}))
        os.replace(tmp, self.path)

    def incr(self, key: str, by: int) -> int:
        with self.lock:
            value = int(self.strings.get(key, "0")) + by
            self.strings[key] = str(value)
            self.save()
            return value

    def lpush(self, name: str, item: str) -> int:
        with self.lock:
            items = self.lists.setdefault(name, deque())
            items.appendleft(item)
            self.save()
            return len(items)

    def rpop(self, name: str) -> str | None:
        with self.lock:
            items = self.lists.get(name)
            if not items:
                return None
            item = items.pop()
            self.save()
            return item

    def put(self, key: str, value: str | None) -> None:
        with self.lock:
            if value is None:
                self.strings.pop(key, None)
            else:
                self.strings[key] = value
            self.save()


STORE = Store()


class KvHandler(Handler):
    def route(self) -> tuple[str, str, dict[str, str]]:
        parsed = urllib.parse.urlsplit(self.path)
        verb, _, arg = parsed.path.lstrip("/").partition("/")
        return verb, urllib.parse.unquote(arg), dict(urllib.parse.parse_qsl(parsed.query))

    def do_GET(self) -> None:
        verb, arg, query = self.route()
        if verb == "health":
            self.reply(200, "ok\n")
        elif verb == "kv" and arg in STORE.strings:
            self.reply(200, STORE.strings[arg])
        elif verb == "llen":
            self.reply(200, str(len(STORE.lists.get(arg, ()))))
        elif verb == "keys":
            prefix = query.get("prefix", "")
            with STORE.lock:
                found = {k: v for k, v in STORE.strings.items() if k.startswith(prefix)}
            self.reply_json(200, found)
        else:
            self.reply(404, "not found\n")

    def do_PUT(self) -> None:
        verb, arg, _ = self.route()
        if verb != "kv" or not arg:
            return self.reply(404, "not found\n")
        STORE.put(arg, self.body().decode())
        self.reply(200, "OK\n")

    def do_DELETE(self) -> None:
        verb, arg, _ = self.route()
        STORE.put(arg, None)
        self.reply(200 if verb == "kv" else 404, "OK\n")

    def do_POST(self) -> None:
        verb, arg, query = self.route()
        if verb == "incr":
            try:
                self.reply(200, str(STORE.incr(arg, int(query.get("by", "1")))))
            except ValueError:
                self.reply(400, "value is not an integer or out of range\n")
        elif verb == "lpush":
            self.reply(200, str(STORE.lpush(arg, self.body().decode())))
        elif verb == "rpop":
            item = STORE.rpop(arg)
            self.reply(200, item) if item is not None else self.reply(204, b"")
        else:
            self.reply(404, "not found\n")


def main() -> None:
    global STORE
    STORE = Store(env("KV_DATA_DIR"))
    log(f"kv store starting ({'persisting to ' + str(STORE.path) if STORE.path else 'in memory'})")
    serve(KvHandler, "kv")


if __name__ == "__main__":
    main()
