# Sourced by start-lab.sh and test.sh: sets PY to the Python that swarmlab installs into.
# An active virtual environment or conda environment is used as it is. Otherwise a Python
# that pip may install into (pyenv, a user-built one) is used; a distribution's own Python
# (Debian's is "externally managed", PEP 668) gets the project's own virtual environment
# in .venv, made once and reused.
swarmlab_python() {
  local root="$1" py="${PYTHON:-python3}"
  if [ -n "${VIRTUAL_ENV:-}" ] || [ -n "${CONDA_PREFIX:-}" ]; then
    PY="$(command -v "$py")"; return
  fi
  if [ -x "$root/.venv/bin/python" ]; then
    PY="$root/.venv/bin/python"
    echo "== using the project's virtual environment $root/.venv"
    return
  fi
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "swarmlab needs Python 3.11 or later; '$py' is $("$py" --version 2>&1)." >&2
    exit 1
  fi
  if ! "$py" -c 'import os, sys, sysconfig; sys.exit(os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
    echo "== $("$py" --version) is the system's own Python (externally managed):"
    echo "   making the project's virtual environment in $root/.venv"
    if ! "$py" -m venv "$root/.venv" 2>/dev/null; then
      rm -rf "$root/.venv"
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "   (installing Debian's python3-venv first)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv) >/dev/null
        "$py" -m venv "$root/.venv"
      else
        echo "Could not make a virtual environment: install python3-venv (sudo apt-get install python3-venv), or activate a venv or conda environment, and run this again." >&2
        exit 1
      fi
    fi
    PY="$root/.venv/bin/python"
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
    return
  fi
  PY="$(command -v "$py")"
}
