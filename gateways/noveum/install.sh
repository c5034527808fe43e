#!/usr/bin/env bash
# Noveum AI Gateway (crate noveum-ai-gateway, binary noveum-ai-gateway) built from crates.io into
# $GATEBENCH_CACHE/bin. ~6 min on 2 cores (fat LTO). Serialized with other cargo builds by a lock.
set -euo pipefail
VERSION="${NOVEUM_VERSION:-2.0.1}"
CACHE="${GATEBENCH_CACHE:?GATEBENCH_CACHE not set}"
BIN="$CACHE/bin/noveum-ai-gateway"
if [ -x "$BIN" ] && grep -q "\"noveum-ai-gateway $VERSION " "$CACHE/.crates.toml" 2>/dev/null; then exit 0; fi
command -v cargo >/dev/null 2>&1 || { echo "noveum: cargo not found (needs Rust >= 1.94.1)" >&2; exit 1; }
mkdir -p "$CACHE"
LOCK=(); command -v flock >/dev/null 2>&1 && LOCK=(flock /tmp/gatebench-cargo.lock)
if ! "${LOCK[@]}" nice -n 10 cargo install --quiet --locked noveum-ai-gateway --version "$VERSION" \
     --root "$CACHE" >"$CACHE/install.log" 2>&1; then
  echo "noveum: cargo install noveum-ai-gateway@$VERSION failed (see $CACHE/install.log)" >&2; exit 1
fi
[ -x "$BIN" ] || { echo "noveum: $BIN missing after cargo install" >&2; exit 1; }
