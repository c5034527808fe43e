#!/usr/bin/env bash
# HAProxy from Debian's package (the one exception to installing into $GATEBENCH_CACHE).
set -euo pipefail
if [ -x /usr/sbin/haproxy ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "haproxy: apt-get not found; install the haproxy package (>= 2.4) by hand" >&2; exit 1
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q haproxy >/dev/null 2>&1; then
  $SUDO apt-get update -q >/dev/null 2>&1 || true
  $SUDO apt-get install -y -q haproxy >/dev/null 2>&1 \
    || { echo "haproxy: apt-get install haproxy failed" >&2; exit 1; }
fi
[ -x /usr/sbin/haproxy ] || { echo "haproxy: /usr/sbin/haproxy missing after install" >&2; exit 1; }
