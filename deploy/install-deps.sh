#!/usr/bin/env bash
# Installs the system packages mnist-train builds against, if any is missing (Debian/Ubuntu); with --test also
# what the tests use (iproute2 for the multi-host test's network namespaces; python3-venv where a python3 without
# it would keep the tests from making the virtual environment of their real clients, deploy/python-clients.sh).
# Swift itself is expected on PATH: https://www.swift.org/install/linux/
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libzstd-dev pkg-config zlib1g-dev)
if [ "${1:-}" = "--test" ]; then
    packages+=(iproute2)
    if command -v python3 >/dev/null && ! python3 -c "import ensurepip, venv" 2>/dev/null; then packages+=(python3-venv); fi
fi
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v swift >/dev/null || { echo "error: swift is not on PATH; install Swift 6 from swift.org" >&2; exit 1; }
