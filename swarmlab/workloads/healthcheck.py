"""The health check command of the lab images: ``python3 -m swarmlab.workloads.healthcheck``.

Exit 0 when ``GET /health`` on the workload's own port answers 200, 1 otherwise,
as Docker's ``HEALTHCHECK CMD`` expects. The same command serves the process
runtime, where the workload listens on ``SWARMLAB_BIND``:``PORT`` instead of 0.0.0.0:80.
"""
from __future__ import annotations

import http.client
import sys

from ._http import env


def check(path: str = "/health", timeout: float = 2.0) -> bool:
    host = env("SWARMLAB_BIND", "0.0.0.0")
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    conn = http.client.HTTPConnection(host, int(env("PORT", "80")), timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def main() -> None:
    ok = check(sys.argv[1] if len(sys.argv) > 1 else "/health")
    print("healthy" if ok else "unhealthy", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
