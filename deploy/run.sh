#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, gets MNIST, builds, trains convnet, prints its
# test accuracy. Extra arguments go to `mnist-train fit` (e.g. --model lenet5 --epochs 2).
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
swift build -c release
binary=.build/release/mnist-train
"$binary" download
"$binary" fit --model convnet "$@"
