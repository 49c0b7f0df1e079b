#!/usr/bin/env bash
# The whole test suite, on a fresh machine: environment, a real Elasticsearch node, lint,
# types, tests. CI runs exactly this (.ci/run). Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/bootstrap.sh
# The console's browser tests drive Debian's Chromium through Playwright (never a downloaded
# browser build: no `playwright install`).
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq chromium
  else
    echo "test: /usr/bin/chromium missing; install it (apt-get install chromium)" >&2
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
