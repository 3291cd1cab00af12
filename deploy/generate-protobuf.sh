#!/usr/bin/env bash
# Regenerates the committed Swift protobuf code: Sources/Observability/Generated/*.pb.swift from TensorBoard's
# .proto files in Sources/Observability/Protos, and Sources/Interop/Generated/onnx.pb.swift from ONNX's onnx.proto
# in Sources/Interop/Protos (see the NOTICE in each). Run it only when those change; builds and tests use the
# committed output. Needs protoc (Debian: protobuf-compiler, installed here if missing) and builds
# protoc-gen-swift from the swift-protobuf version Package.swift names, so the generated code matches the library.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v protoc >/dev/null; then
    sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $sudo apt-get install -y protobuf-compiler
fi
swift build -c release --product protoc-gen-swift >&2
plugin="$(swift build -c release --show-bin-path)/protoc-gen-swift"

# generate MODULE PROTO...: the module's Protos/ folder into its Generated/ folder.
generate() {
    local module=$1
    shift
    local protos=Sources/$module/Protos out=Sources/$module/Generated
    rm -f "$out"/*.pb.swift
    protoc --plugin=protoc-gen-swift="$plugin" --proto_path="$protos" --swift_out="$out" \
        --swift_opt=FileNaming=DropPath --swift_opt=Visibility=Internal "${@/#/$protos/}"
    echo "protoc $(protoc --version | cut -d' ' -f2): $out/*.pb.swift made"
}
generate Observability tensorboard/compat/proto/{event,summary,histogram,tensor,tensor_shape,types,resource_handle}.proto
generate Interop onnx/onnx.proto
