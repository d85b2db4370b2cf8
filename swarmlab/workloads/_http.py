"""What every lab workload shares: its environment, an HTTP server, a KV client.

Stdlib only, so that the workload images can stay a minimal Debian with python3.
A workload runs as PID 1 in a container, where SIGTERM has no default action:
``serve`` turns SIGTERM into a clean shutdown so ``docker stop`` does not have to
wait for the grace period and SIGKILL.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def env(name: str, default: str = "") -> str:
    return os.environ.get(name) or default


def node_name() -> str:
    return env("SWARMLAB_NODE", socket.gethostname())


def task_name() -> str:
    return env("SWARMLAB_TASK_NAME", socket.gethostname())


def log(line: str) -> None:
    """One line to stdout, flushed at once so that ``service logs`` sees it."""
    print(line, flush=True)


class Handler(BaseHTTPRequestHandler):
    server_version = "swarmlab"
    protocol_version = "HTTP/1.1"

    def reply(self, code: int, body: str | bytes, ctype: str = "text/plain; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def reply_json(self, code: int, obj: Any) -> None:
        self.reply(code, json.dumps(obj) + "\n", "application/json")

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body().decode()))

    def log_message(self, format: str, *args: Any) -> None:
        log(f"{self.address_string()} {format % args}")


def serve(handler: type[Handler], what: str, default_port: int = 80) -> None:
    """Serve until SIGTERM or SIGINT, on ``SWARMLAB_BIND``:``PORT``."""
    bind, port = env("SWARMLAB_BIND", "0.0.0.0"), int(env("PORT", str(default_port)))
    server = ThreadingHTTPServer((bind, port), handler)
    server.daemon_threads = True

    def stop(signum: int, _frame: Any) -> None:
        log(f"{what}: signal {signum}, shutting down")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"{what} listening on {bind}:{server.server_address[1]}")
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    sys.exit(0)


class KvError(RuntimeError):
    pass


class KvClient:
    """The client side of ``swarmlab.workloads.kv``; found by service name (``KV_HOST``)."""

    def __init__(self, host: str | None = None, port: int | None = None, timeout: float = 2.0):
        self.host = host or env("KV_HOST", "kv")
        self.port = port or int(env("KV_PORT", "80"))
        self.timeout = timeout

    def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except OSError as exc:
            raise KvError(f"kv store {self.host}:{self.port} unreachable: {exc}") from exc
        finally:
            conn.close()

    def get(self, key: str) -> str | None:
        status, data = self.call("GET", "/kv/" + urllib.parse.quote(key, safe=""))
        return data.decode() if status == 200 else None

    def set(self, key: str, value: str) -> None:
        self.call("PUT", "/kv/" + urllib.parse.quote(key, safe=""), value.encode())

    def incr(self, key: str, by: int = 1) -> int:
        status, data = self.call("POST", f"/incr/{urllib.parse.quote(key, safe='')}?by={by}")
        return int(data) if status == 200 else 0

    def lpush(self, name: str, item: str) -> int:
        status, data = self.call("POST", "/lpush/" + urllib.parse.quote(name, safe=""),
                                 item.encode())
        return int(data) if status == 200 else 0

    def rpop(self, name: str) -> str | None:
        status, data = self.call("POST", "/rpop/" + urllib.parse.quote(name, safe=""))
        return data.decode() if status == 200 else None

    def scan(self, prefix: str) -> dict[str, str]:
        status, data = self.call("GET", "/keys?prefix=" + urllib.parse.quote(prefix, safe=""))
        return json.loads(data) if status == 200 else {}
