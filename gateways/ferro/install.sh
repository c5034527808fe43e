#!/usr/bin/env bash
# Ferro Labs AI Gateway (Go binary `ferrogw`). Its PyPI wheel `ferrogw` ships the release binary
# itself (no download at install or run time), so it runs here as a process: a venv at
# $GATEBENCH_CACHE/venv, binary at $GATEBENCH_CACHE/venv/bin/ferrogw. The [container] section in
# gateway.toml needs the image ghcr.io/ferro-labs/ai-gateway present instead (not installed here).
set -euo pipefail
VERSION="${FERRO_VERSION:-1.5.10}"
CACHE="${GATEBENCH_CACHE:?GATEBENCH_CACHE not set}"
VENV="$CACHE/venv"
have() { [ -x "$VENV/bin/ferrogw" ] \
  && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("ferrogw"))' 2>/dev/null)" = "$VERSION" ]; }
have && exit 0
PY="$(command -v python3 || true)"
[ -n "$PY" ] || { echo "ferro: python3 not found (the ferrogw binary is installed from its PyPI wheel)" >&2; exit 1; }
mkdir -p "$CACHE"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" >/dev/null 2>&1 \
  || { echo "ferro: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "ferrogw==$VERSION" >/dev/null 2>&1 \
  || { echo "ferro: pip install ferrogw==$VERSION failed" >&2; exit 1; }
have || { echo "ferro: install finished but $VENV/bin/ferrogw is missing" >&2; exit 1; }
