"""Synthetic sample blocks and events for storage tests (no simulator, no serial port)."""

from __future__ import annotations

import numpy as np

from nmt_monitor.acquisition.blocks import LinkEvent, SampleBlock

T0 = 1_790_000_000.0  # a fixed epoch so files are reproducible


def force_profile(t: np.ndarray) -> np.ndarray:
    """Rest, a 15 s hold at 40 N, rest, an over-tolerance poke at 75 N, rest."""
    f = np.zeros_like(t)
    ramp = lambda a, b: np.clip((t - a) / (b - a), 0, 1)  # noqa: E731
    f += 40.0 * (ramp(2.0, 3.0) - ramp(18.0, 19.0))
    f += 75.0 * (ramp(22.0, 22.5) - ramp(23.5, 24.0))
    return f


def make_blocks(seconds: float = 30.0, rate_hz: float = 500.0, block: int = 50, *, counts: bool = True,
                seed: int = 0, t0: float = T0, lose: tuple[int, int] | None = None):
    """Blocks as the reader would hand them out; ``lose=(i, n)`` drops n samples at index i."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate_hz)
    seq = np.arange(n, dtype=np.int64)
    keep = np.ones(n, bool)
    if lose:
        keep[lose[0]:lose[0] + lose[1]] = False
    seq = seq[keep]
    dev = seq / rate_hz
    t = t0 + 0.05 + dev
    force = force_profile(dev) + rng.normal(0, 0.02, seq.size)
    raw = np.round(152340 + 39850 * force).astype(np.int32)
    force = (raw - 152340) / 39850.0
    out = []
    for i in range(0, seq.size, block):
        s = slice(i, i + block)
        out.append(SampleBlock(t[s], dev[s], seq[s], raw[s] if counts else None, force[s],
                               np.zeros(raw[s].size, bool), segment=0))
    return out


def connected_event(t0: float = T0) -> LinkEvent:
    return LinkEvent("connected", t0, {"protocol": "nmt", "serial_number": "SIM-0001"})
