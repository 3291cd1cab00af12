#!/usr/bin/env bash
# The test command: installs what is missing, builds the release binary, runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
swift build -c release
swift test
