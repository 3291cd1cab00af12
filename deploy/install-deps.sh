#!/usr/bin/env bash
# Installs the system packages mnist-train builds against, if any is missing (Debian/Ubuntu); with --test also
# what the tests use (iproute2 for the multi-host test's network namespaces).
# Swift itself is expected on PATH: https://www.swift.org/install/linux/
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libzstd-dev pkg-config zlib1g-dev)
[ "${1:-}" != "--test" ] || packages+=(iproute2)
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
