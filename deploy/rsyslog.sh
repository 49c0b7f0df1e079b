#!/usr/bin/env bash
# A local rsyslog with omrelp, for the RELP tests (a real sender, not a mock): the Debian
# packages are downloaded (`apt-get download`, no root, nothing installed on the system, no
# service started) and unpacked under var/cache/rsyslog. Prints the directory; run
#   LD_LIBRARY_PATH=DIR/lib DIR/rsyslogd -M DIR/modules -n -f CONF -i PIDFILE
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${SOCMON_RSYSLOG_DIR:-$root/var/cache/rsyslog}"
if [[ -x "$dest/rsyslogd" && -f "$dest/modules/omrelp.so" ]]; then
  echo "$dest"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || { echo "rsyslog.sh: apt-get not found (Debian/Ubuntu only)" >&2; exit 1; }
command -v dpkg >/dev/null 2>&1 || { echo "rsyslog.sh: dpkg not found" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# rsyslogd, omrelp and the libraries a minimal Debian lacks
pkgs=(rsyslog rsyslog-relp librelp0 libfastjson4 libestr0 liblognorm5)
apt-get download "${pkgs[@]}" >/dev/null 2>"$work/apt.err" || {
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get download "${pkgs[@]}" >/dev/null 2>"$work/apt.err" || {
    echo "rsyslog.sh: apt-get download failed: $(tail -1 "$work/apt.err")" >&2
    exit 1
  }
}
for d in ./*.deb; do dpkg -x "$d" tree; done
arch_lib="$(find tree/usr/lib -maxdepth 1 -type d -name '*-linux-gnu' | head -1)"
mkdir -p "$dest.tmp/lib" "$dest.tmp/modules"
cp -a tree/usr/sbin/rsyslogd "$dest.tmp/"
cp -a "$arch_lib/rsyslog/." "$dest.tmp/modules/"
cp -a "$arch_lib"/lib*.so* "$dest.tmp/lib/"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "$dest"
