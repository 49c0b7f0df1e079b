#!/usr/bin/env bash
# The main job on a fresh machine: environment, Elasticsearch (a local node unless
# SOCMON_ES_URL points at a cluster), index templates, then `socmon run` in the foreground.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/bootstrap.sh
if [[ -z "${SOCMON_ES_URL:-}" ]]; then
  .venv/bin/socmon es up
fi
.venv/bin/socmon setup
exec .venv/bin/socmon run "$@"
