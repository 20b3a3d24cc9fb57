#!/usr/bin/env python3
"""SimPy peer of `coalescope sim` for the benchmark (issue 9): the same EQE timer
coalescing + NAPI path, written independently of the Rust simulator.

Model (SPEC §2/§3, ideal host unless --per-packet-ns): Poisson arrivals at --rate into a
receive ring; the NIC's rx-usecs timer starts at the first packet that arrives while the
interrupt is armed and fires --rx-usecs later (EQE); the interrupt is masked until the
NAPI poll has emptied the ring (one --per-packet-ns of work per packet, packets arriving
during the poll are taken by it); then it is re-armed. Prints one JSON line: packets,
interrupts, mean added delay (t_stack - t_ingress) and the wall time of the run.

Checked against the closed form: with --per-packet-ns 0 the mean delay must equal
`coalescope model nic --rate R --rx-usecs W`'s mean_added_delay_ns,
W (1 + lambda W / 2) / (1 + lambda W), within sampling error (`--check NS` exits 1 if the
relative difference exceeds 1 %).
"""
import argparse
import collections
import json
import random
import sys
import time

import simpy


def run(rate, rx_usecs, per_packet_ns, packets, seed):
    env = simpy.Environment()
    rng = random.Random(seed)
    ring = collections.deque()  # arrival times waiting in the ring
    state = {"armed": True, "irqs": 0, "done": 0, "delay_sum": 0.0}
    wake = {"event": None}

    def nic_timer():
        yield env.timeout(rx_usecs * 1000.0)
        state["irqs"] += 1
        env.process(napi_poll())

    def napi_poll():
        # The softirq runs on IRQ exit (no delay); it polls until the ring is empty,
        # paying per_packet_ns per packet.
        yield env.timeout(0)
        while ring:
            t_in = ring.popleft()
            if per_packet_ns:
                yield env.timeout(per_packet_ns)
            state["delay_sum"] += env.now - t_in
            state["done"] += 1
        state["armed"] = True
        if state["done"] >= packets and wake["event"] is not None:
            wake["event"].succeed()

    def source():
        for _ in range(packets):
            yield env.timeout(rng.expovariate(rate / 1e9))
            ring.append(env.now)
            if state["armed"]:
                state["armed"] = False
                env.process(nic_timer())

    wake["event"] = env.event()
    env.process(source())
    env.run(until=wake["event"])
    return state


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=200000.0)
    ap.add_argument("--rx-usecs", type=float, default=50.0)
    ap.add_argument("--per-packet-ns", type=float, default=0.0)
    ap.add_argument("--packets", type=int, default=1000000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--check", type=float, default=None,
                    help="expected mean delay in ns; exit 1 if off by more than 1 %%")
    a = ap.parse_args()
    t0 = time.perf_counter()
    s = run(a.rate, a.rx_usecs, a.per_packet_ns, a.packets, a.seed)
    wall = time.perf_counter() - t0
    mean = s["delay_sum"] / s["done"]
    out = {
        "peer": "simpy",
        "simpy_version": simpy.__version__,
        "packets": s["done"],
        "interrupts": s["irqs"],
        "mean_added_delay_ns": mean,
        "wall_s": wall,
        "packets_per_s": s["done"] / wall,
    }
    print(json.dumps(out))
    if a.check is not None and abs(mean / a.check - 1.0) > 0.01:
        print(f"simpy_eqe: mean delay {mean:.1f} ns vs expected {a.check:.1f} ns", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
