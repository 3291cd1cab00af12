#!/usr/bin/env bash
# Trains each preset as one rank of a thread a core and as one single-threaded rank a core, in turns, ROUNDS
# times (default 3), and prints both layouts' training samples/s with their ratio: the median over rounds of
# each round's threads / ranks, and its range. A round's figure is the median of the epochs after the first
# (EPOCHS, default 3, on the first SAMPLES training samples, default 12,800, no validation), so start-up, data
# loading and warm-up stay out. Each rank is bound to as many cores of its own as it runs threads.
# PRESETS=mlp,convnet picks presets (default: all seven). Uses $MNIST_DIR, else downloads MNIST.
set -euo pipefail
# Open MPI's hwloc probes X displays :0-:63 over TCP when X11 libraries are installed: a server on ports 6000-6063
# (TensorBoard's 6006) that accepts and never answers hangs mpirun at start, deaf to SIGTERM. No display is needed.
export HWLOC_COMPONENTS="${HWLOC_COMPONENTS:--gl}"
cd "$(dirname "$0")/.."

swift build -c release >&2
binary=.build/release/mnist-train
[ -n "${MNIST_DIR:-}" ] || "$binary" download >&2
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun=(mpirun --mca pml ob1 --mca btl "self,vader,tcp" --bind-to core)
[ "$(id -u)" -ne 0 ] || mpirun+=(--allow-run-as-root)

# The median samples/s of the epochs after the first of `fit` on $1 ranks of $2 threads, preset $3.
samples_per_second() {
    rm -f "$work/log.jsonl"
    "${mpirun[@]}" -np "$1" --map-by "slot:PE=$2" "$binary" fit --model "$3" --threads "$2" \
        --epochs "${EPOCHS:-3}" --train-samples "${SAMPLES:-12800}" --validation-split 0 \
        --early-stopping-patience 0 --quiet --log "$work/log.jsonl" --output "$work/model.safetensors.zst" >/dev/null
    python3 -c '
import json, statistics, sys
rates = [r["samples_per_second"] for r in map(json.loads, open(sys.argv[1])) if r.get("event") == "epoch"]
print(round(statistics.median(rates[1:])))' "$work/log.jsonl"
}

echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $cores cores, $(date -u '+%F %T UTC')"
echo "| preset | 1 rank x $cores threads | $cores ranks x 1 thread | threads / ranks, median (range) |"
echo "|---|---|---|---|"
for preset in $(echo "${PRESETS:-mlp,mlp-bn,cnn-bn,cnn-small,convnet-dropout,convnet,lenet5}" | tr , ' '); do
    threads=() ranks=() ratios=()
    for _ in $(seq "${ROUNDS:-3}"); do
        threads+=("$(samples_per_second 1 "$cores" "$preset")")
        ranks+=("$(samples_per_second "$cores" 1 "$preset")")
        ratios+=("$(python3 -c "print(${threads[-1]} / ${ranks[-1]})")")
    done
    python3 -c '
import statistics, sys
preset, n = sys.argv[1], (len(sys.argv) - 2) // 3
threads, ranks, ratios = (list(map(float, sys.argv[2 + i * n:2 + (i + 1) * n])) for i in range(3))
print(f"| {preset} | {statistics.median(threads):,.0f} | {statistics.median(ranks):,.0f} | "
      f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")' \
        "$preset" "${threads[@]}" "${ranks[@]}" "${ratios[@]}"
done
