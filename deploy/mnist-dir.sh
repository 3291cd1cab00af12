#!/usr/bin/env bash
# Prints the directory that holds MNIST for the test and fuzz scripts, after making sure it does: $MNIST_DIR, else
# the copy beside the checkout (../shared/data/mnist), else the per-user cache, filled by the verified download
# (its progress goes to stderr). Needs the release binary. Fails, saying why, when no data can be had.
set -euo pipefail
cd "$(dirname "$0")/.."

shared=../shared/data/mnist
directory=${MNIST_DIR:-}
if [ -z "$directory" ] && [ -d "$shared" ]; then directory=$(cd "$shared" && pwd); fi
directory=${directory:-${XDG_CACHE_HOME:-$HOME/.cache}/mnist-train/mnist}
.build/release/mnist-train download --data "$directory" >&2
echo "$directory"
