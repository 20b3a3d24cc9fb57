#!/usr/bin/env python3
"""Write a seeded N-packet pcap (nanosecond, Ethernet/IPv4/UDP) and its Parquet app log,
for the capture-join bench (bench/capture/run.sh).

    python3 bench/capture/gen_join.py OUT_DIR [N] [SEED] [FILES]   (defaults 1000000 42 1)

Writes OUT_DIR/capture-N.pcap (or capture-N-K.pcap for K < FILES, the packets dealt
round-robin in time order) and OUT_DIR/app-N.parquet (snappy).

Data: 4 feeds (UDP 233.54.12.1:26400 + f, mapped to feed-f with --stream-map), 64-byte
payloads whose first 8 bytes are the feed's sequence number (little-endian, 1, 2, ...);
1 M packets/s (exponential gaps); the app log holds every packet but 0.1 % (undelivered)
and has t_app = the next 50 us boundary + 0-2 us jitter; 20 symbols x 2 venues.
"""

import os
import struct
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
    files = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    rng = np.random.default_rng(seed)
    t = 1_700_000_000_000_000_000 + np.cumsum(rng.exponential(1_000.0, n).astype(np.int64))
    feed = rng.integers(0, 4, n)
    seq = np.zeros(n, dtype=np.uint64)
    for f in range(4):
        m = feed == f
        seq[m] = np.arange(1, int(m.sum()) + 1, dtype=np.uint64)
    sym = rng.integers(0, 20, n)
    venue = rng.integers(0, 2, n)
    t_app = (t // 50_000 + 1) * 50_000 + rng.integers(0, 2_000, n)
    delivered = rng.integers(0, 1000, n) != 0
    os.makedirs(out, exist_ok=True)

    payload_len = 64
    udp_len = 8 + payload_len
    ip_len = 20 + udp_len
    frame_len = 14 + ip_len
    eth = bytes.fromhex("01005e36 0c01 001b21000001 0800".replace(" ", ""))
    header = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    names = [f"capture-{n}.pcap"] if files == 1 else [f"capture-{n}-{k}.pcap" for k in range(files)]
    outs = [open(os.path.join(out, name), "wb") for name in names]
    for o in outs:
        o.write(header)
    pad = bytes(payload_len - 8)
    for i in range(n):
        f = int(feed[i])
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0, 64, 17, 0,
                         bytes([10, 0, 0, 1]), bytes([233, 54, 12, 1]))
        udp = struct.pack(">HHHH", 40000, 26400 + f, udp_len, 0)
        body = eth + ip + udp + struct.pack("<Q", int(seq[i])) + pad
        ts = int(t[i])
        rec = struct.pack("<IIII", ts // 1_000_000_000, ts % 1_000_000_000, frame_len, frame_len)
        outs[i % files].write(rec + body)
    for o in outs:
        o.close()

    def keys(prefix, idx):
        labels = np.array([f"{prefix}{i}" for i in range(idx.max() + 1)])
        return pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), pa.array(labels)).cast(pa.string())

    keep = delivered
    table = pa.table({
        "seq": pa.array(seq[keep], pa.uint64()),
        "stream": keys("feed-", feed[keep]),
        "kind": pa.array(np.full(int(keep.sum()), "md")),
        "symbol": keys("SYM", sym[keep]),
        "venue": keys("V", venue[keep]),
        "t_ingress_ns": pa.array(t[keep], pa.int64()),
        "t_stack_ns": pa.nulls(int(keep.sum()), pa.int64()),
        "t_app_ns": pa.array(t_app[keep], pa.int64()),
        "bid": pa.array(np.full(int(keep.sum()), 99.995)),
        "ask": pa.array(np.full(int(keep.sum()), 100.005)),
        "transition": pa.array(np.zeros(int(keep.sum()), dtype=bool)),
    })
    pq.write_table(table, os.path.join(out, f"app-{n}.parquet"), compression="snappy")


if __name__ == "__main__":
    main()
