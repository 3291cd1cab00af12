#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, gets MNIST, builds, trains convnet with 2 MPI ranks,
# prints its test accuracy. Extra arguments go to `mnist-train fit` (e.g. --model lenet5 --epochs 2).
# RANKS=4 changes the rank count.
set -euo pipefail
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
