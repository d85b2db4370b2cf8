#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs the whole suite.
# Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing swarmlab and its test dependencies"
python3 -m pip install --quiet --disable-pip-version-check -e ".[all]"

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "== Docker engine found: building the lab images (cached by content)"
  if ! command -v debootstrap >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq debootstrap) >/dev/null
  fi
  if python3 -c "import swarmlab.images" 2>/dev/null; then
    python3 -m swarmlab.images build
  fi
else
  echo "== no Docker engine: the Docker-backend tests will be skipped"
fi

echo "== running the tests"
python3 -m pytest -q -p no:cacheprovider "$@"
