#!/usr/bin/env bash
# Makes (once) the virtual environment of the real clients the tests check our outputs with, and prints its
# python's path: TensorBoard's own event reader, onnx with onnxruntime, Keras 3 on JAX's CPU backend (the lightest
# of its backends), scikit-learn's metrics, and Playwright to drive the system's Chromium (deploy/install-deps.sh
# --test installs Debian's; Playwright's own browsers are not downloaded). CLIENTS_VENV overrides where (default
# ~/.cache/mnist-train/clients-venv). Exits 3, saying so, when there is no python3: the tests then skip.
set -euo pipefail

venv="${CLIENTS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mnist-train/clients-venv}"
# Pinned, so that a new release cannot change what the tests accept.
packages=(tensorboard==2.21.0 onnx==1.23.2 onnxruntime==1.32.0 keras==3.15.1 "jax[cpu]==0.10.2"
          scikit-learn==1.9.1 playwright==1.65.2)
command -v python3 >/dev/null || { echo "python3 is missing: the tests with real clients are skipped" >&2; exit 3; }
if ! "$venv/bin/python" -c "import tensorboard, onnx, onnxruntime, keras, jax, sklearn, playwright" 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}" >&2
fi
echo "$venv/bin/python"
