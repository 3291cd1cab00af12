#!/usr/bin/env bash
# Trains convnet, lenet5, cnn-small and mlp with mnist-train on 2 MPI ranks, with PyTorch (2 threads, and DDP
# over gloo with 2 ranks) and with Keras on TensorFlow CPU, one after the other on this machine, and prints
# training samples/s side by side with the ratio to the best peer.
# Installs torch and tensorflow-cpu into a virtual environment the first time (PEERS_VENV, default
# ~/.cache/mnist-train/peers-venv). SAMPLES=N trains on the first N samples (default: all 60,000);
# PRESETS=convnet,mlp picks presets. Extra arguments go to deploy/compare_peers.py (e.g. --json FILE, or
# --time-to-accuracy 0.99 for convnet's wall clock to 99% test accuracy, start-up included, or
# --accuracy-over-seeds 8 for the mlp tutorial's test accuracy with seeds 0-7 here and in Keras).
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
swift build -c release >&2   # stdout carries only the tables
binary=.build/release/mnist-train
data="${MNIST_DIR:-$HOME/.cache/mnist-train/mnist}"
[ -n "${MNIST_DIR:-}" ] || "$binary" download

venv="${PEERS_VENV:-$HOME/.cache/mnist-train/peers-venv}"
if ! "$venv/bin/python" -c "import torch, keras, tensorflow" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch tensorflow-cpu numpy
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)" >&2
echo "versions: $("$venv/bin/python" -c 'import torch, tensorflow as tf, keras; print("torch", torch.__version__, "tensorflow", tf.__version__, "keras", keras.__version__)' 2>/dev/null)" >&2
"$venv/bin/python" deploy/compare_peers.py --binary "$binary" --data "$data" --samples "${SAMPLES:-60000}" \
    --presets "${PRESETS:-convnet,lenet5,cnn-small,mlp}" "$@"
