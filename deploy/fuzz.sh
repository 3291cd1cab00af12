#!/usr/bin/env bash
# libFuzzer with AddressSanitizer on every reader of outside files (Tests/Fuzz/FuzzReaders.swift: checkpoint
# frames, safetensors, model JSON, IDX, PGM, Keras JSON, .keras, fit's log). Builds the harness into .build-fuzz, seeds a corpus with valid
# files (a small checkpoint written by the release binary, on MNIST from deploy/mnist-dir.sh), and fuzzes for
# FUZZ_SECONDS (default 300). Exits non-zero on a crash, a sanitizer report or a leak of memory past the RSS
# limit; the input that did it is left as .build-fuzz/crash-*, and `swift run fuzz-readers FILE` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release
swift build --product fuzz-readers --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING \
    -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld

# Seeds: the first byte picks the reader (0 checkpoint, 1 safetensors, 2 model JSON, 3 IDX, 4 PGM, 5 Keras JSON,
# 6 .keras, 7 fit's log).
corpus=.build-fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$corpus"
model='{"layers": [{"type": "Conv2D", "filters": 2, "kernel_size": 3, "activation": "relu"}, {"type": "MaxPooling2D"},
 {"type": "BatchNormalization"}, {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}'
printf '%s' "$model" > "$work/tiny.json"
.build/release/mnist-train fit --model-file "$work/tiny.json" --data "$(deploy/mnist-dir.sh)" \
    --train-samples 64 --epochs 1 --log-every 1 --checkpoint-dir "$work/ckpt" --log "$work/tiny.jsonl" \
    --output "$work/tiny.safetensors.zst" --quiet >/dev/null
checkpoint="$work/ckpt/$(cat "$work/ckpt/latest")"
{ printf '\000'; cat "$checkpoint"; } > "$corpus/checkpoint"
{ printf '\001'; zstd -dc "$checkpoint"; } > "$corpus/safetensors"
{ printf '\002'; printf '%s' "$model"; } > "$corpus/model"
# A 2x28x28 IDX image file, raw: magic 2051, then its sizes, big-endian, then the pixels.
{ printf '\003\000\000\010\003\000\000\000\002\000\000\000\034\000\000\000\034'; head -c 1568 /dev/urandom; } > "$corpus/idx"
{ printf '\004'; printf 'P2 4 2 255 0 1 2 3 4 5 6 255\n'; } > "$corpus/pgm"
{ printf '\005'; cat Tests/InteropTests/Keras/keras3/custom.json; } > "$corpus/keras-json"
{ printf '\006'; cat Tests/InteropTests/Keras/keras3/custom.keras; } > "$corpus/keras-archive"
{ printf '\007'; cat "$work/tiny.jsonl"; } > "$corpus/log"

ASAN_OPTIONS=detect_leaks=0 .build-fuzz/debug/fuzz-readers -max_total_time="${FUZZ_SECONDS:-300}" -rss_limit_mb=2048 \
    -max_len=131072 -timeout=10 -artifact_prefix=.build-fuzz/ -print_final_stats=1 "$corpus"
