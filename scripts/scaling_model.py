#!/usr/bin/env python3
"""scaling_model.py - the alpha-beta cost model of docs/scaling.md: predicted parallel
efficiency of mpirun -np R omptrain for R machines of C cores, per model and link speed.

A step on R processes (one per machine) is compute on the process's part of the batch, then
the gradient exchange of src/engine.c (reduce_processes): every process sends its part of
the shard tree's roots to the owners of R chunks of the P parameters (point-to-point), the
owners add the nodes that span processes, and the chunks of the mean are all-gathered. Both
phases move (R-1)/R * 4P bytes per process; each is charged (R-1) latencies:

    t_exchange(R) = 2 (R-1) alpha + 2 (R-1)/R * 4 P / beta
    t_compute(R)  = batch_per_machine / (C * r1)        r1: samples/s of one core
    efficiency    = t_compute / (t_compute + t_exchange)  (no overlap, as implemented)

r1 is measured (omptrain bench --threads 1, see docs/scaling.md); C cores are assumed to
give C times r1, which overstates compute speed and so understates efficiency. beta is the
link's line rate; alpha is an assumed per-message latency (--alpha, default 20 us).

usage: scripts/scaling_model.py [--alpha SECONDS] [--cores C]
"""
import argparse

# name: (parameters, batch of the shipped config, r1 samples/s of one core measured here)
MODELS = {
    "(b) 784-100-10": (79510, 100, 491775),
    "(d) 784-1024-1024-10": (1863690, 1024, 14598),
    "deep CNN": (123552, 100, 1722),
}
LINKS = {"10 Gb/s": 10e9 / 8, "100 Gb/s": 100e9 / 8}
MACHINES = [2, 4, 8, 16, 32, 64, 128, 256]


def exchange(R, P, alpha, beta):
    return 2 * (R - 1) * alpha + 2 * (R - 1) / R * 4 * P / beta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alpha", type=float, default=20e-6)
    ap.add_argument("--cores", type=int, default=16)
    a = ap.parse_args()
    C = a.cores
    for scen, per_machine in (("global batch fixed (the shipped config's batch over R machines)",
                               False),
                              ("batch per machine fixed (global batch = R x the config's)", True)):
        print(f"## {scen}; alpha {a.alpha * 1e6:g} us, {C} cores per machine")
        print(f"{'model':22s} {'link':8s} " + " ".join(f"{R:>6d}" for R in MACHINES))
        for name, (P, B, r1) in MODELS.items():
            for lname, beta in LINKS.items():
                row = []
                for R in MACHINES:
                    b = B if per_machine else B / R
                    tc = b / (C * r1)
                    row.append(tc / (tc + exchange(R, P, a.alpha, beta)))
                print(f"{name:22s} {lname:8s} " + " ".join(f"{e * 100:5.1f}%" for e in row))
        print()
    # what (d) needs for 80% at 16 machines on 10 Gb/s
    P, B, r1 = MODELS["(d) 784-1024-1024-10"]
    print("## (d) at 16 machines: samples per machine per step for 80% efficiency")
    for lname, beta in LINKS.items():
        tx = exchange(16, P, a.alpha, beta)
        need = 4 * tx * C * r1            # t_compute >= 4 t_exchange
        need_ov = 0.8 * tx * C * r1       # exchange fully hidden behind compute: t_c >= 0.8 t_x
        print(f"{lname:8s} exchange {tx * 1e3:6.2f} ms/step; without overlap {need:7.0f} "
              f"samples/machine; with the exchange overlapped {need_ov:6.0f}")


if __name__ == "__main__":
    main()
