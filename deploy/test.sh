#!/usr/bin/env bash
# The whole test suite, on a fresh machine: environment, a real Elasticsearch node, lint,
# types, tests. CI runs exactly this (.ci/run). Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/bootstrap.sh

export SOCMON_TEST_ES_PORT="${SOCMON_TEST_ES_PORT:-9250}"
SOCMON_ES_LOCAL_PORT="$SOCMON_TEST_ES_PORT" bash deploy/es.sh up
export SOCMON_TEST_ES_URL="http://127.0.0.1:$SOCMON_TEST_ES_PORT"
# The fault suite's scenarios (marker `faults`, tests/faults) stop and pause their own node.
export SOCMON_TEST_FAULTS_ES_PORT="${SOCMON_TEST_FAULTS_ES_PORT:-9252}"

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy socmon
echo "== pytest"
.venv/bin/python -m pytest "$@"
