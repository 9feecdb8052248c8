"""Batch analysis of many sessions: local processes against a Dask cluster, and memory per process.

    .venv/bin/python benchmarks/bench_research.py [--sessions 10000] [--also 1000] [--rate 1000] [--keep DIR]

1. Generates one-minute sessions at 1 kHz into a temporary folder (not timed; the class of
   bench_grading.py, written through the real Recorder), or reuses ``--keep DIR``.
2. Runs, as a user does (a fresh ``nmt-monitor analyze DIR --parquet OUT`` process):
   ``--jobs 1``, ``--jobs 2``, and ``--scheduler`` on a 2-worker ``dask.distributed.LocalCluster``
   (worker processes, one thread each, started here), over the first ``--also`` files and
   over all of them.
3. Reports wall time, sessions per second, CPU seconds (the command with its pool workers, or
   the command and the Dask workers; on a shared machine CPU moves much less than wall time),
   and the peak resident set (VmHWM) of each process:
   the command itself, and its workers (pool processes, or the Dask workers). Memory that stays
   the same from ``--also`` files to all of them is flat in the number of files.

The Parquet files of the three runs must hold the same rows (checked).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _mem_kb(pid: int) -> tuple[int, int] | None:
    """(peak, current) resident set of a process in kB: VmHWM, VmRSS."""
    hwm = rss = None
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        return None
    return None if hwm is None or rss is None else (hwm, rss)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a live process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _is_python(pid: int) -> bool:
    """A Python process (not a short-lived helper such as uname, whose VmHWM right after fork
    is its parent's)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"python" in fh.read().split(b"\0")[0]
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


class PeakWatcher:
    """Peak resident set of a process and its descendants (and of extra pids), polled."""

    def __init__(self, pid: int, extra: tuple[int, ...] = ()) -> None:
        self.pid, self.extra = pid, extra
        self.peaks: dict[int, int] = {}
        self.timeline: list[tuple[float, int, int]] = []  # (time, command RSS, largest worker RSS) in kB
        self._t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        todo, seen = [self.pid, *self.extra], set()
        main_rss, worker_rss = 0, 0
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            mem = _mem_kb(p) if _is_python(p) else None
            if mem is not None:
                self.peaks[p] = max(self.peaks.get(p, 0), mem[0])
                if p == self.pid:
                    main_rss = mem[1]
                else:
                    worker_rss = max(worker_rss, mem[1])
            if p not in self.extra:
                todo.extend(_children(p))
        self.timeline.append((time.perf_counter() - self._t0, main_rss, worker_rss))

    def rss_at(self, fractions=(0.25, 0.5, 0.75, 1.0)) -> list[tuple[int, int]]:
        """(command, largest worker) resident set in MB at these fractions of the run."""
        if not self.timeline:
            return []
        end = self.timeline[-1][0]
        out = []
        for f in fractions:
            sample = [row for row in self.timeline if row[0] <= f * end and row[1]] or self.timeline[:1]
            out.append((round(sample[-1][1] / 1024), round(sample[-1][2] / 1024)))
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()
            self._stop.wait(0.2)

    def stop(self) -> dict[int, int]:
        self._poll()
        self._stop.set()
        self._thread.join()
        return self.peaks


def run(label: str, root: Path, argv: list[str], n: int, out: Path, extra_pids=()) -> dict:
    cmd = [sys.executable, "-m", "nmt_monitor", "analyze", *map(str, argv), "--parquet", str(out)]
    t = time.perf_counter()
    extra_cpu0 = sum(_cpu_s(p) for p in extra_pids)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watch = PeakWatcher(proc.pid, tuple(extra_pids))
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # the command's CPU, with the pool workers it waited for
    proc.returncode = os.waitstatus_to_exitcode(status)
    dt = time.perf_counter() - t
    cpu = usage.ru_utime + usage.ru_stime + sum(_cpu_s(p) for p in extra_pids) - extra_cpu0
    peaks = watch.stop()
    timeline = watch.rss_at()
    if proc.returncode != 0:
        raise SystemExit(f"{label}: exit {proc.returncode}: {err[-500:]}")
    main_mb = peaks.get(proc.pid, 0) / 1024
    workers = [kb / 1024 for pid, kb in peaks.items() if pid != proc.pid]
    result = {"label": label, "files": n, "wall_s": dt, "per_s": n / dt, "cpu_s": cpu, "main_mb": main_mb,
              "worker_mb": max(workers) if workers else None, "workers": len(workers), "timeline": timeline}
    print(f"{label:<30} {n:6d} files {dt:8.1f} s {n / dt:7.1f} sessions/s  CPU {cpu:7.1f} s "
          f"({1000 * cpu / n:5.1f} ms/session)  load {os.getloadavg()[0]:4.1f}   command {main_mb:6.0f} MB   "
          + (f"largest of {len(workers)} worker processes {max(workers):6.0f} MB" if workers else "no workers"),
          flush=True)
    print("    resident set (command, largest worker) at 1/4, 1/2, 3/4 and the end of the run: "
          + ", ".join(f"{m}/{w} MB" for m, w in timeline), flush=True)
    return result


def generate(root: Path, n_sessions: int, rate: float, jobs: int = 2) -> None:
    """The class of bench_grading.py (five sessions per student, six profiles), files that are
    already there kept (an interrupted generation goes on where it stopped)."""
    from bench_grading import PROFILES, _make

    from nmt_monitor.research import map_files

    items = []
    for i in range(n_sessions):
        student, k = divmod(i, 5)
        name = f"student {student + 1:02d}"
        folder = root / name.replace(" ", "-")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"session{k + 1}.h5"
        if not path.exists():
            items.append((path, PROFILES[student % len(PROFILES)], k, 5, i, name, rate))
    map_files(_make, items, jobs=jobs)


def file_list(root: Path, files: list[Path], n: int) -> Path:
    """A folder of symbolic links to the first n files (analyze takes a folder)."""
    sub = root.parent / f"{root.name}-first{n}"
    if not sub.exists():
        sub.mkdir()
        for i, f in enumerate(files[:n]):
            (sub / f"{i:06d}-{f.parent.name}-{f.name}").symlink_to(f)
    return sub


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--also", type=int, default=1_000, help="also run over this many files (memory flatness)")
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--keep", type=Path, help="generate into (or reuse) this folder and keep it")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent))

    import pandas as pd
    from distributed import Client, LocalCluster

    tmp = tempfile.mkdtemp(prefix="bench-research-")
    root = args.keep or Path(tmp) / "sessions"
    root.mkdir(parents=True, exist_ok=True)
    try:
        files = sorted(root.rglob("*.h5"))
        if len(files) < args.sessions:
            t = time.perf_counter()
            generate(root, args.sessions, args.rate)
            files = sorted(root.rglob("*.h5"))
            print(f"generated {len(files)} sessions of ~60 s at {args.rate:g} Hz in {time.perf_counter() - t:.0f} s",
                  flush=True)
        files = files[:args.sessions]
        size = sum(p.stat().st_size for p in files) / 1e6
        print(f"{len(files)} session files, {size:.0f} MB; {os.cpu_count()} CPUs; load average "
              f"{os.getloadavg()[0]:.1f} at the start", flush=True)
        results = []
        for n in sorted({min(args.also, len(files)), len(files)}):
            folder = file_list(root, files, n) if n < len(files) or args.keep else root
            outs = {}
            for label, extra in (("local, --jobs 1", ["--jobs", "1"]), ("local, --jobs 2", ["--jobs", "2"])):
                outs[label] = Path(tmp) / f"{label[-1]}-{n}.parquet"
                results.append(run(label, folder, [folder, *extra], n, outs[label]))
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None, silence_logs=50) as cluster, Client(cluster) as client:
                pids = list(client.run(os.getpid).values())
                label = "Dask LocalCluster, 2 workers"
                outs[label] = Path(tmp) / f"dask-{n}.parquet"
                results.append(run(label, folder, [folder, "--scheduler", cluster.scheduler_address], n,
                                   outs[label], extra_pids=pids))
            frames = [pd.read_parquet(p) for p in outs.values()]
            for df in frames[1:]:
                pd.testing.assert_frame_equal(frames[0], df)
            print(f"  the three Parquet files hold the same {len(frames[0])} rows", flush=True)
        print("\n| run | files | wall | sessions/s | CPU per session | command peak RSS | worker peak RSS |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in results:
            w = f"{r['worker_mb']:.0f} MB" if r["worker_mb"] else "—"
            print(f"| {r['label']} | {r['files']} | {r['wall_s']:.1f} s | {r['per_s']:.1f} | "
                  f"{1000 * r['cpu_s'] / r['files']:.1f} ms | {r['main_mb']:.0f} MB | {w} |")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":  # the Dask workers are spawned processes: they import this file, and must not run it
    raise SystemExit(main())
