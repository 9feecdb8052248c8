"""Headless ``nmt-monitor record`` at 2 kHz over a pseudo-terminal: its CPU share.

    python benchmarks/bench_record.py [--rate 2000] [--seconds 20]

Since issue 14 ``record`` drives the same station pipeline as the live monitor (the hold
engine runs live, as it would for a stream publisher); the bar (design.md) is <= 5 % of one
core at 2 kHz, measured from /proc over a steady-state window (start-up excluded).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_acquisition import proc_cpu_s  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    root = Path(__file__).resolve().parent.parent
    print(f"== CPU share of 'nmt-monitor record' at {args.rate} Hz over a pty ({args.seconds:.0f} s steady state)")
    sim = subprocess.Popen([sys.executable, "-m", "firmware_sim", "--pty", "--rate", str(args.rate),
                            "--scenario", "demo", "--loop"], stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        device = sim.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            mon = subprocess.Popen([sys.executable, "-m", "nmt_monitor", "record", "--port", device,
                                    "--seconds", str(args.seconds + 6), "--out", tmp, "--tolerance", "60N"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=root)
            time.sleep(4.0)  # start-up (imports, handshake) excluded from the window
            c0, s0, t0 = proc_cpu_s(mon.pid), proc_cpu_s(sim.pid), time.monotonic()
            time.sleep(args.seconds)
            c1, s1, t1 = proc_cpu_s(mon.pid), proc_cpu_s(sim.pid), time.monotonic()
            _, err = mon.communicate(timeout=60)
        wall = t1 - t0
        cpu = 100 * (c1 - c0) / wall
        print(f"  record: {cpu:.1f} % of one core (bar <= 5 %: {'ok' if cpu <= 5 else 'OVER THE BAR'}); "
              f"simulator: {100 * (s1 - s0) / wall:.1f} %")
        print("  " + (err.strip().splitlines() or ["(no output)"])[0])
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
