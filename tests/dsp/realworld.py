"""Small traces with the properties of real signals our simulator did not have (issue 9).

Hand force: minimum-jerk ramps (Flash & Hogan 1985), 1/f fluctuation proportional to the force
(Harris & Wolpert 1998; CV ~3 %), breathing at 0.25 Hz; a resting hand: 2-4 N wandering with a
CV of 10-20 %; the sensor: untared offset, thermal zero drift, tare steps, electronic noise;
instruments: gauge averaging and quantisation, host-clock stamps behind a 16 ms USB latency
timer. Used by tests/dsp/test_real_world.py; the benchmark corpus lives in tests/realistic.
"""

from __future__ import annotations

import numpy as np


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-SD 1/f noise (spectral shaping of white noise)."""
    spec = np.fft.rfft(rng.normal(size=n))
    freq = np.fft.rfftfreq(n)
    freq[0] = freq[1]
    x = np.fft.irfft(spec / np.sqrt(freq), n)
    return (x - x.mean()) / x.std()


def min_jerk(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return 10 * u**3 - 15 * u**4 + 6 * u**5


class Trace:
    """A script of segments on a fine time grid (1 kHz); ``truth`` holds the holds."""

    def __init__(self, seed: int = 0, rate_hz: float = 1000.0) -> None:
        self.rng = np.random.default_rng(seed)
        self.rate = rate_hz
        self.parts: list[np.ndarray] = []  # intended force of the hand, N
        self.kinds: list[np.ndarray] = []  # 0 nothing on the sensor, 1 resting hand, 2 pressing
        self.holds: list[dict] = []
        self.level = 0.0

    @property
    def t(self) -> float:
        return sum(p.size for p in self.parts) / self.rate

    def _add(self, f: np.ndarray, kind: int) -> Trace:
        self.parts.append(f)
        self.kinds.append(np.full(f.size, kind, dtype=np.int8))
        self.level = float(f[-1]) if f.size else self.level
        return self

    def _n(self, dur: float) -> int:
        return max(1, int(round(dur * self.rate)))

    def rest(self, dur: float) -> Trace:
        """Nothing on the sensor (the hand is lifted)."""
        if self.level:
            self.ramp(0.0, 0.4, kind=0)
        return self._add(np.zeros(self._n(dur)), 0)

    def resting_hand(self, dur: float, level: float = 3.0, cv: float = 0.15) -> Trace:
        """A hand resting on the sensor: ``level`` N wandering (breathing + 1/f), CV ``cv``."""
        if abs(self.level - level) > 0.2:
            self.ramp(level, 0.6, kind=1)
        n = self._n(dur)
        tt = np.arange(n) / self.rate
        breath = np.sin(2 * np.pi * 0.25 * tt + self.rng.uniform(0, 6))
        wander = 0.6 * breath / breath.std() + 0.8 * pink(n, self.rng)
        f = level * (1 + cv * (wander - wander.mean()) / wander.std())
        return self._add(np.maximum(f, 0.3), 1)

    def ramp(self, to: float, dur: float, kind: int = 2) -> Trace:
        n = self._n(dur)
        u = np.arange(1, n + 1) / n
        return self._add(self.level + (to - self.level) * min_jerk(u), kind)

    def hold(self, dur: float, level: float | None = None, drift_pct: float = 0.0, tau_s: float = 12.0,
             cv: float = 0.03, approach_s: float = 0.8, creep: float = 0.0) -> Trace:
        """Approach ``level`` (min-jerk; ``creep``: the last fraction of the way as an
        exponential creep, tau 0.8 s), hold it for ``dur`` s with 1/f fluctuation and breathing,
        drifting exponentially to ``drift_pct`` % by the end. Truth: from the settled point."""
        if level is not None:
            if creep:
                self.ramp(self.level + (level - self.level) * (1 - creep), approach_s)
                n = self._n(3.0)
                tt = np.arange(1, n + 1) / self.rate
                start = self.level
                self._add(level + (start - level) * np.exp(-tt / 0.8), 2)
            else:
                self.ramp(level, approach_s)
        t0 = self.t
        l0 = self.level
        n = self._n(dur)
        tt = np.arange(n) / self.rate
        shape = (1 - np.exp(-tt / tau_s)) / (1 - np.exp(-dur / tau_s))
        base = l0 * (1 + drift_pct / 100.0 * shape)
        fluct = cv * pink(n, self.rng) + 0.01 * np.sin(2 * np.pi * 0.25 * tt + self.rng.uniform(0, 6))
        self._add(base * (1 + fluct), 2)
        self.level = float(base[-1])
        self.holds.append({"start_s": t0, "end_s": t0 + dur, "level_N": l0, "drift_pct": drift_pct})
        return self

    def pump(self, dur: float, level: float, hz: float = 0.8, depth: float = 0.4) -> Trace:
        self.ramp(level, 0.5)
        n = self._n(dur)
        tt = np.arange(n) / self.rate
        return self._add(level * (1 + depth * np.sin(2 * np.pi * hz * tt)), 2)

    def force(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = np.concatenate(self.parts)
        return np.arange(f.size) / self.rate, f, np.concatenate(self.kinds)

    def measure(self, offset_n: float = 0.0, noise_n: float = 0.02, drift_n: float = 0.0,
                tare_at_s: float | None = None):
        """What a load cell reads: offset + slow thermal drift + electronic noise; a tare at
        ``tare_at_s`` subtracts the reading there (hand or no hand)."""
        t, f, _ = self.force()
        z = offset_n + drift_n * (1 - np.exp(-t / 120.0)) / (1 - np.exp(-t[-1] / 120.0))
        r = f + z + self.rng.normal(0, noise_n, t.size)
        if tare_at_s is not None:
            i = int(tare_at_s * self.rate)
            r[i:] -= float(np.mean(r[i - 20 : i]))
        return t, r


def gauge(t, r, rate_hz: float, step: float):
    """A commercial gauge: averages over its output period, prints at ``step`` resolution."""
    period = 1.0 / rate_hz
    edges = np.arange(t[0], t[-1], period)
    idx = np.searchsorted(t, edges)
    means = np.add.reduceat(r, idx[:-1]) / np.diff(idx)
    return edges[1:], np.round(means / step) * step


def host_stamps(t, tick_s: float = 0.0156, latency_s: float = 0.016, rng=None):
    """Lines stamped when their USB burst arrives (every ``latency_s``), by a clock that
    ticks every ``tick_s``: several readings share a stamp."""
    arrive = (np.floor(t / latency_s) + 1) * latency_s
    return np.floor(arrive / tick_s) * tick_s
