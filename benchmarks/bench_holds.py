"""Hold-engine benchmark: prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench_holds.py [--quick]

1. offline: ``analyze_holds`` on 1 h at 1 kHz (3.6 M samples)            bar <= 1 s
2. live: ``HoldEngine.feed`` at 1 kHz in 10 ms chunks, % of one core       bar <= 1 %
3. accuracy and speed against an off-the-shelf change-point segmentation
   (``ruptures``, PELT on the 50 Hz envelope, plateaus >= 5 s with a small slope become
   holds) on the same simulator traces; skipped when ruptures is not installed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nmt_monitor.dsp import HoldEngine, HoldParams, analyze_holds  # noqa: E402


def session(hours: float, rate: float, seed: int = 0):
    """A long synthetic session: repeated holds, steps, glides and pokes with noise."""
    from tests.dsp.synth import standard_session

    rng = np.random.default_rng(seed)
    ts, fs = [], []
    t_off = 0.0
    while t_off < hours * 3600:
        s = standard_session(rng)
        t, f, _ = s.render(rate_hz=rate, seed=int(rng.integers(1 << 30)), noise_n=0.5, offset_n=2.0)
        ts.append(t + t_off)
        fs.append(f)
        t_off = ts[-1][-1] + 1.0 / rate
    t = np.concatenate(ts)
    f = np.concatenate(fs)
    n = int(hours * 3600 * rate)
    return t[:n], f[:n]


def bench_offline(t, f, repeats: int = 3) -> float:
    best = best_cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        a = analyze_holds(t, f, tolerance_n=60.0, target_band_n=(20.0, 40.0), live_updates=False)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    print(f"offline analyze_holds (as analyze runs it: no live updates): {t.size / 1e6:.2f} M samples "
          f"({(t[-1] - t[0]) / 3600:.2f} h at {a.sample_rate_hz:.0f} Hz) in {best:.3f} s wall, {best_cpu:.3f} s CPU "
          f"-> {t.size / best_cpu / 1e6:.1f} M samples/s of CPU, {len(a.holds)} holds  [bar: 1 h at 1 kHz <= 1 s]")
    return best_cpu


def bench_live(t, f, chunk: int = 10) -> float:
    eng = HoldEngine(tolerance_n=60.0, target_band_n=(20.0, 40.0))
    n = t.size - t.size % chunk
    tc = t[:n].reshape(-1, chunk)
    fc = f[:n].reshape(-1, chunk)
    c0 = time.process_time()
    w0 = time.perf_counter()
    worst = 0.0
    for i in range(tc.shape[0]):
        s = time.perf_counter()
        eng.feed(tc[i], fc[i])
        worst = max(worst, time.perf_counter() - s)
    eng.finish()
    cpu = time.process_time() - c0
    wall = time.perf_counter() - w0
    span = t[n - 1] - t[0]
    pct = 100.0 * cpu / span
    print(f"live HoldEngine.feed: {tc.shape[0]} calls of {chunk} samples covering {span:.0f} s of data: "
          f"CPU {cpu:.2f} s = {pct:.2f} % of one core ({1e6 * wall / tc.shape[0]:.0f} us/call mean, "
          f"{1e3 * worst:.2f} ms worst)  [bar: <= 1 %]")
    return pct


# ---------------------------------------------------------------- comparison with ruptures
def iou(a0, a1, b0, b1):
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    union = max(a1, b1) - min(a0, b0)
    return inter / union if union > 0 else 0.0


def score(true_h, det):
    pairs = sorted(((iou(a["start_s"], a["end_s"], b[0], b[1]), i, j)
                    for i, a in enumerate(true_h) for j, b in enumerate(det)), reverse=True)
    ut, ud, on, off = set(), set(), [], []
    for v, i, j in pairs:
        if v >= 0.5 and i not in ut and j not in ud:
            ut.add(i)
            ud.add(j)
            on.append(abs(det[j][0] - true_h[i]["start_s"]))
            off.append(abs(det[j][1] - true_h[i]["end_s"]))
    tp = len(ut)
    return tp, len(det) - tp, len(true_h) - tp, on, off


def ruptures_holds(t, f, rpt, min_hold_s=5.0, env_hz=50.0):
    """PELT (l2 cost) change points on a 50 Hz envelope; a segment is a hold when it lasts
    >= min_hold_s, sits above 2 N, and its level changes by < 2 %/s (quasi-static)."""
    step = max(1, int(round((t.size - 1) / (t[-1] - t[0]) / env_hz)))
    n = t.size // step * step
    te = t[:n].reshape(-1, step).mean(axis=1)
    fe = f[:n].reshape(-1, step).mean(axis=1)
    zero = float(np.median(fe[: int(env_hz)]))
    fe = fe - zero
    noise = float(np.median(np.abs(np.diff(fe)))) / 0.6745 / np.sqrt(2)
    pen = 3.0 * np.log(fe.size) * max(noise, 0.05) ** 2 * 50
    bkps = rpt.Pelt(model="l2", min_size=int(env_hz * 0.5), jump=5).fit(fe).predict(pen=pen)
    holds = []
    a = 0
    for b in bkps:
        seg_t, seg_f = te[a:b], fe[a:b]
        a = b
        if seg_t.size < 2 or seg_t[-1] - seg_t[0] < min_hold_s:
            continue
        level = float(np.mean(seg_f))
        if level < 2.0:
            continue
        slope = np.polyfit(seg_t - seg_t[0], seg_f, 1)[0]
        if abs(slope) / level * 100 > 2.0 or np.std(seg_f) / level > 0.1:
            continue
        holds.append((float(seg_t[0]), float(seg_t[-1])))
    return holds


def bench_compare(quick: bool) -> None:
    try:
        import ruptures as rpt
    except ImportError:
        print("comparison with ruptures: skipped (pip install ruptures to run it)")
        return
    try:
        import firmware_sim.scenarios as sim
        from firmware_sim.loadcell import TRUE_CALIBRATION, LoadCell
    except ImportError:
        print("comparison with ruptures: skipped (firmware_sim not available)")
        return
    seeds = (1, 2) if quick else (1, 2, 3)
    rows = {"engine": [0, 0, 0, [], [], 0.0, 0], "ruptures": [0, 0, 0, [], [], 0.0, 0]}
    for name in sim.list_scenarios():
        for seed in seeds:
            run = sim.load_scenario(name).render(rate_hz=1000.0, seed=seed)
            counts = LoadCell(seed=seed).measure(run.time_s, run.force_n)
            f = (counts - TRUE_CALIBRATION.offset_counts) / TRUE_CALIBRATION.nominal_counts_per_n
            f = f + np.random.default_rng(seed).normal(0, 0.5, f.size)
            t = run.time_s
            truth = run.ground_truth["holds"]
            t0 = time.perf_counter()
            det_e = [(h.start_s, h.end_s) for h in analyze_holds(t, f, HoldParams()).holds]
            te = time.perf_counter() - t0
            t0 = time.perf_counter()
            det_r = ruptures_holds(t, f, rpt)
            tr = time.perf_counter() - t0
            for key, det, dt in (("engine", det_e, te), ("ruptures", det_r, tr)):
                tp, fp, fn, on, off = score(truth, det)
                r = rows[key]
                r[0] += tp
                r[1] += fp
                r[2] += fn
                r[3] += on
                r[4] += off
                r[5] += dt
                r[6] += t.size
    print("comparison on firmware_sim scenarios at 1 kHz (+0.5 N noise), holds matched at IoU >= 0.5:")
    for key, (tp, fp, fn, on, off, dt, ns) in rows.items():
        f1 = 2 * tp / max(1, 2 * tp + fp + fn)
        med_on = statistics.median(on) if on else float("nan")
        med_off = statistics.median(off) if off else float("nan")
        print(f"  {key:9s} F1 {f1:.3f} (tp {tp}, fp {fp}, fn {fn}), median onset {med_on:.3f} s, "
              f"offset {med_off:.3f} s, {dt:.2f} s for {ns / 1e6:.1f} M samples ({ns / dt / 1e6:.1f} M samples/s)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 min of data instead of 1 h, fewer comparison runs")
    args = ap.parse_args()
    hours = 1 / 6 if args.quick else 1.0
    t, f = session(hours, 1000.0)
    bench_offline(t, f)
    m = min(t.size, 600_000)
    bench_live(t[:m], f[:m])
    bench_compare(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
