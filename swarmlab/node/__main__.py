"""`python -m swarmlab.node --name node1 --addr 127.0.1.1 --state-dir DIR`: run one node."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m swarmlab.node", description=__doc__)
    ap.add_argument("--name", required=True)
    ap.add_argument("--addr", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--api-port", type=int, default=2375)
    ap.add_argument("--swarm-port", type=int, default=2377)
    ap.add_argument("--profile", choices=("lab", "swarm"), default="lab")
    ap.add_argument("--node-index", type=int, default=0)
    ap.add_argument("--faults-file", default=None)
    ap.add_argument("--runtime-dir", default=None,
                    help="where task files (secrets) live; a tmpfs (default /dev/shm/swarmlab/NAME)")
    ap.add_argument("--log-level", default="INFO")
    ap.add_argument("--tlsverify", action="store_true",
                    help="Use TLS and verify the remote (the Engine API, as dockerd)")
    ap.add_argument("--tlscacert", help="Trust certs signed only by this CA")
    ap.add_argument("--tlscert", help="Path to TLS certificate file")
    ap.add_argument("--tlskey", help="Path to TLS key file")
    a = ap.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), stream=sys.stderr,
                        format=f"%(asctime)s {a.name} %(name)s %(levelname)s %(message)s")
    sys.setswitchinterval(0.0005)  # the Raft disk thread needs the GIL briefly per fsync
    from ..profiles import profile as timing_profile
    from .daemon import NodeDaemon
    from ..engine.tls import from_args
    engine_tls = from_args(a.tlsverify, a.tlscacert, a.tlscert, a.tlskey)

    async def run() -> None:
        d = NodeDaemon(a.name, a.addr, a.state_dir, api_port=a.api_port,
                       swarm_port=a.swarm_port, profile=timing_profile(a.profile),
                       node_index=a.node_index,
                       faults_file=a.faults_file, runtime_dir=a.runtime_dir,
                       engine_tls=engine_tls)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await d.start()
        print(f"ready {d.api_url}", flush=True)
        await stop.wait()
        await d.close()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
