#!/usr/bin/env bash
# The whole test suite, on a fresh machine: environment, a real Elasticsearch node, lint,
# types, tests. CI runs exactly this (.ci/run). Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/bootstrap.sh
# System packages the tests use (Debian), installed when missing: promtool and a real
# Prometheus (tests/ops), a real browser (Debian's chromium: /docs offline, the console),
# tshark (the pcap benchmark's baseline).
need=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v tshark >/dev/null 2>&1 || need+=(tshark)  # bench/pcap.py's baseline (smoke test)
if (( ${#need[@]} )); then
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "test: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

export SOCMON_TEST_ES_PORT="${SOCMON_TEST_ES_PORT:-9250}"
SOCMON_ES_LOCAL_PORT="$SOCMON_TEST_ES_PORT" bash deploy/es.sh up
export SOCMON_TEST_ES_URL="http://127.0.0.1:$SOCMON_TEST_ES_PORT"
# The fault suite's scenarios (marker `faults`, tests/faults) stop and pause their own node.
export SOCMON_TEST_FAULTS_ES_PORT="${SOCMON_TEST_FAULTS_ES_PORT:-9254}"
# The 3-node cluster test (marker `cluster`) writes the 200,000 events issue 14 names.
export SOCMON_TEST_CLUSTER_EVENTS="${SOCMON_TEST_CLUSTER_EVENTS:-200000}"

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy socmon
echo "== pytest"
.venv/bin/python -m pytest "$@"
