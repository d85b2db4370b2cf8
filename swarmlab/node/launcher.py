"""Start many nodes fast: import the agent once, then fork one process per node.

`Lab.up` of the local backend pipes a JSON list of node argument lists to
`python -m swarmlab.node.launcher`; the launcher imports the agent (the slow
part: aiohttp, the control plane, the runtime), forks a child per node (each in
its own session, logging to its own file), prints {"node": pid, ...} and exits.
A restarted node is started on its own with `python -m swarmlab.node`.
"""
from __future__ import annotations

import json
import os
import sys


def main() -> int:
    specs = json.load(sys.stdin)  # [{"name": ..., "argv": [...], "log": path}, ...]
    from . import __main__ as agent_main
    from . import daemon  # noqa: F401 - the heavy imports, done once before forking
    pids = {}
    for spec in specs:
        pid = os.fork()
        if pid == 0:  # the node
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            log = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            os.dup2(log, 2)
            code = 1
            try:
                code = agent_main.main(spec["argv"])
            finally:
                os._exit(code)
        pids[spec["name"]] = pid
    print(json.dumps(pids), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
