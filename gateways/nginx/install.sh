#!/usr/bin/env bash
# nginx from Debian's nginx-light package (the one system-wide install gateways may do).
set -euo pipefail
if [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install.sh: apt-get not found; install nginx (>= 1.19.5, for -e stderr) by hand" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
# Debian starts the packaged service; gatebench runs its own instances.
(command -v systemctl >/dev/null && systemctl disable --now nginx 2>/dev/null) || true
/usr/sbin/nginx -v
