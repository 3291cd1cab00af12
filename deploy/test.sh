#!/usr/bin/env bash
# The test command: installs what is missing, builds the release binary, runs the whole test suite (the
# multi-host test included: it needs root for network namespaces and reports itself skipped without), then
# checks the deploy files.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh --test
swift build -c release
swift test
deploy/check-deploy.sh
