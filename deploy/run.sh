#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, gets MNIST, builds, trains convnet with 2 MPI ranks,
# prints its test accuracy. Extra arguments go to `mnist-train fit` (e.g. --model lenet5 --epochs 2).
# RANKS=4 changes the rank count.
set -euo pipefail
# Open MPI's hwloc probes X displays :0-:63 over TCP when X11 libraries are installed: a server on ports 6000-6063
# (TensorBoard's 6006) that accepts and never answers hangs mpirun at start, deaf to SIGTERM. No display is needed.
export HWLOC_COMPONENTS="${HWLOC_COMPONENTS:--gl}"
cd "$(dirname "$0")/.."

deploy/install-deps.sh
swift build -c release
binary=.build/release/mnist-train
"$binary" download

mpirun=(mpirun -np "${RANKS:-2}" --oversubscribe --mca pml ob1 --mca btl "self,vader,tcp")
# Open MPI refuses to run as root unless told to; containers often run as root.
[ "$(id -u)" -ne 0 ] || mpirun+=(--allow-run-as-root)
# Under mpirun every rank sees a terminal, so ask for the progress bar only when this script has one.
progress=epochs
[ -t 1 ] && progress=bar
"${mpirun[@]}" "$binary" fit --model convnet --progress "$progress" "$@"
