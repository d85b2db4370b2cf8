#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs the whole suite.
# Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. scripts/_python.sh   # an active venv/conda, a Python pip may install into, or .venv
swarmlab_python "$root"
export PATH="$(dirname "$PY"):$PATH"   # its swarmlab and jupyter commands first

echo "== installing swarmlab and its test dependencies into $PY"
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[all]"

# Debian packages: debootstrap builds the images' root filesystems without a registry;
# chromium is the browser the JupyterLab test drives (Playwright uses it, no download).
need=()
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing ${need[*]} (Debian packages)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null \
    || echo "   (could not install ${need[*]}: the tests that need them will say so)"
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "== Docker engine found: building the lab images (cached by content)"
  "$PY" -m swarmlab.images build
else
  echo "== no Docker engine: the Docker-backend tests will be skipped"
fi

echo "== running the tests"
export TESTCONTAINERS_RYUK_DISABLED=true
"$PY" -m pytest -q -p no:cacheprovider "$@"
