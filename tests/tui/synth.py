"""Synthetic force traces and sources for the TUI tests (deterministic)."""

from __future__ import annotations

import numpy as np

from nmt_monitor.acquisition import LinkEvent, SampleBlock

EPOCH = 1_700_000_000.0


def hold_trace(rate_hz: float = 200.0, *, rest_s: float = 2.0, ramp_s: float = 1.0, hold_s: float = 12.0,
               level_n: float = 40.0, drift_pct: float = 0.0, release_s: float = 0.8, after_s: float = 3.0,
               seed: int = 1):
    """Rest, ramp up, hold (with optional linear drift over the hold), release, rest."""
    rng = np.random.default_rng(seed)
    dur = rest_s + ramp_s + hold_s + release_s + after_s
    t = np.arange(0, dur, 1.0 / rate_hz)
    f = np.zeros_like(t)
    a, b, c, d = rest_s, rest_s + ramp_s, rest_s + ramp_s + hold_s, rest_s + ramp_s + hold_s + release_s
    up = (t >= a) & (t < b)
    f[up] = level_n * (t[up] - a) / ramp_s
    on = (t >= b) & (t < c)
    f[on] = level_n * (1 + drift_pct / 100 * (t[on] - b) / hold_s)
    down = (t >= c) & (t < d)
    end_level = level_n * (1 + drift_pct / 100)
    f[down] = end_level * (1 - (t[down] - c) / release_s)
    f += rng.normal(0, 0.15, t.size)
    return t, f


def concat_traces(*parts):
    ts, fs, off = [], [], 0.0
    for t, f in parts:
        ts.append(t + off)
        fs.append(f)
        off = ts[-1][-1] + (t[1] - t[0])
    return np.concatenate(ts), np.concatenate(fs)


def blocks(t, f, block_s: float = 0.05, epoch: float = EPOCH, segment: int = 0) -> list[SampleBlock]:
    out = []
    rate = 1.0 / (t[1] - t[0])
    n = max(1, int(round(block_s * rate)))
    for a in range(0, t.size, n):
        b = min(t.size, a + n)
        out.append(SampleBlock(host_time_s=t[a:b] + epoch, device_time_s=t[a:b].copy(),
                               seq=np.arange(a, b, dtype=np.int64), counts=None, force_n=f[a:b].copy(),
                               saturated=np.zeros(b - a, bool), segment=segment))
    return out


def connected(epoch: float = EPOCH) -> LinkEvent:
    return LinkEvent("connected", epoch, {"protocol": "nmt"})
