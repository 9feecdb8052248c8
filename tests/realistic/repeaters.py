"""Repeaters on a ~88 Hz handheld load cell that reports kilograms with device time.

The style of a climbing / physiotherapy strength assessment with a Tindeq-Progressor-like
device (field-notes "Devices and ecosystems": float32 kg and uint32 µs per sample, notified in
batches over BLE): sets of 7 s on / 3 s off pulls following a beeping timer, the rig (handle,
sling, carabiner) hanging on the cell so that it reads 6-7 N when nobody pulls (not tared), and
a small pre-load (taking up the slack, 1-3 kg for 0.4-1.2 s) before some pulls.
"""

from __future__ import annotations

import numpy as np

from .blocks import NEWTONS_PER_KGF, drop_frames
from .builder import InvalidSession, Session
from .sessions import MAX_ATTEMPTS, _stable_hash, build_truth


def _pulls(rng) -> Session:
    s = Session(rng=rng, a_n=float(rng.uniform(0.1, 0.3)), b_rel=float(rng.uniform(0.025, 0.045)),
                cv_rest=0.13, breath_depth=0.0, tremor_rel=float(rng.uniform(0.003, 0.008)))
    # no client under the sensor: no breathing; high relative effort: CV 2.5-5 % (Enoka 2003)
    s.lift(float(rng.uniform(2.0, 5.0)))
    sets = int(rng.integers(1, 3))
    level0 = float(rng.uniform(5.0, 15.0)) * NEWTONS_PER_KGF  # 5-15 kg (49-147 N)
    for k in range(sets):
        beep = s.t + float(rng.uniform(0.5, 1.5))
        level = level0 * (1.0 - 0.04 * k)
        for rep in range(6):
            on = beep + 10.0 * rep
            start = on + float(rng.uniform(0.15, 0.35))        # reaction to the beep
            stop = on + 7.0 + float(rng.uniform(0.1, 0.3))     # release at the "off" beep
            if rng.random() < 0.4:                             # pre-load before the beep
                pre_start = on - float(rng.uniform(0.6, 1.5))
                if pre_start > s.t:
                    s.lift(pre_start - s.t)
                pre = float(rng.uniform(1.0, 3.0)) * NEWTONS_PER_KGF
                s.plateau(pre, ramp_s=float(rng.uniform(0.2, 0.4)), end_at=start, is_hold=False, kind="preload",
                          drift=(0.0, 10.0))
            else:
                s.lift(start - s.t)
            lv = level * (1.0 - 0.015 * rep) * float(rng.uniform(0.97, 1.03))   # fatigue across reps
            s.plateau(lv, ramp_s=float(rng.uniform(0.3, 0.8)), end_at=stop,
                      drift=(float(rng.uniform(-0.01, 0.04)), float(rng.uniform(10, 20))),
                      corrections=[])
            s.release(0.0, ramp_s=float(rng.uniform(0.2, 0.5)))
        s.lift(float(rng.uniform(2.5, 3.0)) if k == sets - 1 else float(rng.uniform(40.0, 80.0)))
    s.tolerance_n = None
    return s


def repeaters(seed: int):
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, attempt, _stable_hash("repeaters_kg_88hz")])
        try:
            rendered = _pulls(rng).render()
        except InvalidSession:
            continue
        t = rendered.t
        rig = float(rng.uniform(6.0, 7.0))
        drift = float(rng.uniform(-0.2, 0.2)) * (1.0 - np.exp(-t / 120.0))
        reading = rendered.force + rig + drift
        period = 1.0 / float(rng.uniform(87.0, 88.4))
        k = np.arange(int(t[-1] / period))
        ts = k * period
        noise = float(rng.uniform(0.003, 0.008)) * NEWTONS_PER_KGF
        val_n = np.interp(ts, t, reading) + noise * rng.standard_normal(ts.size)
        # BLE notifications carry batches; now and then a sample is lost between batches
        keep = np.ones(ts.size, dtype=bool)
        batch = int(rng.integers(12, 17))
        lost = rng.random(ts.size // batch) < float(rng.uniform(0.3, 0.9))
        keep[(np.flatnonzero(lost) + 1) * batch - 1] = False
        keep &= drop_frames(ts.size, rng, 0.2, frame_range=(1, 5), rate_hz=88.0)
        t0 = float(np.round(rng.uniform(0.03, 0.08), 6))
        dev = np.round(ts[keep] + t0, 6)
        kg = val_n[keep].astype(np.float32).astype(np.float64) / NEWTONS_PER_KGF
        kg = kg.astype(np.float32).astype(np.float64)
        zinfo = {"offset_N": round(rig, 3), "rig_weight_N": round(rig, 3), "tares": [],
                 "zero_start_N": round(rig, 3), "zero_end_N": round(rig + float(drift[-1]), 3)}
        meta = {"model": "ble_load_cell_88hz", "rate_hz": round(1 / period, 2), "unit": "kgf", "time": "device",
                "batch": batch, "noise_N": round(noise, 4), "time_format": "%.6f", "value_format": "%.9g",
                "extra_column": "sample"}
        truth = build_truth(rendered, "repeaters_kg_88hz", seed, attempt, "kgf", (1.0, t0), zinfo, meta, None)
        truth["duration_s"] = round(float(t[-1]), 3)
        return dev, kg, "kgf", truth
    raise RuntimeError(f"repeaters: no valid session from seed {seed}")
