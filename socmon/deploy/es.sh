#!/usr/bin/env bash
# Provision and run a local Elasticsearch for socmon on 127.0.0.1: one node, or a cluster of
# SOCMON_ES_LOCAL_NODES nodes (HTTP ports PORT..PORT+N-1, transport ports +100, data and
# logs per node under var/es/node-<port>, discovery among them).
#
#   deploy/es.sh up       download (cached), configure, start, wait until healthy (idempotent)
#   deploy/es.sh down     stop every node cleanly (SIGTERM, then SIGKILL after a grace period)
#   deploy/es.sh status   one line per node and the cluster's health (exit 0 only when healthy)
#   deploy/es.sh purge    stop them and delete their data
#
# Settings (environment):
#   SOCMON_VAR_DIR            where downloads, data and logs live (`socmon es` passes var_dir;
#                             run from a checkout as deploy/es.sh: <repo>/var)
#   SOCMON_ES_LOCAL_PORT      HTTP port (of the first node)              (default: 9200)
#   SOCMON_ES_LOCAL_NODES     nodes of the local cluster                 (default: 1, or as started)
#   SOCMON_ES_LOCAL_HEAP      JVM heap per node, e.g. 1g                 (default: 1g; 3 nodes = 3 GB)
#   SOCMON_ES_LOCAL_JAVA_HOME a JDK to use instead of searching for one
#   SOCMON_ES_LOCAL_TIMEOUT   seconds to wait for a healthy cluster      (default: 180)
#   SOCMON_ES_JDK_SEARCH      glob patterns of JDK homes to search (default: Temurin, then /usr/lib/jvm/*)
set -euo pipefail

# The package ships this file (socmon/deploy/es.sh, run by `socmon es`); a checkout links it
# as deploy/es.sh.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=elasticsearch.env
source "$here/elasticsearch.env"

if [[ -z "${SOCMON_VAR_DIR:-}" ]]; then
  for root in "$here/.." "$here/../.." ""; do
    [[ -n "$root" && -f "$root/pyproject.toml" && -d "$root/deploy" ]] && break
  done
  [[ -n "$root" ]] || {
    echo "socmon-es: ERROR: SOCMON_VAR_DIR is not set and $here is not in a socmon checkout;" \
      "use \`socmon es\` (it passes var_dir)" >&2
    exit 1
  }
fi
var_dir="${SOCMON_VAR_DIR:-$root/var}"
base_port="${SOCMON_ES_LOCAL_PORT:-9200}"
heap="${SOCMON_ES_LOCAL_HEAP:-1g}"
timeout_s="${SOCMON_ES_LOCAL_TIMEOUT:-180}"
es_user="socmon-es"

mkdir -p "$var_dir"
var_dir="$(cd "$var_dir" && pwd)"
dist_root="$var_dir/es/dist"
es_home="$dist_root/elasticsearch-$ES_VERSION"
# How many nodes the cluster was started with (recorded by 'up' in the first node's dir).
nodes_file="$var_dir/es/node-$base_port/cluster-nodes"
recorded="$(cat "$nodes_file" 2>/dev/null || echo 1)"
nodes="${SOCMON_ES_LOCAL_NODES:-$recorded}"
[[ "$nodes" =~ ^[1-9]$ ]] || { echo "socmon-es: ERROR: SOCMON_ES_LOCAL_NODES must be 1-9" >&2; exit 2; }

select_node() {
  # Point the per-node globals at node $1 (0-based).
  port=$((base_port + $1))
  node_dir="$var_dir/es/node-$port"
  pid_file="$node_dir/es.pid"
  url="http://127.0.0.1:$port"
}
select_node 0

say() { echo "socmon-es: $*" >&2; }
die() { echo "socmon-es: ERROR: $*" >&2; exit 1; }

