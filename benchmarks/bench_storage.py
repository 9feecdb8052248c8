"""Storage cost. Prints figures; reported in docs/performance.md.

    .venv/bin/python benchmarks/bench_storage.py [--quick]

1. Bytes per sample on disk (HDF5 and journal) for simulated sensor data (load-cell noise,
   therapist scenario) at 2 kHz.
2. Write cost per second of recording at 2 kHz: CPU seconds spent in ``Recorder.add``/``tick``
   (journal appends, ~1 fsync/s) for 20-sample blocks as the reader hands them out, and the
   one-off cost of ``finish`` (HDF5 + hold engine) per recorded second.
3. Load time of a 1 h session at 1 kHz: ``open_session`` with all arrays, and with just
   time and force (what analyze needs).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from firmware_sim.loadcell import TRUE_CALIBRATION, LoadCell
from firmware_sim.scenarios import load_scenario
from nmt_monitor.acquisition.blocks import SampleBlock
from nmt_monitor.storage import Recorder, SessionMetadata, open_session


def simulated(seconds: float, rate: int, seed: int = 0):
    scen = load_scenario("demo")
    run = scen.render(rate, seed)
    reps = int(np.ceil(seconds * rate / run.force_n.size))
    force_true = np.tile(run.force_n, reps)[: int(seconds * rate)]
    t = np.arange(force_true.size) / rate
    counts = LoadCell(seed=seed).measure(t, force_true)
    force = TRUE_CALIBRATION.counts_to_newtons(counts)
    return t, counts.astype(np.int32), force


def blocks_of(t, counts, force, block: int, t0: float):
    for i in range(0, t.size, block):
        s = slice(i, i + block)
        n = t[s].size
        yield SampleBlock(t0 + t[s] + 0.003, t[s].copy(), np.arange(i, i + n, dtype=np.int64), counts[s], force[s],
                          np.zeros(n, bool))


def record(directory: Path, name: str, t, counts, force, block: int):
    t0 = 1_790_000_000.0
    clock_now = [t0]
    rec = Recorder(directory / f"{name}.h5", SessionMetadata(tolerance_N=60.0, target_band_N=(30.0, 45.0)),
                   clock=lambda: clock_now[0], min_free_bytes=0)
    cpu = 0.0
    for b in blocks_of(t, counts, force, block, t0):
        c0 = time.process_time()
        rec.add(b)
        rec.tick()
        cpu += time.process_time() - c0
    journal_bytes = rec.bytes_written
    c0, w0 = time.process_time(), time.perf_counter()
    path = rec.finish()
    return path, cpu, journal_bytes, time.process_time() - c0, time.perf_counter() - w0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (10 min instead of 1 h)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        d = Path(tmp)
        seconds = 60.0 if args.quick else 300.0
        t, counts, force = simulated(seconds, 2000)
        path, cpu, jbytes, fin_cpu, fin_wall = record(d, "w2k", t, counts, force, block=20)
        n = t.size
        print(f"2 kHz, {seconds:g} s, {n} samples, 20-sample blocks:")
        print(f"  HDF5 on disk:        {path.stat().st_size / n:6.2f} bytes/sample "
              f"({path.stat().st_size / seconds / 1e3:.1f} kB per second of recording)")
        print(f"  journal while recording: {jbytes / n:6.2f} bytes/sample")
        print(f"  write cost (add+tick): {cpu / seconds * 1e3:6.3f} ms CPU per second of recording "
              f"= {cpu / seconds * 100:.3f} % of one core")
        print(f"  finish (HDF5 + hold engine): {fin_cpu / seconds * 1e3:6.2f} ms CPU per recorded second "
              f"({fin_wall:.2f} s wall for the whole session)")
        import h5py

        with h5py.File(path) as f:
            for name in ("data", "timestamps", "device_time", "seq", "segment", "saturated"):
                ds = f["acquisition/force"][name]
                print(f"    acquisition/force/{name:12s} {ds.id.get_storage_size() / n:5.2f} B/sample")
            ds = f["acquisition/raw_counts/data"]
            print(f"    acquisition/raw_counts/data {ds.id.get_storage_size() / n:5.2f} B/sample")

        hour = 600.0 if args.quick else 3600.0
        t, counts, force = simulated(hour, 1000, seed=1)
        path, _, _, fin_cpu, fin_wall = record(d, "h1k", t, counts, force, block=1000)
        print(f"1 kHz, {hour:g} s ({t.size} samples): file {path.stat().st_size / 1e6:.1f} MB, "
              f"finish {fin_wall:.1f} s")
        for label, arrays in (("all arrays", True), ("time + force", ("time_s", "force_n")),
                              ("metadata + tables", False)):
            best = np.inf
            for _ in range(3):
                w0 = time.perf_counter()
                s = open_session(path, arrays=arrays)
                best = min(best, time.perf_counter() - w0)
            print(f"  open_session ({label}): {best:.3f} s")
        assert s.n_samples == t.size
        # The design bar: offline analyze of 1 h at 1 kHz from HDF5, loading included.
        import subprocess

        best = np.inf
        for _ in range(3):
            w0 = time.perf_counter()
            from nmt_monitor.dsp import analyze_holds
            from nmt_monitor.loaders import load_recording

            rec = load_recording(str(path))
            result = analyze_holds(rec.time_s, rec.force_n, tolerance_n=rec.tolerance_n, live_updates=False)
            best = min(best, time.perf_counter() - w0)
        print(f"  load + analyze in-process: {best:.3f} s ({len(result.holds)} holds)")
        w0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nmt_monitor", "analyze", str(path), "--json"],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"  'nmt-monitor analyze FILE.h5 --json' as a command (interpreter start included): "
              f"{time.perf_counter() - w0:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
