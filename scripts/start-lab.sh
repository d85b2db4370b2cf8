#!/usr/bin/env bash
# Installs swarmlab with the lab dependencies, starts the course's lab cluster (3 managers,
# 2 workers) and opens JupyterLab on the labs. Without a Docker engine the lab runs on the
# embedded backend (local processes); SWARMLAB_BACKEND=docker uses Docker-in-Docker nodes.
#
# Python: an active venv or conda environment is used; else the project's own .venv is made
# (scripts/_python.sh). When JupyterLab ends (Ctrl-C twice), the lab this script started is
# stopped too, unless SWARMLAB_KEEP_LAB=1.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. scripts/_python.sh
swarmlab_python "$root"
export PATH="$(dirname "$PY"):$PATH"   # its swarmlab and jupyter commands first
echo "== installing swarmlab and JupyterLab into $PY"
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[labs]"
cli=("$PY" -m swarmlab.cli)

lab="${SWARMLAB_LAB:-course}"
export SWARMLAB_LAB="$lab"
backend=local
if [ "${SWARMLAB_BACKEND:-local}" = docker ] && docker info >/dev/null 2>&1; then backend=docker; fi
started=0
if "${cli[@]}" lab ls | grep -q "^$lab "; then
  if "${cli[@]}" node ls >/dev/null 2>&1; then
    echo "== lab '$lab' is already up: using it"
  else   # a lab an earlier run left behind, its nodes gone: this lab only, nobody else's
    echo "== lab '$lab' was left behind by an earlier run and does not answer: removing it"
    "${cli[@]}" lab down --name "$lab"
  fi
fi
if ! "${cli[@]}" lab ls | grep -q "^$lab "; then
  "${cli[@]}" lab up --name "$lab" --backend "$backend" --managers 3 --workers 2
  started=1
fi

stop_lab() {
  if [ "$started" = 1 ] && [ "${SWARMLAB_KEEP_LAB:-0}" != 1 ]; then
    echo "== stopping lab '$lab' (SWARMLAB_KEEP_LAB=1 keeps it)"
    "${cli[@]}" lab down --name "$lab" || true
  fi
}
trap stop_lab EXIT

manager="$("$PY" -c 'from swarmlab.lab.registry import load; print(load().nodes[0].docker_host)')"
bin="$(dirname "$PY")"
cat <<MSG

Lab '$lab' is up ($backend backend). From another shell:
MSG
if [ -x "$bin/swarmlab" ] && [ "$bin" = "$root/.venv/bin" ]; then
  echo "    source $root/.venv/bin/activate"
fi
cat <<MSG
    export SWARMLAB_LAB=$lab
    swarmlab node ls                      # swarmlab's CLI, Docker's commands
    export DOCKER_HOST=$manager
    docker node ls                        # Docker's own CLI, pointed at node1

Each notebook also starts its own lab. Stop: Ctrl-C twice in this shell (the lab stops
with JupyterLab unless SWARMLAB_KEEP_LAB=1; then 'swarmlab lab down --name $lab').

MSG
jupyter_root=(); [ "$(id -u)" = 0 ] && jupyter_root=(--allow-root)   # as root (a lab VM, a container)
"$PY" -m jupyter lab --no-browser --ip 127.0.0.1 --notebook-dir labs ${jupyter_root[@]+"${jupyter_root[@]}"} "$@"
