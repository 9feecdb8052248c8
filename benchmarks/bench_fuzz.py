"""Decoders under line noise: the bigger run behind tests/acquisition/test_fuzz_decoders.py.

    .venv/bin/python benchmarks/bench_fuzz.py [--mbytes 10] [--rates 0.01,0.05,0.1,0.3]

For each decoder (own protocol; Mark-10, Wagner, Imada and bare-number gauge lines) and each
damage rate (the share of frames or lines damaged by ``firmware_sim.linenoise``: flipped
bytes, overruns that merge lines, inserted and truncated runs, garbage bursts), prints:
bytes decoded, throughput, readings passed on, how many of them were never sent (corrupt),
and how many intact frames/lines were not read (resynchronisation).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from firmware_sim import protocol as device
from firmware_sim.linenoise import damage
from nmt_monitor.acquisition.gauge import GaugeLineDecoder
from nmt_monitor.acquisition.links import NmtLink
from nmt_monitor.acquisition.nmt_stream import NmtSampleAssembler

GAUGES = {
    "mark10 '4.285 N'": (lambda v: f"{v:.3f} N\r\n", b"\r\n"),
    "wagner '- 23.02 lbf'": (lambda v: f"{'-' if v < 0 else '+'} {abs(v) / 4.4482216:.2f} lbf\r\n", b"\r\n"),
    "imada '+012.34NT'": (lambda v: f"{'-' if v < 0 else '+'}{abs(v):06.2f}NT\r", b"\r"),
    "plain '12.345'": (lambda v: f"{v:.3f}\r\n", b"\r\n"),
}


def hand_force(n: int, seed: int) -> np.ndarray:
    """Holds, ramps and rests at 80 Hz, with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 80.0
    force = 40 + 25 * np.sin(t / 7.0) + np.cumsum(rng.normal(0, 0.02, n))
    return np.where(np.sin(t / 11.0) > 0.8, 0.0, force) + rng.normal(0, 0.01, n)


def bench_own(n_bytes: int, rate: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_frames = n_bytes // 56
    truth = (rng.normal(0, 2000, n_frames * 10).cumsum() + 1e6).astype(np.int64)
    frames = [device.encode_data_frame(i, 10 * i, 10_000 * i, 1000, 0, truth[10 * i:10 * i + 10])
              for i in range(n_frames)]
    noisy = damage(frames, rate, seed=seed + 1)
    link = NmtLink("fuzz://")
    link.assembler = NmtSampleAssembler(lambda c, t: c.astype(np.float64), 1e12)
    data = noisy.data
    t0 = time.perf_counter()
    blocks = [b for i in range(0, len(data), 65536) for b in link.data_received(data[i:i + 65536], 1e9)]
    dt = time.perf_counter() - t0
    seq = np.concatenate([b.seq for b in blocks])
    got = np.concatenate([b.counts for b in blocks])
    inside = (seq >= 0) & (seq < truth.size)
    corrupt = int(np.count_nonzero(~inside)) + int(np.count_nonzero(got[inside] != truth[seq[inside]]))
    lost = np.setdiff1d(np.flatnonzero(noisy.intact), np.unique(seq // 10)).size
    print(f"  own protocol   damage {rate:4.0%}: {len(data) / 1e6:5.1f} MB at {len(data) / dt / 1e6:5.1f} MB/s; "
          f"{seq.size} samples passed on, {corrupt} corrupt; intact frames not decoded: {lost}; "
          f"CRC failures {link.decoder.counters.crc_failures}")


def bench_gauge(name: str, n_bytes: int, rate: float, seed: int) -> None:
    fmt, terminator = GAUGES[name]
    n = n_bytes // len(fmt(40.0))
    force = hand_force(n, seed)
    lines = [fmt(v).encode() for v in force]
    truth = np.round(GaugeLineDecoder().feed(b"".join(lines)).force_n, 6)
    noisy = damage(lines, rate, seed=seed + 1, terminator=terminator)
    per = 64
    feeds = [b"".join(noisy.units[s:s + per]) for s in range(0, n, per)]
    decoder = GaugeLineDecoder()
    t0 = time.perf_counter()
    out = [np.round(decoder.feed(chunk).force_n, 6) for chunk in feeds]
    dt = time.perf_counter() - t0
    never = read = 0
    for k, values in enumerate(out):
        start = k * per
        near = set(truth[max(0, start - 3):start + per + 2].tolist())
        never += sum(v not in near for v in values.tolist())
        read += values.size
    lost = 0
    for i in np.flatnonzero(noisy.intact[10:]) + 10:
        k = i // per
        lost += truth[i] not in np.concatenate(out[k:k + 2])
    print(f"  {name:22s} damage {rate:4.0%}: {len(noisy.data) / 1e6:5.1f} MB, {n / dt / 1e6:4.2f} M lines/s; "
          f"{read} readings, {never} never sent ({100 * never / max(read, 1):.3f} %); "
          f"intact lines not read: {lost} of {int(noisy.intact.sum())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mbytes", type=float, default=10.0, help="fuzzed bytes per decoder and rate, in MB")
    parser.add_argument("--rates", default="0.01,0.05,0.1,0.3")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n_bytes = int(args.mbytes * 1e6)
    rates = [float(r) for r in args.rates.split(",")]
    print(f"== own protocol, {args.mbytes:g} MB per damage rate")
    for rate in rates:
        bench_own(n_bytes, rate, args.seed)
    print(f"== gauge lines, {args.mbytes:g} MB per format and damage rate")
    for name in GAUGES:
        for rate in rates:
            bench_gauge(name, n_bytes, rate, args.seed)


if __name__ == "__main__":
    main()
