#!/usr/bin/env bash
# What can be checked here of the builds for other CPUs: the C kernels compile (syntax and types) for aarch64
# Linux and arm64 macOS, where they take their non-x86 branch, and the Swift kernels build for baseline x86-64,
# with the manifest's x86 flags taken out, so they rely on no instruction set the flags add. Running them on such
# CPUs cannot be done here.
set -euo pipefail
cd "$(dirname "$0")/.."

for target in aarch64-linux-gnu arm64-apple-macos13; do
    clang --target="$target" -fsyntax-only -Wall -Wextra -Wno-unused-parameter -Werror \
        -ISources/CKernels/include Sources/CKernels/ckernels.c
    echo "CKernels: compiles for $target"
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r Package.swift Sources Tests "$scratch"
sed -i 's/^#if arch(x86_64)$/#if false/' "$scratch/Package.swift"
grep -q '^#if false$' "$scratch/Package.swift" || { echo "check-portable: Package.swift has no '#if arch(x86_64)' to take out" >&2; exit 1; }
swift build -c release --package-path "$scratch" --target Kernels >"$scratch/build.log" 2>&1 \
    || { cat "$scratch/build.log" >&2; exit 1; }
echo "Kernels: builds in release without the x86 flags"
