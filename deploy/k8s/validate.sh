#!/usr/bin/env bash
# Offline validation of the manifests against the Kubernetes API's own OpenAPI schemas (strict:
# unknown fields fail), with kubernetes-validate from PyPI, which ships those schemas.
set -euo pipefail
cd "$(dirname "$0")"
venv="${GATEBENCH_VALIDATE_VENV:-${TMPDIR:-/tmp}/gatebench-k8s-validate}"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet kubernetes-validate
fi
"$venv/bin/kubernetes-validate" --strict --kubernetes-version "${K8S_VERSION:-1.30.0}" \
    namespace.yaml scenario.yaml mock.yaml gateway.yaml results.yaml job.yaml merge.yaml
