#!/usr/bin/env bash
# mnist-train across hosts over plain TCP (Ethernet, no InfiniBand), from the host that holds the hostfile.
#   deploy/hosts/mpirun-tcp.sh HOSTFILE IFACE_OR_SUBNET [fit arguments...]
#   deploy/hosts/mpirun-tcp.sh deploy/hosts/hostfile.example 10.0.0.0/24 --model convnet --checkpoint-dir /shared/ckpt
# Every host needs the same mnist-train path (MNIST_TRAIN, default: the one on PATH) and the data at MNIST_DIR:
# a shared directory, or run `mnist-train download` once on each host (deploy/hosts/download-per-host.sh).
set -euo pipefail
# Open MPI's hwloc probes X displays :0-:63 over TCP when X11 libraries are installed: a server on ports 6000-6063
# (TensorBoard's 6006) that accepts and never answers hangs mpirun at start, deaf to SIGTERM. No display is needed.
export HWLOC_COMPONENTS="${HWLOC_COMPONENTS:--gl}"
hostfile=${1:?usage: mpirun-tcp.sh HOSTFILE IFACE_OR_SUBNET [fit arguments...]}
network=${2:?usage: mpirun-tcp.sh HOSTFILE IFACE_OR_SUBNET [fit arguments...]}
shift 2
binary=${MNIST_TRAIN:-$(command -v mnist-train)}
ranks=$(awk '!/^#/ && NF { n += 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { sub(/slots=/, "", $i); n += $i - 1 } } END { print n }' "$hostfile")

settings=(
    # Transports: ob1 with shared memory (vader) inside a host and TCP between hosts; no UCX/openib probing.
    --mca pml ob1 --mca btl "self,vader,tcp"
    # Interfaces: only this network (name like eth0, or CIDR) for ranks' data and for mpirun's control channel,
    # so neither picks docker0, a VPN or a management NIC that other hosts cannot reach.
    --mca btl_tcp_if_include "$network" --mca oob_tcp_if_include "$network"
    # A host whose link goes down is declared lost after 10 + 3 x 2 s instead of Open MPI's default 8 minutes.
    --mca oob_tcp_keepalive_time 10 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3
    # The data directory travels with the job.
    -x MNIST_DIR
)
[ "$(id -u)" -ne 0 ] || settings+=(--allow-run-as-root)
exec mpirun --hostfile "$hostfile" -np "$ranks" "${settings[@]}" "$binary" fit --progress epochs "$@"
