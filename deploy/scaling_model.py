"""Predicts data-parallel scaling to 8-64 nodes from `mnist-train bench --json` measured at 1 and 2 ranks.

Per step: compute, measured here (the 1-rank step at the global batch, which has no allreduce), divided among
the ranks; plus a ring allreduce of the gradients: 2(p-1) messages of S/p bytes each way round the ring,
T(p) = 2(p-1)·alpha + 2·(p-1)/p · S/beta, for link bandwidth beta and per-message latency alpha. Two regimes:
a fixed global batch (the tutorial's; compute per rank shrinks as 1/p) and a fixed per-rank batch
(--per-rank-batch-size; compute per rank stays). Scaling stops where the allreduce costs as much as compute.
"""
import json
import sys

LINKS = {"10 Gb/s": 10e9 / 8, "100 Gb/s": 100e9 / 8}
ALPHA = 25e-6  # seconds per message between hosts over TCP (an assumption; measure yours with check-mpi)
NODES = [1, 2, 8, 16, 32, 64]


def ring_allreduce(nodes, size, bandwidth):
    if nodes == 1:
        return 0.0
    return 2 * (nodes - 1) * ALPHA + 2 * (nodes - 1) / nodes * size / bandwidth


def main(one_path, two_path, per_rank_batch):
    one, two = json.load(open(one_path)), json.load(open(two_path))
    batch, size = one["globalBatch"], one["gradientBytes"]
    per_sample = one["stepMilliseconds"] / 1000 / batch
    print(f"Measured here ({one['model']}, global batch {batch}, gradients {size / 1024:.0f} KiB):")
    print(f"- 1 rank: step {one['stepMilliseconds']:.2f} ms, all compute ({1000 * per_sample:.3f} ms per sample)")
    compute_two = two["stepMilliseconds"] - two["allreduceMilliseconds"]
    print(f"- 2 ranks, one machine: step {two['stepMilliseconds']:.2f} ms = compute {compute_two:.2f} ms + "
          f"allreduce and wait {two['allreduceMilliseconds']:.2f} ms ({100 * two['allreduceFraction']:.1f}%)")
    print()
    print("| nodes | link | global batch | compute ms | allreduce ms | step ms | samples/s | efficiency |")
    print("|---|---|---|---|---|---|---|---|")
    for regime in ("fixed global", "per rank"):
        for link, bandwidth in LINKS.items():
            for nodes in NODES[2:]:
                global_batch = batch if regime == "fixed global" else per_rank_batch * nodes
                compute = per_sample * global_batch / nodes
                allreduce = ring_allreduce(nodes, size, bandwidth)
                step = compute + allreduce
                print(f"| {nodes} | {link} | {global_batch} | {1000 * compute:.2f} | {1000 * allreduce:.2f} | "
                      f"{1000 * step:.2f} | {global_batch / step:,.0f} | {100 * compute / step:.0f}% |")
    for regime, local in (("fixed global batch", lambda n: batch / n), ("per-rank batch", lambda n: per_rank_batch)):
        for link, bandwidth in LINKS.items():
            stop = next((n for n in range(2, 4097) if ring_allreduce(n, size, bandwidth) >= per_sample * local(n)),
                        None)
            print(f"- {regime}, {link}: the allreduce outweighs compute from {stop} nodes" if stop else
                  f"- {regime}, {link}: compute outweighs the allreduce up to 4096 nodes")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 32)
