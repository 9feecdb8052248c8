"""Per-hold metrics, computed once when a hold ends (definitions: docs/metrics.md)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .events import Hold

if TYPE_CHECKING:  # pragma: no cover
    from .engine import HoldEngine, _HoldState


def _mean(v: np.ndarray) -> float:
    return float(v.mean()) if v.size else float("nan")


def hold_metrics(eng: HoldEngine, h: _HoldState, end: int, reason: str) -> Hold:
    p = eng.params
    buf = eng._buf
    dt = eng.dt
    z = h.zero
    start = h.start
    t_start, t_end = eng._time(start), eng._time(end)
    duration = t_end - t_start

    x = buf.get("x", start, end + 1) - z
    valid = np.isfinite(x)
    xv = x[valid]
    mean = _mean(xv)
    sd = float(xv.std(ddof=1)) if xv.size > 1 else 0.0
    cv = 100.0 * sd / mean if mean > 0 else float("nan")
    peak = float(xv.max()) if xv.size else float("nan")

    wd = eng._Wd
    first = x[:wd]
    last = x[-wd:]
    l_first = _mean(first[np.isfinite(first)])
    l_last = _mean(last[np.isfinite(last)])
    drift_pct = 100.0 * (l_last - l_first) / l_first if l_first > 0 else float("nan")
    span = duration - p.drift_window_s
    drift_rate = (l_last - l_first) / span if span > 0 else 0.0

    # tolerance and target band, on the 6 Hz filtered force (tremor removed, ~40 ms delay)
    f = buf.get("f", start, end + 1) - z
    over_s = 0.0
    if eng.tolerance_n is not None:
        over_s = float(np.count_nonzero(f > eng.tolerance_n)) * dt
    in_target_s = in_target_pct = None
    if eng.target_band_n is not None:
        lo, hi = eng.target_band_n
        inside = (f >= lo) & (f <= hi)
        in_target_s = float(np.count_nonzero(inside)) * dt
        in_target_pct = 100.0 * np.count_nonzero(inside) / f.size if f.size else 0.0
    gap_s = float(np.count_nonzero(~valid)) * dt

    ramp_in = ramp_rate = overshoot_n = overshoot_pct = None
    if not h.truncated:
        ramp_in, ramp_rate, overshoot_n, overshoot_pct = _ramp(eng, h, l_first)

    flags = []
    if math.isfinite(drift_pct) and abs(drift_pct) >= p.drift_limit_pct:
        flags.append("drift")
    if over_s > 0:
        flags.append("over_tolerance")
    if p.target_hold_s is not None and duration < p.target_hold_s:
        flags.append("short")
    if reason == "gap" or gap_s >= p.max_gap_s:
        flags.append("gap")
    if reason in ("end_of_data", "max_duration") or h.truncated:
        flags.append("incomplete")

    return Hold(
        start_s=t_start, end_s=t_end, duration_s=duration, mean_N=mean, sd_N=sd, cv_pct=cv,
        drift_pct=drift_pct, drift_N_per_s=drift_rate, level_start_N=l_first, level_end_N=l_last,
        peak_N=peak, ramp_in_s=ramp_in, ramp_rate_N_per_s=ramp_rate, overshoot_N=overshoot_n,
        overshoot_pct=overshoot_pct, time_over_tolerance_s=over_s, time_in_target_s=in_target_s,
        time_in_target_pct=in_target_pct, gap_s=gap_s, zero_N=z, ended_by=reason, flags=tuple(flags),
    )


def _ramp(eng: HoldEngine, h: _HoldState, level_net: float):
    """Ramp-in: from the 10 % point of the approach to the hold start; rate over 10-90 %."""
    p = eng.params
    start = h.start
    a = max(start - eng._ramp, eng._seg_start, eng._buf.base + eng._h)
    prev_end = getattr(h, "prev_end", -1)
    a = max(a, prev_end + 1)
    if start - a < 2:
        return None, None, None, None
    hi = min(start + int(round(1.0 * eng.fs)), eng._pos)
    xs = eng._smooth(a, hi, eng._seg_start, hi) - h.zero
    pre = xs[: start - a + 1]
    level = level_net
    band = max(p.edge_pct / 100.0 * abs(level), p.edge_n)
    outside = np.flatnonzero(np.abs(pre - level) > band)
    if not outside.size:
        return None, None, None, None
    j_out = int(outside[-1])
    d = math.copysign(1.0, level - pre[j_out])  # +1: the approach came from below
    # the approach starts after the last point on the far side of the level (a previous,
    # higher plateau or its release for a rise; the reverse for a step down)
    far_side = np.flatnonzero((pre[:j_out] - level) * d > band)
    i0 = int(far_side[-1]) + 1 if far_side.size else 0
    seg = pre[i0 : j_out + 1]
    i_far = i0 + int(np.argmin(seg * d))
    origin = float(pre[i_far])
    delta = level - origin
    if abs(delta) < max(p.edge_n, 0.1 * abs(level), p.min_hold_level_n):
        return None, None, None, None
    frac = (pre - origin) / delta
    tail = frac[i_far:]
    below10 = np.flatnonzero(tail <= 0.1)
    i10 = i_far + int(below10[-1])
    after = frac[i10:]
    above90 = np.flatnonzero(after >= 0.9)
    i90 = i10 + int(above90[0]) if above90.size else start - a
    t10 = eng._time(a + i10)
    t90 = eng._time(a + i90)
    ramp_in = eng._time(start) - t10
    rate = 0.8 * delta / (t90 - t10) if t90 > t10 else float("nan")
    post = xs[i90:]
    over = float(np.max((post - level) * math.copysign(1.0, delta))) if post.size else 0.0
    over = max(over, 0.0)
    return ramp_in, rate, over, 100.0 * over / abs(delta)
