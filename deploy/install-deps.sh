#!/usr/bin/env bash
# Installs the system packages mnist-train builds against, if any is missing (Debian/Ubuntu); with --test also
# what the tests use (iproute2 for the multi-host test's network namespaces; python3-venv where a python3 without
# it would keep the tests from making the virtual environment of their real clients, deploy/python-clients.sh;
# Fashion-MNIST, Debian's dataset-fashion-mnist, and Chromium, for the report's browser test, where the package
# sources have them).
# Swift itself is expected on PATH: https://www.swift.org/install/linux/
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libzstd-dev pkg-config zlib1g-dev libhdf5-dev)
# Installed when the package sources have them; a test that needs one skips without it, saying why.
optional=()
if [ "${1:-}" = "--test" ]; then
    packages+=(iproute2)
    optional=(dataset-fashion-mnist chromium)
    if command -v python3 >/dev/null && ! python3 -c "import ensurepip, venv" 2>/dev/null; then packages+=(python3-venv); fi
fi
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=() missing_optional=()
for package in "${packages[@]}"; do installed "$package" || missing+=("$package"); done
for package in "${optional[@]}"; do installed "$package" || missing_optional+=("$package"); done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ((${#missing[@]} + ${#missing_optional[@]})); then
    if ! $sudo apt-get update -qq; then
        ((${#missing[@]} == 0)) || exit 1
        echo "apt-get update failed; going on without: ${missing_optional[*]}"
        missing_optional=()
    fi
    for package in "${missing_optional[@]}"; do
        if apt-cache show "$package" >/dev/null 2>&1; then missing+=("$package"); else echo "not in the package sources: $package"; fi
    done
fi
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v swift >/dev/null || { echo "error: swift is not on PATH; install Swift 6 from swift.org" >&2; exit 1; }
