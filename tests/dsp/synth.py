"""Synthetic force traces with ground truth, independent of firmware_sim.

A script of phases (rest, ramps, holds with drift, steps, glides, pokes) becomes a
piecewise-linear force; then tremor, brief corrections, noise, zero offset and wander,
time jitter and dropped samples are added. Ground truth holds run from the moment the
ramp reaches the plateau to the moment the release (or the next step) begins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Truth:
    holds: list[dict] = field(default_factory=list)  # start_s, end_s, level_n, drift_pct
    non_holds: list[dict] = field(default_factory=list)


class Script:
    def __init__(self, rng: np.random.Generator | None = None) -> None:
        self.kt = [0.0]
        self.kf = [0.0]
        self.truth = Truth()
        self.rng = rng or np.random.default_rng(0)
        self.bumps: list[tuple[float, float, float]] = []  # centre, width, relative size

    @property
    def t(self) -> float:
        return self.kt[-1]

    @property
    def level(self) -> float:
        return self.kf[-1]

    def _to(self, t: float, f: float) -> Script:
        self.kt.append(t)
        self.kf.append(f)
        return self

    def rest(self, dur: float) -> Script:
        return self._to(self.t + dur, self.level) if self.level == 0 else self.ramp(0.0, 0.5).rest(dur)

    def ramp(self, level: float, dur: float, overshoot: float = 0.0) -> Script:
        if overshoot:
            self._to(self.t + dur, level * (1 + overshoot))
            return self._to(self.t + 0.3, level)
        return self._to(self.t + dur, level)

    def hold(self, dur: float, drift_pct: float = 0.0, corrections: int = 0, tau_s: float = 15.0) -> Script:
        t0, l0 = self.t, self.level
        # exponential approach to the drifted level, scaled so that the level at the end
        # matches drift_pct of the design.md formula (last 2 s vs first 2 s) closely
        n = max(2, int(dur / 0.1))
        tt = np.linspace(0, dur, n + 1)[1:]
        shape = (1 - np.exp(-tt / tau_s)) / (1 - np.exp(-dur / tau_s))
        for ti, si in zip(tt, shape):
            self._to(t0 + ti, l0 * (1 + drift_pct / 100.0 * si))
        for _ in range(corrections):
            c = t0 + self.rng.uniform(3.0, max(3.5, dur - 3.0))
            self.bumps.append((c, self.rng.uniform(0.15, 0.4), self.rng.choice([-1, 1]) * self.rng.uniform(0.05, 0.15)))
        self.truth.holds.append({"start_s": t0, "end_s": t0 + dur, "level_n": l0, "drift_pct": drift_pct})
        return self

    def glide(self, peak: float, dur: float) -> Script:
        """A gliding stroke: force rises and falls smoothly (a half sine plus a wobble)."""
        t0 = self.t
        tt = np.linspace(0, dur, 40)[1:]
        for ti in tt:
            self._to(t0 + ti, peak * np.sin(np.pi * ti / dur) * (1 + 0.1 * np.sin(2 * np.pi * ti / 1.3)))
        self._to(self.t, 0.0)
        self.truth.non_holds.append({"kind": "glide", "start_s": t0, "end_s": self.t})
        return self

    def poke(self, peak: float, dur: float = 0.8) -> Script:
        t0 = self.t
        self._to(t0 + dur * 0.3, peak)._to(t0 + dur * 0.7, peak)._to(t0 + dur, 0.0)
        self.truth.non_holds.append({"kind": "poke", "start_s": t0, "end_s": self.t})
        return self

    def render(
        self,
        rate_hz: float = 1000.0,
        seed: int = 0,
        noise_n: float = 0.2,
        tremor_pct: float = 1.0,
        offset_n: float = 0.0,
        wander_n: float = 0.0,
        jitter: float = 0.0,
        drops: int = 0,
        drop_s: tuple[float, float] = (0.02, 0.4),
    ):
        rng = np.random.default_rng(seed)
        n = int(self.t * rate_hz) + 1
        t = np.arange(n) / rate_hz
        if jitter:
            t = t + rng.uniform(0, jitter / rate_hz, n)
            t = np.sort(t)
            t[1:] = np.maximum(t[1:], t[:-1] + 1e-6)
        true = np.interp(t, self.kt, self.kf)
        for c, w, rel in self.bumps:
            lvl = np.interp(c, self.kt, self.kf)
            true = true + lvl * rel * np.exp(-0.5 * ((t - c) / (w / 4)) ** 2)
        if tremor_pct:
            ph = rng.uniform(0, 2 * np.pi, 3)
            fr = rng.uniform(8, 12, 3)
            trem = sum(np.sin(2 * np.pi * fr[i] * t + ph[i]) for i in range(3)) / 3
            true = true + true * tremor_pct / 100.0 * trem * 1.5
        meas = true + offset_n + wander_n * np.sin(2 * np.pi * t / max(60.0, self.t) + rng.uniform(0, 6))
        meas = meas + rng.normal(0, noise_n, n)
        keep = np.ones(n, dtype=bool)
        for _ in range(drops):
            c = rng.uniform(0, t[-1])
            keep &= ~((t >= c) & (t < c + rng.uniform(*drop_s)))
        return t[keep], meas[keep], true[keep]


def standard_session(rng: np.random.Generator, kind: str = "mixed") -> Script:
    """A realistic session: rest, holds at 10-80 N with drift, steps, glides and pokes."""
    s = Script(rng)
    s.rest(rng.uniform(2, 4))
    if kind in ("steady", "mixed"):
        for _ in range(2):
            lvl = rng.uniform(10, 80)
            s.ramp(lvl, rng.uniform(0.5, 2.0), overshoot=rng.choice([0, 0.05]))
            s.hold(rng.uniform(8, 25), drift_pct=rng.uniform(-3, 3), corrections=int(rng.integers(0, 3)))
            s.rest(rng.uniform(2, 5))
    if kind in ("drifting", "mixed"):
        for _ in range(2):
            lvl = rng.uniform(15, 70)
            s.ramp(lvl, rng.uniform(0.5, 1.5))
            s.hold(rng.uniform(15, 30), drift_pct=rng.choice([-1, 1]) * rng.uniform(14, 30), tau_s=rng.uniform(8, 20))
            s.rest(rng.uniform(2, 5))
    if kind in ("alternating", "mixed"):
        lvl = rng.uniform(20, 40)
        s.ramp(lvl, 1.0)
        for _ in range(3):
            s.hold(rng.uniform(6, 12), drift_pct=rng.uniform(-2, 2))
            lvl = s.level * rng.choice([0.6, 1.5])
            s.ramp(lvl, rng.uniform(0.3, 1.0))
        s.hold(rng.uniform(6, 12))
        s.rest(3)
    if kind in ("gliding", "mixed"):
        for _ in range(3):
            s.glide(rng.uniform(15, 50), rng.uniform(2, 4))
            s.rest(rng.uniform(1, 3))
    if kind in ("pokes", "mixed"):
        for _ in range(3):
            s.poke(rng.uniform(15, 60), rng.uniform(0.4, 1.2))
            s.rest(rng.uniform(1, 3))
    s.rest(2)
    return s
