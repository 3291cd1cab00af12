#!/usr/bin/env bash
# Fills each host's MNIST cache once (one process per host, not per rank), in parallel, over ssh.
#   deploy/hosts/download-per-host.sh HOSTFILE [DATA_DIR]
# DATA_DIR defaults to each host's own cache (~/.cache/mnist-train/mnist). Files already there and verified are
# kept; files are written whole (temporary file and rename), so concurrent runs on one host cannot corrupt them.
set -euo pipefail
hostfile=${1:?usage: download-per-host.sh HOSTFILE [DATA_DIR]}
data=()
[ -z "${2:-}" ] || data=(--data "$2")
binary=${MNIST_TRAIN:-mnist-train}
pids=()
while read -r host _; do
    # -n: ssh must not read the hostfile this loop reads.
    # shellcheck disable=SC2029 # the command line is meant to expand here, on this side
    ssh -n "$host" "$binary" download "${data[@]}" > >(sed "s/^/$host: /") 2>&1 &
    pids+=($!)
done < <(awk '!/^#/ && NF' "$hostfile")
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
