"""Batch analysis and grading cost: a folder of 200 one-minute sessions at 1 kHz.

    .venv/bin/python benchmarks/bench_grading.py [--sessions 200] [--rate 1000] [--jobs 2] [--keep DIR]

1. Generates the class into a temporary folder (not timed): 200 sessions of about 60 s, one
   folder per student (the six profiles of nmt_monitor.grading.simulate, rotated), written
   through the real Recorder.
2. Times, as the user runs them (fresh processes): ``nmt-monitor analyze DIR --csv`` with
   1 and with N worker processes; ``nmt-monitor grade DIR`` (tables) and
   ``nmt-monitor grade DIR --report R`` (HTML, one PNG per hold). Peak memory is the largest
   resident set (ru_maxrss) of the command or any of its workers.
3. In-process: ``research.holds_table`` with tracemalloc's peak of Python/NumPy allocations.

Prints the figures; docs/research.md and docs/grading.md quote them.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from nmt_monitor.grading.simulate import EPOCH0, PROFILES, WEEK_S, scenario_toml, write_session
from nmt_monitor.research import map_files


def _make(item):
    path, profile, k, n, seed, name, rate = item
    write_session(path, scenario_toml(profile, k, n), seed, therapist=name, client=f"client {seed % 7:02d}",
                  start_epoch_s=EPOCH0 + k * WEEK_S + seed * 60.0, rate_hz=rate, analyze=False)
    return path


def generate(root: Path, n_sessions: int, rate: float, jobs: int) -> list[Path]:
    per_student = 5
    items = []
    for i in range(n_sessions):
        student, k = divmod(i, per_student)
        profile = PROFILES[student % len(PROFILES)]
        name = f"student {student + 1:02d}"
        folder = root / name.replace(" ", "-")
        folder.mkdir(parents=True, exist_ok=True)
        items.append((folder / f"session{k + 1}.h5", profile, k, per_student, i, name, rate))
    return map_files(_make, items, jobs=jobs)


def timed(argv: list[str]) -> tuple[float, float, str, float]:
    """Wall seconds, peak RSS (MB), lines of output and CPU seconds (user + system, the
    process and all its workers) of a fresh `nmt-monitor` process. CPU seconds hardly change
    with the load of a shared machine; wall seconds do."""
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "dt = time.perf_counter() - t\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "rss = u.ru_maxrss / 1024\n"
        "sys.stderr.write(r.stderr.decode()[-500:])\n"
        "print(dt, rss, r.returncode, len(r.stdout.splitlines()), u.ru_utime + u.ru_stime)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "nmt_monitor", *argv],
                         capture_output=True, text=True, check=True)
    dt, rss, rc, lines, cpu = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"{' '.join(argv)} failed: {out.stderr}")
    return float(dt), float(rss), lines, float(cpu)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--keep", type=Path, help="generate into (or reuse) this folder and keep it")
    ap.add_argument("--only-report", action="store_true", help="time only `grade --report` (the issue-12 bar)")
    args = ap.parse_args(argv)
    tmp = None
    if args.keep:
        root = args.keep
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="bench-grading-")
        root = Path(tmp)
    try:
        files = sorted(root.rglob("*.h5"))
        if len(files) < args.sessions:
            t = time.perf_counter()
            files = generate(root, args.sessions, args.rate, args.jobs)
            print(f"generated {len(files)} sessions of ~60 s at {args.rate:g} Hz in {time.perf_counter() - t:.1f} s")
        size = sum(p.stat().st_size for p in files) / 1e6
        samples = args.sessions * 60 * args.rate
        print(f"folder: {len(files)} session files, {size:.1f} MB, ~{samples / 1e6:.1f} M samples; "
              f"{os.cpu_count()} CPUs, jobs={args.jobs}")
        report = Path(tempfile.mkdtemp(prefix="bench-report-"))
        try:
            runs = [
                ("analyze --csv, 1 process", ["analyze", str(root), "--csv", "--jobs", "1"]),
                (f"analyze --csv, {args.jobs} processes", ["analyze", str(root), "--csv", "--jobs", str(args.jobs)]),
                (f"grade (tables), {args.jobs} processes", ["grade", str(root), "--jobs", str(args.jobs)]),
                (f"grade --report, {args.jobs} processes",
                 ["grade", str(root), "--jobs", str(args.jobs), "--report", str(report / "r")]),
            ]
            if args.only_report:
                runs = runs[-1:]
            for label, cmd in runs:
                dt, rss, lines, cpu = timed(cmd)
                print(f"{label:<34} {dt:7.2f} s wall  {cpu:7.2f} s CPU  {1000 * dt / len(files):6.1f} ms/session  "
                      f"peak RSS {rss:6.0f} MB  ({lines} lines of output)", flush=True)
            pngs = list((report / "r" / "img").rglob("*.png"))
            mb = sum(p.stat().st_size for p in pngs) / 1e6
            print(f"report: {len(pngs)} PNGs, {mb:.1f} MB")
        finally:
            shutil.rmtree(report, ignore_errors=True)
        if args.only_report:
            return 0
        from nmt_monitor.research import holds_table

        tracemalloc.start()
        t = time.perf_counter()
        table = holds_table([root], jobs=1)
        dt = time.perf_counter() - t
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"research.holds_table, in-process   {dt:7.2f} s  {len(table)} holds  "
              f"tracemalloc peak {peak / 1e6:.1f} MB  (process peak RSS {rss:.0f} MB, tracing slows it)")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
