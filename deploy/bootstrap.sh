#!/usr/bin/env bash
# Create the project's virtual environment (.venv) and install socmon with its dependencies.
# Idempotent: reinstalls only when pyproject.toml changed. Needs python3 >= 3.11.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${SOCMON_PYTHON:-python3}"
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "bootstrap: $py is older than 3.11; set SOCMON_PYTHON to a newer interpreter" >&2; exit 1; }
if [[ ! -x .venv/bin/python ]]; then
  "$py" -m venv .venv || {
    echo "bootstrap: python venv module missing; installing python3-venv" >&2
    apt-get update -qq && apt-get install -y -qq python3-venv && "$py" -m venv .venv
  }
fi
stamp=".venv/.socmon-installed"
# setup.py builds the native module from rules/_eventview.c: a change to either rebuilds it
want="$(cat pyproject.toml setup.py rules/_eventview.c | sha256sum | cut -d' ' -f1)"
native_ok() { .venv/bin/python -c 'import socmon.rules._eventview' >/dev/null 2>&1; }
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]] \
  || { ! native_ok && command -v cc >/dev/null 2>&1; }; then
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    # the native module's build needs a C compiler and the interpreter's headers
    inc="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    cbuild=()
    command -v cc >/dev/null 2>&1 || cbuild+=(gcc)
    [[ -f "$inc/Python.h" ]] || cbuild+=(python3-dev)
    if (( ${#cbuild[@]} )); then
      apt-get update -qq && apt-get install -y -qq "${cbuild[@]}" || true
    fi
  fi
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  native_ok || echo "bootstrap: rules/_eventview.c did not build (C compiler or Python" \
    "headers missing): the Sigma engine runs its slower Python code" >&2
  echo "$want" > "$stamp"
fi
# Tools the tests use from the system, installed when missing (Debian).
need=()
command -v unzip >/dev/null 2>&1 || need+=(unzip)
command -v mvn >/dev/null 2>&1 || need+=(maven)
# libpcap: scapy compiles BPF filters for live capture with it (network collector).
ldconfig -p 2>/dev/null | grep -q 'libpcap\.so' || need+=(libpcap0.8)
if (( ${#need[@]} )); then
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
  else
    echo "bootstrap: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
# Console front-end assets (htmx, uPlot, axe-core for the tests): from npm, pinned by
# package-lock.json, into node_modules/ (git-ignored); reinstalled when the lock file changes.
lock_want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ ! -f node_modules/.socmon-lock || "$(cat node_modules/.socmon-lock)" != "$lock_want" ]]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && apt-get install -y -qq npm
    else
      echo "bootstrap: npm missing; install it (apt-get install npm)" >&2
      exit 1
    fi
  fi
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$lock_want" > node_modules/.socmon-lock
fi
# Console translations: compile the gettext catalogues (api/locale/*/LC_MESSAGES/*.po).
.venv/bin/pybabel -q compile -d api/locale -D messages
