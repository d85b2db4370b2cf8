#!/usr/bin/env bash
# Installs swarmlab with the lab dependencies, starts a lab cluster, and opens JupyterLab
# on the labs. Without a Docker engine the lab runs on the embedded backend (local processes).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[labs]"
if python3 -c "import swarmlab.cli" 2>/dev/null && python3 -m swarmlab.cli lab --help >/dev/null 2>&1; then
  python3 -m swarmlab.cli lab up --name "${SWARMLAB_LAB:-course}" || true
fi
exec python3 -m jupyter lab --no-browser --ip 127.0.0.1 --notebook-dir labs "$@"
