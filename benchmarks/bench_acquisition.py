"""Acquisition throughput and cost. Prints figures; reported in docs/performance.md.

    .venv/bin/python benchmarks/bench_acquisition.py [--quick] [--skip-pty]

1. Own protocol: frames -> samples (decode only, and decode + sequence tracking + calibration),
   fed in 64 KiB chunks, at 10 and 20 samples per frame (1 kHz and 2 kHz framing).
2. Gauge ASCII lines per format, fed in 64 KiB chunks: a realistic force trace (the
   simulator's ``mixed`` scenario at 80 Hz, holds, ramps, pokes, rest, with 10 mN noise),
   and a worst case of independent random values, where nearly every line leaps from the
   previous one and is judged line by line.
3. The same gauge bytes read with a plain ``serial.readline()`` + ``float()`` loop (pyserial's
   readline reads one byte at a time) from an in-memory port, for the ratio.
4. CPU share of ``nmt-monitor stream`` at 2 kHz over a real pty from ``python -m firmware_sim``,
   measured from /proc over a steady-state window (start-up excluded).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import serial

from firmware_sim import protocol as device_protocol
from nmt_monitor.acquisition.gauge import GaugeLineDecoder
from nmt_monitor.acquisition.nmt_protocol import FrameDecoder
from nmt_monitor.acquisition.nmt_stream import NmtSampleAssembler

CHUNK = 65536
ROOT = Path(__file__).resolve().parent.parent


def own_protocol_stream(n_samples: int, per_frame: int) -> bytes:
    rng = np.random.default_rng(0)
    counts = rng.integers(-(2**23), 2**23 - 1, n_samples)
    frames = []
    for i, start in enumerate(range(0, n_samples, per_frame)):
        frames.append(device_protocol.encode_data_frame(i, start, start * 500, 500, 0, counts[start:start + per_frame]))
    return b"".join(frames)


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_own_protocol(n_samples: int) -> None:
    print("== own protocol (frames -> samples, 64 KiB chunks)")
    for per_frame in (10, 20, 78):
        stream = own_protocol_stream(n_samples, per_frame)
        chunks = [stream[i:i + CHUNK] for i in range(0, len(stream), CHUNK)]

        def decode_only():
            d = FrameDecoder()
            total = 0
            for c in chunks:
                total += d.feed(c).counts.size
            assert total == n_samples, total

        def decode_full():
            d = FrameDecoder()
            a = NmtSampleAssembler(lambda c, t: c * 2.5e-5, 200.0)
            total = 0
            for c in chunks:
                blocks, _ = a.assemble(d.feed(c), 1e9)
                total += sum(len(b) for b in blocks)
            assert total == n_samples

        t1, t2 = best_of(decode_only), best_of(decode_full)
        print(f"  {per_frame:2d} samples/frame: decode {n_samples / t1 / 1e6:6.1f} M samples/s "
              f"({len(stream) / t1 / 1e6:5.0f} MB/s); decode+track+calibrate {n_samples / t2 / 1e6:6.1f} M samples/s")


GAUGE_FORMATS = {
    "mark10 '4.285 N'": lambda v: f"{v:.3f} N",
    "mark10 '-18.78 lbF'": lambda v: f"{v / 4.448:.2f} lbF",
    "wagner '- 23.02 lbf'": lambda v: f"{'-' if v < 0 else '+'} {abs(v) / 4.448:.2f} lbf",
    "imada '+012.34NT'": lambda v: f"{'+' if v >= 0 else '-'}{abs(v):06.2f}NT",
    "plain '12.5'": lambda v: f"{v:.3f}",
}


class MemoryPort(serial.SerialBase):
    """A pyserial port whose input is a fixed byte string (readline() is pyserial's own)."""

    def __init__(self, data: bytes):
        self._data = data
        self._pos = 0
        super().__init__()
        self.is_open = True

    def open(self):  # noqa: D401 - nothing to open
        self.is_open = True

    def _reconfigure_port(self):
        pass

    @property
    def in_waiting(self):
        return len(self._data) - self._pos

    def read(self, size=1):
        chunk = self._data[self._pos:self._pos + size]
        self._pos += len(chunk)
        return chunk


def realistic_force(n_lines: int) -> np.ndarray:
    """The ``mixed`` scenario at 80 Hz, repeated to ``n_lines``, with 10 mN of noise."""
    from firmware_sim.scenarios import load_scenario

    trace = load_scenario("mixed").render(rate_hz=80.0, seed=1).force_n
    reps = -(-n_lines // trace.size)
    return np.tile(trace, reps)[:n_lines] + np.random.default_rng(1).normal(0, 0.01, n_lines)


def bench_gauges(n_lines: int) -> None:
    print("== gauge ASCII lines (64 KiB chunks) vs. serial.readline() + float()")
    signals = {"realistic": realistic_force(n_lines),
               "iid": np.random.default_rng(1).uniform(-5, 150, n_lines)}
    for name, fmt in GAUGE_FORMATS.items():
        rates = {}
        for kind, values in signals.items():
            stream = ("\r\n".join(fmt(v) for v in values) + "\r\n").encode()
            chunks = [stream[i:i + CHUNK] for i in range(0, len(stream), CHUNK)]
            accepted = []

            def ours():
                d = GaugeLineDecoder()
                accepted.append(sum(d.feed(c).force_n.size for c in chunks))

            rates[kind] = (n_lines / best_of(ours), accepted[-1])
        assert rates["realistic"][1] == n_lines, rates  # every line of a real trace is read
        n_base = min(n_lines, 100_000)
        base_stream = ("\r\n".join(fmt(v) for v in signals["realistic"][:n_base]) + "\r\n").encode()

        def baseline():
            port = MemoryPort(base_stream)
            got = 0
            while True:
                line = port.readline()
                if not line:
                    break
                text = line.decode().strip().replace("- ", "-").replace("+ ", "+")
                try:
                    float(text.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ").split()[0])
                except (ValueError, IndexError):
                    pass
                got += 1

        t_base = best_of(baseline, repeats=1)
        ours_rate = rates["realistic"][0]
        base_rate = n_base / t_base
        iid_rate, iid_accepted = rates["iid"]
        print(f"  {name:24s} ours {ours_rate / 1e6:5.2f} M lines/s; readline loop {base_rate / 1e6:5.3f} M lines/s; "
              f"ratio {ours_rate / base_rate:4.0f}x; worst case (iid values) {iid_rate / 1e6:5.2f} M lines/s, "
              f"{100 * iid_accepted / n_lines:.3f} % read")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def bench_stream_cpu(rate_hz: int, seconds: float) -> None:
    print(f"== CPU share of 'nmt-monitor stream' at {rate_hz} Hz over a pty ({seconds:.0f} s steady state)")
    sim = subprocess.Popen([sys.executable, "-m", "firmware_sim", "--pty", "--rate", str(rate_hz),
                            "--scenario", "steady", "--loop"], stdout=subprocess.PIPE, text=True)
    try:
        device = sim.stdout.readline().strip()
        mon = subprocess.Popen([sys.executable, "-m", "nmt_monitor", "stream", "--port", device,
                                "--seconds", str(seconds + 6), "--stats"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(4.0)  # start-up (imports, handshake) excluded from the window
        c0, s0, t0 = proc_cpu_s(mon.pid), proc_cpu_s(sim.pid), time.monotonic()
        time.sleep(seconds)
        c1, s1, t1 = proc_cpu_s(mon.pid), proc_cpu_s(sim.pid), time.monotonic()
        _, err = mon.communicate(timeout=30)
        wall = t1 - t0
        print(f"  monitor: {100 * (c1 - c0) / wall:.1f} % of one core; simulator: {100 * (s1 - s0) / wall:.1f} %")
        last = [line for line in err.splitlines() if "samples" in line][-1:]
        print(f"  link: {last[0] if last else '(no stats)'}")
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    parser.add_argument("--skip-pty", action="store_true")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    bench_own_protocol(200_000 if args.quick else 2_000_000)
    bench_gauges(100_000 if args.quick else 1_000_000)
    if not args.skip_pty:
        bench_stream_cpu(2000, 5.0 if args.quick else args.seconds)


if __name__ == "__main__":
    main()
