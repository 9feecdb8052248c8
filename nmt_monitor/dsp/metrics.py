"""Per-hold metrics, computed once when a hold ends (definitions: docs/metrics.md).

Pure functions of the data: the engine hands over the hold's bins (``HoldSpan``) and the
approach before it (``Approach``); nothing here knows the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .events import Hold
from .params import HoldParams


@dataclass(frozen=True)
class Approach:
    """The smoothed net force from before the hold start to ~1 s into the hold."""

    time_s: np.ndarray
    force_n: np.ndarray
    start_index: int  # index of the hold start in the arrays


@dataclass(frozen=True)
class HoldSpan:
    """One hold's data: 20 ms bins from its start to its end, gross (zero not subtracted)."""

    x: np.ndarray  # bin means, NaN where data is missing
    f: np.ndarray  # the alert-filtered force
    zero_n: float
    start_s: float
    end_s: float
    bin_s: float
    drift_window_bins: int
    ended_by: str  # change, gap, end_of_data, max_duration
    truncated: bool  # the data started inside the hold
    approach: Approach | None = None


def _mean(v: np.ndarray) -> float:
    return float(v.mean()) if v.size else float("nan")


def hold_metrics(span: HoldSpan, params: HoldParams, tolerance_n=None, target_band_n=None) -> Hold:
    """The hold's metrics. ``tolerance_n`` and ``target_band_n`` are the client's limits: one
    value for the whole hold, or one per bin (``tolerance_n`` an array, NaN = none;
    ``target_band_n`` a (lo, hi) pair of arrays) when they were changed during it."""
    p = params
    dt = span.bin_s
    z = span.zero_n
    duration = span.end_s - span.start_s

    x = span.x - z
    valid = np.isfinite(x)
    xv = x[valid]
    mean = _mean(xv)
    sd = float(xv.std(ddof=1)) if xv.size > 1 else 0.0
    cv = 100.0 * sd / mean if mean > 0 else float("nan")
    peak = float(xv.max()) if xv.size else float("nan")

    wd = span.drift_window_bins
    # the windows stay clear of the hold's edges by drift_guard_s (a boundary is known to
    # ~0.1-0.2 s: the tail of the approach or the head of the release must not read as drift)
    g = min(int(round(p.drift_guard_s / dt)), max(0, (x.size - wd) // 2))
    first = x[g : g + wd]
    last = x[x.size - g - wd : x.size - g]
    l_first = _mean(first[np.isfinite(first)])
    l_last = _mean(last[np.isfinite(last)])
    drift_pct = 100.0 * (l_last - l_first) / l_first if l_first > 0 else float("nan")
    gap_span = duration - p.drift_window_s
    drift_rate = (l_last - l_first) / gap_span if gap_span > 0 else 0.0

    # tolerance and target band, on the 6 Hz filtered force (tremor removed, ~40 ms delay)
    f = span.f - z
    over_s = 0.0
    if tolerance_n is not None:
        over_s = float(np.count_nonzero(f > tolerance_n)) * dt  # NaN (no tolerance) is never over
    in_target_s = in_target_pct = None
    if target_band_n is not None:
        lo, hi = target_band_n
        inside = (f >= lo) & (f <= hi)
        in_target_s = float(np.count_nonzero(inside)) * dt
        in_target_pct = 100.0 * np.count_nonzero(inside) / f.size if f.size else 0.0
    gap_s = float(np.count_nonzero(~valid)) * dt

    ramp_in = ramp_rate = overshoot_n = overshoot_pct = None
    if not span.truncated and span.approach is not None:
        ramp_in, ramp_rate, overshoot_n, overshoot_pct = ramp_metrics(span.approach, l_first, p)

    reason = span.ended_by
    flags = []
    if math.isfinite(drift_pct) and abs(drift_pct) >= p.drift_limit_pct:
        flags.append("drift")
    if over_s > 0:
        flags.append("over_tolerance")
    if p.target_hold_s is not None and duration < p.target_hold_s:
        flags.append("short")
    if reason == "gap" or gap_s >= p.max_gap_s:
        flags.append("gap")
    if reason in ("end_of_data", "max_duration") or span.truncated:
        flags.append("incomplete")

    return Hold(
        start_s=span.start_s, end_s=span.end_s, duration_s=duration, mean_N=mean, sd_N=sd, cv_pct=cv,
        drift_pct=drift_pct, drift_N_per_s=drift_rate, level_start_N=l_first, level_end_N=l_last,
        peak_N=peak, ramp_in_s=ramp_in, ramp_rate_N_per_s=ramp_rate, overshoot_N=overshoot_n,
        overshoot_pct=overshoot_pct, time_over_tolerance_s=over_s, time_in_target_s=in_target_s,
        time_in_target_pct=in_target_pct, gap_s=gap_s, zero_N=z, ended_by=reason, flags=tuple(flags),
    )


def ramp_metrics(approach: Approach, level_net: float, params: HoldParams):
    """Ramp-in: from the 10 % point of the approach to the hold start; rate over 10-90 %;
    overshoot beyond the level after the 90 % point. (None, None, None, None) if no approach
    is visible."""
    p = params
    xs = approach.force_n
    ts = approach.time_s
    start = approach.start_index
    if start < 2:
        return None, None, None, None
    pre = xs[: start + 1]
    level = level_net
    band = max(p.edge_pct / 100.0 * abs(level), p.band_floor_n)
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
    if abs(delta) < max(0.1 * abs(level), p.min_hold_level_n):
        return None, None, None, None
    frac = (pre - origin) / delta
    tail = frac[i_far:]
    below10 = np.flatnonzero(tail <= 0.1)
    i10 = i_far + int(below10[-1])
    after = frac[i10:]
    above90 = np.flatnonzero(after >= 0.9)
    i90 = i10 + int(above90[0]) if above90.size else start
    t10 = float(ts[i10])
    t90 = float(ts[i90])
    ramp_in = float(ts[start]) - t10
    rate = 0.8 * delta / (t90 - t10) if t90 > t10 else None
    post = xs[i90:]
    over = float(np.max((post - level) * math.copysign(1.0, delta))) if post.size else 0.0
    over = max(over, 0.0)
    return ramp_in, rate, over, 100.0 * over / abs(delta)
