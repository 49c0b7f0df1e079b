#!/usr/bin/env bash
# The whole test suite, on a fresh machine: environment, a real Elasticsearch node, lint,
# types, tests. CI runs exactly this (.ci/run). Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/bootstrap.sh
# promtool and a real Prometheus for tests/ops (Debian's prometheus package).
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq prometheus
  else
    echo "test: promtool/prometheus missing; install them (apt-get install prometheus)" >&2
    exit 1
  fi
fi

export SOCMON_TEST_ES_PORT="${SOCMON_TEST_ES_PORT:-9250}"
SOCMON_ES_LOCAL_PORT="$SOCMON_TEST_ES_PORT" bash deploy/es.sh up
export SOCMON_TEST_ES_URL="http://127.0.0.1:$SOCMON_TEST_ES_PORT"

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy socmon
echo "== pytest"
.venv/bin/python -m pytest "$@"
