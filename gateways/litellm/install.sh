#!/usr/bin/env bash
# LiteLLM proxy (PyPI litellm[proxy]) and py-spy (the profiler) in a venv at $GATEBENCH_CACHE/venv.
# ~1–2 min on a 2-core machine. Set LITELLM_VERSION to pin another release.
set -euo pipefail
VERSION="${LITELLM_VERSION:-1.108.7}"
CACHE="${GATEBENCH_CACHE:?GATEBENCH_CACHE not set}"
VENV="$CACHE/venv"
have() { [ -x "$VENV/bin/litellm" ] && [ -x "$VENV/bin/py-spy" ] \
  && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" = "$VERSION" ]; }
have && exit 0
PY="$(command -v python3 || true)"
[ -n "$PY" ] || { echo "litellm: python3 not found (needs Python >= 3.9 with venv)" >&2; exit 1; }
mkdir -p "$CACHE"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" >/dev/null 2>&1 \
  || { echo "litellm: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "litellm[proxy]==$VERSION" py-spy >/dev/null 2>&1 \
  || { echo "litellm: pip install litellm[proxy]==$VERSION py-spy failed" >&2; exit 1; }
have || { echo "litellm: install finished but litellm/py-spy are missing in $VENV" >&2; exit 1; }
