#!/usr/bin/env bash
# Measures convnet's training step at 1 and 2 ranks on this machine (mnist-train bench --json) and prints the
# scaling model of deploy/scaling_model.py: predicted step time, samples/s and efficiency on 8-64 nodes over
# 10 and 100 Gb/s links. MODEL=lenet5 picks another preset; PER_RANK_BATCH (default 32) the weak-scaling batch.
set -euo pipefail
# Open MPI's hwloc probes X displays :0-:63 over TCP when X11 libraries are installed: a server on ports 6000-6063
# (TensorBoard's 6006) that accepts and never answers hangs mpirun at start, deaf to SIGTERM. No display is needed.
export HWLOC_COMPONENTS="${HWLOC_COMPONENTS:--gl}"
cd "$(dirname "$0")/.."
binary=.build/release/mnist-train
[ -x "$binary" ] || swift build -c release
model=${MODEL:-convnet}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun=(mpirun --oversubscribe --mca pml ob1 --mca btl "self,vader,tcp")
[ "$(id -u)" -ne 0 ] || mpirun+=(--allow-run-as-root)
"$binary" bench --model "$model" --json > "$work/one.json"
"${mpirun[@]}" -np 2 "$binary" bench --model "$model" --json > "$work/two.json"
python3 deploy/scaling_model.py "$work/one.json" "$work/two.json" "${PER_RANK_BATCH:-32}"
