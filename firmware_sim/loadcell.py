"""Load-cell + 24-bit ADC physics for the simulated handheld sensor.

counts = offset + zero_drift(t) + gain x (F + nonlinearity(F) + hysteresis + creep) + noise,
rounded to integers, saturating at the ADC rails (and at the rail once the force exceeds
``saturation_n``).  Compression is positive force and positive counts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .filters import first_order

COUNTS_MIN = -(1 << 23)
COUNTS_MAX = (1 << 23) - 1


@dataclass(frozen=True)
class TrueCalibration:
    """The simulated sensor's true transfer function (what a perfect calibration finds)."""

    serial: str = "SIM-0001"
    gain_counts_per_n: float = 39850.0
    offset_counts: float = 152340.0
    full_scale_n: float = 200.0
    nominal_counts_per_n: float = 40000.0

    @property
    def gain_n_per_count(self) -> float:
        return 1.0 / self.gain_counts_per_n

    def counts_to_newtons(self, counts):
        return (np.asarray(counts, dtype=np.float64) - self.offset_counts) / self.gain_counts_per_n

    def newtons_to_counts(self, force_n):
        return self.offset_counts + self.gain_counts_per_n * np.asarray(force_n, dtype=np.float64)

    def __getitem__(self, key):  # dict-style access as well
        if key == "gain_n_per_count":
            return self.gain_n_per_count
        return getattr(self, key)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["gain_n_per_count"] = self.gain_n_per_count
        return d


TRUE_CALIBRATION = TrueCalibration()


@dataclass(frozen=True)
class LoadCellParams:
    gain_counts_per_n: float = TRUE_CALIBRATION.gain_counts_per_n
    offset_counts: float = TRUE_CALIBRATION.offset_counts
    full_scale_n: float = TRUE_CALIBRATION.full_scale_n
    noise_n_rms: float = 0.020
    nonlinearity_pct_fs: float = 0.05  # max deviation of the (parabolic) transfer curve
    hysteresis_pct_fs: float = 0.03  # half the loading/unloading difference, at mid range
    hysteresis_width_pct_fs: float = 1.0  # force travel that switches loading <-> unloading
    creep_pct_fs_per_30min: float = 0.03  # at full-scale load held 30 min
    creep_tau_s: float = 1800.0
    zero_drift_n: float = 0.03  # amplitude of the slow (thermal) zero drift
    zero_drift_period_s: float = 1500.0
    saturation_n: float = 204.0  # |force| beyond which the amplifier pins the ADC to a rail

    @classmethod
    def ideal(cls, **overrides) -> "LoadCellParams":
        """A perfect linear cell (no noise, no non-linearity, hysteresis, creep or drift)."""
        base = dict(noise_n_rms=0.0, nonlinearity_pct_fs=0.0, hysteresis_pct_fs=0.0,
                    creep_pct_fs_per_30min=0.0, zero_drift_n=0.0)
        base.update(overrides)
        return cls(**base)


class LoadCell:
    """Stateful load cell: ``measure(time_s, force_n)`` must be called with increasing times."""

    def __init__(self, params: LoadCellParams | None = None, seed: int = 0):
        self.params = params if params is not None else LoadCellParams()
        self._rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x10AD]))
        drift_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xD41F]))
        self._drift_phase = drift_rng.uniform(0, 2 * math.pi, size=2)
        self._last_t: float | None = None
        self._play = 0.0  # hysteresis play-operator state (N)
        self._creep = 0.0  # creep low-pass state (N)

    def reset(self) -> None:
        self._last_t = None
        self._play = 0.0
        self._creep = 0.0

    def zero_drift_n(self, time_s):
        p = self.params
        if p.zero_drift_n == 0.0:
            return np.zeros_like(np.asarray(time_s, dtype=np.float64))
        t = np.asarray(time_s, dtype=np.float64)
        w = 2 * math.pi / p.zero_drift_period_s
        a, b = self._drift_phase
        d = 0.7 * (np.sin(w * t + a) - math.sin(a)) + 0.3 * (np.sin(2.7 * w * t + b) - math.sin(b))
        return p.zero_drift_n * d

    def measure(self, time_s, force_n) -> np.ndarray:
        """Raw signed 24-bit ADC counts (int32) for the true force at the given times."""
        p = self.params
        t = np.atleast_1d(np.asarray(time_s, dtype=np.float64))
        f = np.atleast_1d(np.asarray(force_n, dtype=np.float64))
        if t.shape != f.shape:
            t = np.broadcast_to(t, f.shape).astype(np.float64)
        n = f.size
        if n == 0:
            return np.zeros(0, dtype=np.int32)
        fs = p.full_scale_n
        x = np.clip(np.abs(f) / fs, 0.0, 1.0)
        shape = 4.0 * x * (1.0 - x)  # 0 at zero and full scale, 1 at mid range
        eff = f.copy()
        if p.nonlinearity_pct_fs:
            eff += np.sign(f) * p.nonlinearity_pct_fs / 100.0 * fs * shape
        if p.hysteresis_pct_fs:
            w = p.hysteresis_width_pct_fs / 100.0 * fs
            y = self._play
            lag = np.empty(n)
            for i, fi in enumerate(f.tolist()):
                if fi - y > w:
                    y = fi - w
                elif y - fi > w:
                    y = fi + w
                lag[i] = y
            self._play = y
            # loading (y below f) reads low, unloading reads high
            eff += p.hysteresis_pct_fs / 100.0 * fs * (lag - f) / w * shape
        if p.creep_pct_fs_per_30min:
            k = p.creep_pct_fs_per_30min / 100.0 / (1.0 - math.exp(-1800.0 / p.creep_tau_s))
            prev_t = t[0] if self._last_t is None else self._last_t
            dt = np.diff(t, prepend=prev_t)
            np.maximum(dt, 0.0, out=dt)
            alpha = -np.expm1(-dt / p.creep_tau_s)
            c = self._creep
            creep = np.empty(n)
            if np.allclose(alpha[1:], alpha[1], rtol=1e-6, atol=0) if n > 1 else True:
                # uniform spacing after the first sample: closed-form first-order filter
                c = c + (f[0] - c) * alpha[0]
                creep[0] = c
                if n > 1:
                    a = alpha[1]
                    creep[1:] = first_order(f[1:], a, c)
            else:
                for i in range(n):
                    c = c + (f[i] - c) * alpha[i]
                    creep[i] = c
            self._creep = float(creep[-1])
            eff += k * creep
        self._last_t = float(t[-1])
        counts = p.offset_counts + p.gain_counts_per_n * (eff + self.zero_drift_n(t))
        if p.noise_n_rms:
            counts += self._rng.normal(0.0, p.noise_n_rms * p.gain_counts_per_n, size=n)
        counts = np.rint(counts)
        counts[f > p.saturation_n] = COUNTS_MAX
        counts[f < -p.saturation_n] = COUNTS_MIN
        return np.clip(counts, COUNTS_MIN, COUNTS_MAX).astype(np.int32)


__all__ = ["LoadCell", "LoadCellParams", "TRUE_CALIBRATION", "TrueCalibration", "COUNTS_MIN", "COUNTS_MAX"]
