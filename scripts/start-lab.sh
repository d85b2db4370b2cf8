#!/usr/bin/env bash
# Installs swarmlab with the lab dependencies, starts the course's lab cluster (3 managers,
# 2 workers) and opens JupyterLab on the labs. Without a Docker engine the lab runs on the
# embedded backend (local processes); SWARMLAB_BACKEND=docker uses Docker-in-Docker nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[labs]"
lab="${SWARMLAB_LAB:-course}"
backend=local
if [ "${SWARMLAB_BACKEND:-local}" = docker ] && docker info >/dev/null 2>&1; then backend=docker; fi
python3 -m swarmlab.cli lab prune >/dev/null 2>&1 || true   # what a previous run left behind
if ! python3 -m swarmlab.cli lab ls | grep -q "^$lab "; then
  python3 -m swarmlab.cli lab up --name "$lab" --backend "$backend" --managers 3 --workers 2
fi
echo "Lab '$lab' is up: try 'swarmlab node ls'. Each notebook also starts its own lab."
root=(); [ "$(id -u)" = 0 ] && root=(--allow-root)   # as root (a lab VM, a container)
exec python3 -m jupyter lab --no-browser --ip 127.0.0.1 --notebook-dir labs "${root[@]}" "$@"
