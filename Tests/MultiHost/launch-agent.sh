#!/usr/bin/env bash
# Open MPI's launch agent for the multi-host test (--mca plm_rsh_agent): where mpirun would run
# `ssh HOST COMMAND`, this runs COMMAND in HOST's network namespace (10.78.0.I -> mnist-hI, see hosts.sh),
# under the hostname mnist-hI so that each rank reports its own host. Like ssh, it hands COMMAND to a shell.
set -euo pipefail
host=$1
shift
namespace=mnist-h${host##*.}
exec ip netns exec "$namespace" unshare --uts sh -c "hostname $namespace && exec $*"
