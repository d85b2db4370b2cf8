"""The lab's web service: ``swarmlab/web:1``, ``swarmlab/web:2`` and ``swarmlab/web:broken``.

It answers with who served the request (task, node, version, hostname), so that a
student sees the routing mesh spread requests and a rolling update change versions.
``broken`` starts and serves, but its ``/health`` fails after ``SWARMLAB_BROKEN_AFTER``
seconds, so an update to it is caught by the health check and rolled back.

Environment: ``SWARMLAB_VERSION`` (1, 2, broken), ``SWARMLAB_TASK_NAME``,
``SWARMLAB_NODE`` (default: hostname), ``SWARMLAB_BIND`` (0.0.0.0), ``PORT`` (80),
``SWARMLAB_SECRETS_DIR`` (/run/secrets).
"""
from __future__ import annotations

import socket
import time
from pathlib import Path

from ._http import Handler, env, log, node_name, serve, task_name

STARTED = time.monotonic()


def identity() -> dict[str, str]:
    return {"task": task_name(), "node": node_name(), "version": env("SWARMLAB_VERSION", "1"),
            "hostname": socket.gethostname()}


def healthy() -> bool:
    if env("SWARMLAB_VERSION", "1") != "broken":
        return True
    return time.monotonic() - STARTED < float(env("SWARMLAB_BROKEN_AFTER", "3"))


def secrets_dir() -> Path:
    return Path(env("SWARMLAB_SECRETS_DIR", "/run/secrets"))


def read_secret(name: str) -> str | None:
    """A secret's content, as the task sees it; names cannot leave the secrets dir."""
    if not name or "/" in name or name.startswith("."):
        return None
    path = secrets_dir() / name
    return path.read_text() if path.is_file() else None


class WebHandler(Handler):
    def do_GET(self) -> None:
        me = identity()
        path = self.path.split("?", 1)[0]
        if path == "/":
            self.reply(200, "web v{version} task={task} node={node} host={hostname}\n".format(**me))
        elif path == "/json":
            self.reply_json(200, me)
        elif path == "/health":
            ok = healthy()
            self.reply(200 if ok else 503, "ok\n" if ok else "unhealthy\n")
        elif path == "/secrets":
            names = sorted(p.name for p in secrets_dir().glob("*")) if secrets_dir().is_dir() else []
            self.reply_json(200, names)
        elif path.startswith("/secret/"):
            value = read_secret(path[len("/secret/"):])
            if value is None:
                self.reply(404, f"no such secret: {path[len('/secret/'):]}\n")
            else:
                self.reply(200, value)
        else:
            self.reply(404, "not found\n")

    do_HEAD = do_GET


def main() -> None:
    me = identity()
    log(f"web v{me['version']} starting as task {me['task']} on node {me['node']}")
    serve(WebHandler, f"web v{me['version']}")


if __name__ == "__main__":
    main()
