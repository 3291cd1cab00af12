#!/usr/bin/env bash
# The test command: installs what is missing, builds the release binary, gets MNIST, runs the whole test suite
# (the multi-host test included: it needs root for network namespaces and reports itself skipped without), then
# checks the deploy files and what can be checked here of the builds for other CPUs.
# MNIST comes from $MNIST_DIR, else the copy beside the checkout (../shared/data/mnist), else the verified
# download into the per-user cache; when none can be had the download says why and the tests do not run.
# Arguments go to `swift test` (e.g. --filter CommandLineTests); a filtered run leaves out the deploy checks.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh --test
swift build -c release

MNIST_DIR=$(deploy/mnist-dir.sh)
export MNIST_DIR

swift test "$@"
(($#)) || { deploy/check-deploy.sh && deploy/check-portable.sh; }
