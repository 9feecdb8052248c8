"""Start-up benchmark: prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench_startup.py [--repeat N]

Wall time (median of N runs, and the slowest) of, beside ``python -c pass``:

1. ``nmt-monitor --help`` and every ``nmt-monitor COMMAND --help``      bar <= 0.25 s
2. ``nmt-monitor analyze small.csv`` (5,000 samples at 500 Hz)          bar <= 1.0 s
3. the live monitor's first frame with data: from starting ``nmt-monitor live`` in a
   100x30 pseudo-terminal until the screen says the sensor (the built-in simulator) is
   streaming                                                            bar <= 1.5 s

Each run is a fresh process, as a user starts it (the ``nmt-monitor`` script of this venv).
Run it on a quiet machine: the bars are for one.
"""

from __future__ import annotations

import argparse
import os
import platform
import pty
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmt_monitor.cli import COMMANDS  # noqa: E402


def script() -> str:
    exe = Path(sys.executable).with_name("nmt-monitor")
    return str(exe) if exe.exists() else shutil.which("nmt-monitor") or "nmt-monitor"


def wall(argv, repeat: int, cwd=None, env=None) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=env, check=False)
        out.append(time.perf_counter() - t0)
    return out


def first_frame(argv, env, marker: bytes = b"streaming", timeout: float = 30.0) -> float:
    """Seconds from start to ``marker`` on the screen, in a 100x30 pty; then quits with q."""
    import fcntl
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True,
                            start_new_session=True)
    os.close(follower)
    seen = b""
    took = float("nan")
    try:
        while time.perf_counter() - t0 < timeout:
            r, _, _ = select.select([leader], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                seen = (seen + chunk)[-4096:]
                if marker in seen:
                    took = time.perf_counter() - t0
                    break
        os.write(leader, b"q")
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            r, _, _ = select.select([leader], [], [], 0.05)
            if r:
                try:
                    os.read(leader, 65536)
                except OSError:
                    break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(leader)
    return took


def row(label: str, times: list[float], bar: float | None, base: float) -> str:
    med, worst = statistics.median(times), max(times)
    verdict = "" if bar is None else ("  ok" if med <= bar else "  OVER")
    return f"  {label:<34} {med:6.3f} s  (max {worst:5.3f}, +{med - base:5.3f} over python)" + (
        f"  bar {bar:g} s{verdict}" if bar is not None else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n = max(1, args.repeat)
    exe = script()
    with tempfile.TemporaryDirectory() as tmp:
        # no user settings or records: what a new user gets
        env = dict(os.environ, NMT_MONITOR_CONFIG=os.path.join(tmp, "none.toml"),
                   XDG_CONFIG_HOME=os.path.join(tmp, "config"), XDG_DATA_HOME=os.path.join(tmp, "data"),
                   TERM="xterm-256color")
        print(f"start-up on {platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}; median of {n}")
        base_times = wall([sys.executable, "-c", "pass"], n)
        base = statistics.median(base_times)
        print(row("python -c pass", base_times, None, base))
        print(row("nmt-monitor --help", wall([exe, "--help"], n, env=env), 0.25, base))
        for name in COMMANDS:
            print(row(f"nmt-monitor {name} --help", wall([exe, name, "--help"], n, env=env), 0.25, base))

        import numpy as np

        t = np.arange(5000) / 500.0
        f = np.where((t > 1.0) & (t < 8.0), 40.0, 0.5) + np.random.default_rng(0).normal(0, 0.2, t.size)
        csv = os.path.join(tmp, "small.csv")
        np.savetxt(csv, np.c_[t, f], delimiter=",", header="time_s,force_N", comments="", fmt="%.4f")
        print(row("nmt-monitor analyze small.csv", wall([exe, "analyze", csv], n, env=env), 1.0, base))

        frames = [first_frame([exe, "live", "--port", "sim://?scenario=steady&rate=1000", "--no-bell"], env)
                  for _ in range(n)]
        print(row("live: first frame with data", frames, 1.5, base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
