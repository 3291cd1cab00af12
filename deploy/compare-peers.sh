#!/usr/bin/env bash
# Trains the presets with mnist-train (one rank of one thread a core, the recommended layout, and one
# single-threaded rank a core) and with every peer framework at its fastest ordinary configuration (PyTorch
# eager, channels_last, torch.compile and DDP over gloo; Keras on TensorFlow, with steps_per_execution and XLA,
# and on JAX; pure JAX per batch and with lax.scan), one after the other on this machine, and prints training
# samples/s side by side with the fastest peer and the ratio to it, overall and among configurations taking one
# optimizer step per call. Every figure is the median of 3 timed epochs after an untimed warm-up epoch
# (deploy/compare_peers.py describes the protocol).
# Installs torch, tensorflow-cpu, keras, jax, optax and numpy into a virtual environment the first time
# (PEERS_VENV, default ~/.cache/mnist-train/peers-venv). SAMPLES=N trains on the first N samples (default
# 12,800); PRESETS=convnet,mlp picks presets (default: all seven); CONFIGURATIONS="PyTorch eager,Keras/TF"
# picks peer configurations (default: all). Extra arguments go to deploy/compare_peers.py (e.g. --json FILE, or
# --time-to-accuracy 0.99 for convnet's wall clock to 99% test accuracy, start-up included, or
# --accuracy-over-seeds 8 for the mlp tutorial's test accuracy with seeds 0-7 here and in Keras).
set -euo pipefail
# Open MPI's hwloc probes X displays :0-:63 over TCP when X11 libraries are installed: a server on ports 6000-6063
# (TensorBoard's 6006) that accepts and never answers hangs mpirun at start, deaf to SIGTERM. No display is needed.
export HWLOC_COMPONENTS="${HWLOC_COMPONENTS:--gl}"
cd "$(dirname "$0")/.."

deploy/install-deps.sh
swift build -c release >&2   # stdout carries only the tables
# A copy, so that a rebuild in this checkout while the comparison runs does not change the binary under test.
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
cp .build/release/mnist-train "$copy/"
binary="$copy/mnist-train"
data="${MNIST_DIR:-$HOME/.cache/mnist-train/mnist}"
[ -n "${MNIST_DIR:-}" ] || "$binary" download

venv="${PEERS_VENV:-$HOME/.cache/mnist-train/peers-venv}"
# Every module the configurations import, so a venv from an older version of this script gets what it lacks.
if ! "$venv/bin/python" -c "import torch, tensorflow, keras, jax, optax, numpy" 2>/dev/null; then
    python3 -m venv "$venv"
    # PyPI's torch wheel (the CPU-only index is not always reachable); jax[cpu] without a GPU plugin.
    "$venv/bin/pip" install --quiet torch tensorflow-cpu keras "jax[cpu]" optax numpy
fi
# mpirun refuses root unless told; in a container root is the usual user.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

isa="$(grep -o 'avx512[a-z]*\|avx2\|fma' /proc/cpuinfo | sort -u | xargs)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), ISA: $isa" >&2
echo "date: $(date -u '+%F %T UTC')" >&2
# shellcheck disable=SC2016 # the $ is Python's, inside single quotes on purpose
echo "versions: $(TF_CPP_MIN_LOG_LEVEL=3 JAX_PLATFORMS=cpu "$venv/bin/python" -c '
import platform, numpy, torch, tensorflow, keras, jax, jaxlib, optax
print("python", platform.python_version(), "numpy", numpy.__version__, "torch", torch.__version__,
      "tensorflow", tensorflow.__version__, "keras", keras.__version__, "jax", jax.__version__,
      "jaxlib", jaxlib.__version__, "optax", optax.__version__)' 2>/dev/null), $(mpirun --version | head -1)" >&2
"$venv/bin/python" deploy/compare_peers.py --binary "$binary" --data "$data" --samples "${SAMPLES:-12800}" \
    --presets "${PRESETS:-convnet,lenet5,cnn-small,mlp,mlp-bn,cnn-bn,convnet-dropout}" \
    --configurations "${CONFIGURATIONS:-}" "$@"