is_running() {
  [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

health() {
  curl -s --max-time 5 "$url/_cluster/health?filter_path=status" 2>/dev/null \
    | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p'
}

port_taken() {
  # Anything listening on the port (ss is in iproute2; fall back to bash's /dev/tcp).
  if command -v ss >/dev/null 2>&1; then
    ss -ltnH "sport = :$port" 2>/dev/null | grep -q .
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

java_major() {
  # Prints the major version of the java binary given, or nothing.
  "$1" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n1
}

find_jdk() {
  local cand major
  local -a candidates=()
  [[ -n "${SOCMON_ES_LOCAL_JAVA_HOME:-}" ]] && candidates+=("$SOCMON_ES_LOCAL_JAVA_HOME")
  [[ -n "${ES_JAVA_HOME:-}" ]] && candidates+=("$ES_JAVA_HOME")
  # Temurin first (the machine's second JDK), then any other JDK, newest first.
  local search="${SOCMON_ES_JDK_SEARCH:-/usr/lib/jvm/temurin-* /opt/java/* /usr/lib/jvm/*}"
  # shellcheck disable=SC2086
  for cand in $(ls -d $search 2>/dev/null | sort -ruV); do
    candidates+=("$cand")
  done
  [[ -n "${JAVA_HOME:-}" ]] && candidates+=("$JAVA_HOME")
  for cand in "${candidates[@]}"; do
    [[ -x "$cand/bin/java" ]] || continue
    major="$(java_major "$cand/bin/java")"
    if [[ -n "$major" && "$major" -ge "$ES_MIN_JAVA" ]]; then
      echo "$cand"
      return 0
    fi
  done
  return 1
}

fetch_dist() {
  [[ -x "$es_home/bin/elasticsearch" ]] && return 0
  local cache="$var_dir/cache"
  local zip="$cache/elasticsearch-$ES_VERSION.zip"
  mkdir -p "$cache" "$dist_root"
  if [[ ! -s "$zip" ]]; then
    command -v mvn >/dev/null 2>&1 \
      || die "Maven (mvn) is not installed; it fetches Elasticsearch $ES_VERSION from Maven Central. Install it (apt-get install maven) or point SOCMON_ES_URL at an existing cluster."
    say "downloading Elasticsearch $ES_VERSION with Maven (cached in $cache)"
    mvn -q -B dependency:copy "-Dartifact=$ES_ARTIFACT:$ES_VERSION:zip" \
        "-DoutputDirectory=$cache" -Dmdep.overWriteIfNewer=true >&2 \
      || die "Maven could not fetch $ES_ARTIFACT:$ES_VERSION:zip (is Maven Central reachable?)"
    [[ -s "$zip" ]] || die "Maven reported success but $zip is missing"
  fi
  command -v unzip >/dev/null 2>&1 || die "unzip is not installed (apt-get install unzip)"
  local tmp="$dist_root/.unpack.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  unzip -q "$zip" -d "$tmp" || die "could not unpack $zip (corrupt download? delete it and retry)"
  mv "$tmp/elasticsearch-$ES_VERSION" "$es_home"
  rm -rf "$tmp"
}

ensure_user() {
  # Elasticsearch refuses to run as root: run it as a dedicated system user.
  [[ "$(id -u)" -eq 0 ]] || return 0
  if ! id "$es_user" >/dev/null 2>&1; then
    command -v useradd >/dev/null 2>&1 || die "running as root and useradd is missing: cannot create user $es_user"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$es_user" \
      || die "could not create system user $es_user"
  fi
  # The user must be able to traverse down to var/: add search (x) permission where missing.
  local d="$var_dir"
  while [[ "$d" != "/" ]]; do
    if ! setpriv --reuid="$es_user" --regid="$es_user" --init-groups test -x "$d" 2>/dev/null; then
      say "granting traverse permission (o+x) on $d so that $es_user can reach $var_dir"
      chmod o+x "$d"
    fi
    d="$(dirname "$d")"
  done
  # This node's files only: the other nodes of a cluster may be running, and a recursive
  # chown over their data fails on a segment file a merge deleted meanwhile (seen in CI when
  # the cluster test restarted its killed node).
  chown "$es_user:" "$var_dir/es"
  chown -R "$es_user:" "$dist_root" "$node_dir"
}

write_config() {
  mkdir -p "$node_dir/data" "$node_dir/logs" "$node_dir/config/jvm.options.d"
  cp -f "$es_home/config/jvm.options" "$es_home/config/log4j2.properties" "$node_dir/config/"
  local discovery="discovery.type: single-node" cluster="socmon-local" i seeds="" masters=""
  if (( nodes > 1 )); then
    for ((i = 0; i < nodes; i++)); do
      seeds+="${seeds:+, }\"127.0.0.1:$((base_port + i + 100))\""
      masters+="${masters:+, }socmon-local-$((base_port + i))"
    done
    cluster="socmon-local-$base_port"
    discovery="discovery.seed_hosts: [$seeds]
cluster.initial_master_nodes: [$masters]"
  fi
  cat > "$node_dir/config/elasticsearch.yml" <<YML
# Written by deploy/es.sh; edits are overwritten on the next 'up'.
cluster.name: $cluster
node.name: socmon-local-$port
network.host: 127.0.0.1
http.port: $port
transport.port: $((port + 100))
$discovery
path.data: $node_dir/data
path.logs: $node_dir/logs
xpack.security.enabled: false
# A development node must keep accepting writes on a nearly full disk.
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
YML
  printf -- '-Xms%s\n-Xmx%s\n' "$heap" "$heap" > "$node_dir/config/jvm.options.d/heap.options"
}

start_node() {
  # Start the selected node unless it runs; no wait.
  if is_running; then
    return 0
  elif port_taken; then
    die "port $port is taken by another process; stop it or choose another port with SOCMON_ES_LOCAL_PORT"
  fi
  write_config
  ensure_user
  say "starting Elasticsearch $ES_VERSION on $url with JDK $jdk (data in $node_dir)"
  # Its own session (setsid): Ctrl-C of `make run` must not take the node down with it.
  local -a run=()
  [[ "$(id -u)" -eq 0 ]] && run=(setpriv "--reuid=$es_user" "--regid=$es_user" --init-groups)
  rm -f "$pid_file"
  ( cd "$node_dir" && setsid -w "${run[@]}" env ES_JAVA_HOME="$jdk" ES_PATH_CONF="$node_dir/config" \
      ES_JAVA_OPTS="${SOCMON_ES_LOCAL_JAVA_OPTS:-}" \
      "$es_home/bin/elasticsearch" -d -p "$pid_file" >"$node_dir/logs/startup.out" 2>&1 ) \
    || { tail -n 30 "$node_dir/logs/startup.out" >&2 2>/dev/null; die "Elasticsearch did not start (output above, logs in $node_dir/logs)"; }
}

cmd_up() {
  local i all=1 h
  for ((i = 0; i < nodes; i++)); do select_node "$i"; is_running || all=0; done
  select_node 0
  if (( all )); then
    h="$(health)"
    if [[ "$h" == "green" || "$h" == "yellow" ]]; then
      say "already running on $url ($nodes node(s), pid $(cat "$pid_file"), $h)"
      return 0
    fi
  fi
  if [[ -d "$node_dir/data" && "$recorded" != "$nodes" ]]; then
    die "the local Elasticsearch on port $base_port was created with $recorded node(s), not $nodes; run 'socmon es purge' (deletes its data) or use SOCMON_ES_LOCAL_NODES=$recorded"
  fi
  jdk="$(find_jdk)" || die "no JDK >= $ES_MIN_JAVA found (looked at SOCMON_ES_LOCAL_JAVA_HOME, ES_JAVA_HOME, /usr/lib/jvm/*, JAVA_HOME); Elasticsearch $ES_VERSION needs one: install a Temurin JDK $ES_MIN_JAVA+ or set SOCMON_ES_LOCAL_JAVA_HOME"
  fetch_dist
  for ((i = 0; i < nodes; i++)); do
    select_node "$i"
    start_node
  done
  select_node 0
  echo "$nodes" > "$nodes_file"
  local waited=0 want=""
  (( nodes > 1 )) && want="&wait_for_nodes=$nodes"
  h=""
  while (( waited < timeout_s )); do
    h="$(curl -s --max-time 5 "$url/_cluster/health?filter_path=status${want}&timeout=1s" 2>/dev/null \
      | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')"
    if [[ "$h" == "green" || "$h" == "yellow" ]]; then
      say "up on $url ($nodes node(s), $h) after ${waited}s"
      return 0
    fi
    for ((i = 0; i < nodes; i++)); do
      select_node "$i"
      if ! is_running; then
        tail -n 30 "$node_dir/logs/startup.out" >&2 2>/dev/null || true
        die "Elasticsearch on $url exited while starting (log above, all of it in $node_dir/logs)"
      fi
    done
    select_node 0
    sleep 1; waited=$((waited + 1))
  done
  die "Elasticsearch on $url was not healthy after ${timeout_s}s (last status: ${h:-no answer}); see $node_dir/logs"
}

stop_node() {
  if ! is_running; then
    rm -f "$pid_file"
    say "not running on port $port"
    return 0
  fi
  local pid; pid="$(cat "$pid_file")"
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if (( waited >= 60 )); then
      say "still running after 60s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.5; waited=$((waited + 1))
  done
  rm -f "$pid_file"
  say "stopped (port $port)"
}

cmd_down() {
  local i
  for ((i = 0; i < nodes; i++)); do select_node "$i"; stop_node; done
}

cmd_status() {
  # One line per node, then the cluster's health; exit 0 only when every node runs and the
  # cluster is green or yellow.
  local i h="" rc=0
  for ((i = 0; i < nodes; i++)); do
    select_node "$i"
    if is_running; then
      h="$(health)"
      echo "running pid=$(cat "$pid_file") url=$url version=$ES_VERSION health=${h:-unknown} data=$node_dir"
      [[ "$h" == "green" || "$h" == "yellow" ]] || rc=1
    else
      echo "stopped url=$url version=$ES_VERSION data=$node_dir"
      rc=3
    fi
  done
  if (( nodes > 1 )); then
    select_node 0
    curl -s --max-time 5 "$url/_cat/nodes?h=name,http_address,node.role,master,heap.percent" 2>/dev/null \
      | sed 's/^/  node /' || true
  fi
  return "$rc"
}

purge() {
  local i
  cmd_down
  for ((i = 0; i < nodes; i++)); do
    select_node "$i"; rm -rf "$node_dir"; say "deleted $node_dir"
  done
}

# Stopping or inspecting covers every node the cluster was started with.
[[ "${1:-}" != "up" ]] && (( recorded > nodes )) && nodes="$recorded"

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  purge) purge ;;
  *) echo "usage: $0 up|down|status|purge" >&2; exit 2 ;;
esac
