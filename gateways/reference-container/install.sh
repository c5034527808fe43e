#!/usr/bin/env bash
# The reference gateway as a container image, to exercise gatebench's container path for real on
# a machine that cannot pull images: podman (+ runc) from Debian, then a minimal image imported
# from a rootfs tarball holding the gatebench binary (it runs `gatebench gateway`) and the glibc
# libraries it links against. Tag: localhost/gatebench-reference:latest. Rebuilt only when the
# binary changes (its sha256 is kept as an image label).
set -euo pipefail
IMAGE="localhost/gatebench-reference:latest"
REPO="${GATEBENCH_REPO:-$(cd "$(dirname "$0")/../.." && pwd)}"
CACHE="${GATEBENCH_CACHE:?GATEBENCH_CACHE not set}"
BIN="$REPO/target/release/gatebench"
[ -x "$BIN" ] || { echo "reference-container: $BIN missing: run \`cargo build --release\` first" >&2; exit 1; }

if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || { echo "reference-container: podman/runc missing and no apt-get" >&2; exit 1; }
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y -q podman runc >/dev/null 2>&1; then
    $SUDO apt-get update -q >/dev/null 2>&1 || true
    $SUDO apt-get install -y -q podman runc >/dev/null 2>&1 \
      || { echo "reference-container: apt-get install podman runc failed" >&2; exit 1; }
  fi
fi

SUM="$(sha256sum "$BIN" | cut -d' ' -f1)"
have="$(podman image inspect --format '{{index .Labels "gatebench.binary.sha256"}}' "$IMAGE" 2>/dev/null || true)"
[ "$have" = "$SUM" ] && exit 0

ROOT="$CACHE/rootfs"
rm -rf "$ROOT" "$CACHE/rootfs.tar"
mkdir -p "$ROOT/tmp" "$ROOT/etc"
chmod 1777 "$ROOT/tmp"
cp "$BIN" "$ROOT/gatebench"
# Shared libraries and the dynamic loader, at the paths ldd reports (symlinks resolved).
libs="$(ldd "$BIN" | awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }')"
[ -n "$libs" ] || { echo "reference-container: ldd found no libraries for $BIN" >&2; exit 1; }
for lib in $libs; do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
echo 'root:x:0:0:root:/:/gatebench' > "$ROOT/etc/passwd"
echo 'root:x:0:' > "$ROOT/etc/group"
tar -C "$ROOT" -cf "$CACHE/rootfs.tar" . \
  || { echo "reference-container: cannot write $CACHE/rootfs.tar" >&2; exit 1; }
podman import --change "LABEL gatebench.binary.sha256=$SUM" --change "ENTRYPOINT []" \
  --change "CMD [\"/gatebench\", \"--help\"]" "$CACHE/rootfs.tar" "$IMAGE" >"$CACHE/import.log" 2>&1 \
  || { echo "reference-container: podman import failed" >&2; exit 1; }
rm -rf "$ROOT"
