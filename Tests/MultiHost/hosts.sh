#!/usr/bin/env bash
# Hosts for the multi-host test, made on this machine: network namespaces mnist-h1..mnist-hN, each with its own
# address 10.78.0.i on a veth pair into the bridge mnist-br0 (10.78.0.254, where mpirun listens).
#   hosts.sh up N     make N hosts (removing old ones first)
#   hosts.sh cut I    take host I's link down
#   hosts.sh kill I   SIGKILL every process in host I
#   hosts.sh down     remove them all
# Needs root (CAP_NET_ADMIN) and iproute2.
set -euo pipefail

subnet=10.78.0
bridge=mnist-br0

case "${1:-}" in
up)
    count=${2:?hosts.sh up N}
    "$0" down
    ip link add "$bridge" type bridge
    ip addr add "$subnet.254/24" dev "$bridge"
    ip link set "$bridge" up
    for i in $(seq 1 "$count"); do
        ip netns add "mnist-h$i"
        ip link add "mnist-veth$i" type veth peer name eth0 netns "mnist-h$i"
        ip link set "mnist-veth$i" master "$bridge" up
        ip -n "mnist-h$i" addr add "$subnet.$i/24" dev eth0
        ip -n "mnist-h$i" link set eth0 up
        ip -n "mnist-h$i" link set lo up
    done
    ;;
cut)
    ip link set "mnist-veth${2:?hosts.sh cut I}" down
    ;;
kill)
    ip netns pids "mnist-h${2:?hosts.sh kill I}" | xargs -r kill -9
    ;;
down)
    for namespace in $(ip netns list | awk '/^mnist-h[0-9]+/ {print $1}'); do
        ip netns pids "$namespace" | xargs -r kill -9
        ip netns delete "$namespace"
    done
    # A namespace's end of a veth pair goes when the kernel frees the namespace, which may be later; deleting this
    # end removes both now, so that `up` can reuse the names.
    for veth in $(ip -o link show | awk -F': ' '$2 ~ /^mnist-veth[0-9]+@/ {sub(/@.*/, "", $2); print $2}'); do
        ip link delete "$veth"
    done
    if ip link show "$bridge" >/dev/null 2>&1; then ip link delete "$bridge"; fi
    ;;
*)
    echo "usage: hosts.sh up N | cut I | kill I | down" >&2
    exit 2
    ;;
esac
