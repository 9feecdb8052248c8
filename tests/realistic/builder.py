"""A therapist's session as a sequence of movements on the physical time line, with ground truth.

``Session`` appends noise-free force segments (rests, approaches, plateaus, steps, releases,
pumping, gliding strokes, pokes) on the internal 1 kHz grid and keeps the ground truth as it goes:
where each hold settles and where its release (or step) departs, which episodes are planned to
exceed the tolerance, what is not a hold. ``render`` adds the hand's own fluctuation (1/f noise
with signal-dependent SD, tremor, breathing) and checks that the truth is unambiguous.

Definitions (docs/corpus.md, "Ground truth"):
- start of a hold: the first sample after which the noise-free approach stays within
  ``SETTLE_FRAC`` (2 %) of the hold level;
- end of a hold: the first sample of the release (or step) where the noise-free force has
  departed by more than 2 % of the level from where the hold would have continued.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .blocks import (FS, SETTLE_FRAC, band_noise, breathing, design_drift_pct, exp_drift, force_sd, hann_bump,
                     minjerk, moving_average, pink_noise, tremor)


class InvalidSession(Exception):
    """The drawn session would have ambiguous truth; the generator draws again."""


@dataclass
class Rendered:
    t: np.ndarray            # physical time (s), 1 kHz grid
    plan: np.ndarray         # noise-free force (N)
    voluntary: np.ndarray    # plan + 1/f fluctuation + breathing (N), what the client feels below ~4 Hz
    force: np.ndarray        # voluntary + tremor (N): the physical net force on the sensor
    holds: list              # truth holds (physical time)
    over_tolerance: list     # truth episodes (physical time)
    near_misses: list
    other: list              # not-holds and rests: {"kind", "start_s", "end_s"}
    marks: dict              # tare requests etc.
    physiology: dict         # the drawn physiological parameters


@dataclass
class Session:
    """Builds one session. ``a_n``/``b_rel``: SD = a + b F of the hand's force (``force_sd``)."""

    rng: np.random.Generator
    a_n: float = 0.12
    b_rel: float = 0.025
    cv_rest: float = 0.13          # CV of a resting hand (10-20 % over 5 s with breathing)
    breath_depth: float = 0.01     # 0.5-2 % of the contact force
    tremor_rel: float = 0.005      # tremor SD as a fraction of the force
    tolerance_n: float | None = None
    fs: float = FS
    _p: list = field(default_factory=list)
    _a: list = field(default_factory=list)
    n: int = 0
    value: float = 0.0
    _open: dict | None = None
    _cont: object = None
    holds: list = field(default_factory=list)
    other: list = field(default_factory=list)
    ot_windows: list = field(default_factory=list)
    near_windows: list = field(default_factory=list)
    marks: dict = field(default_factory=lambda: {"tare": [], "rest": []})
    hand_level: float = 0.0        # the resting hand's level when the hand rests, else 0

    # ---------------------------------------------------------------- basics
    @property
    def t(self) -> float:
        return self.n / self.fs

    def _samples(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fs)))

    def _append(self, p: np.ndarray, a) -> None:
        p = np.asarray(p, dtype=np.float64)
        self._p.append(p)
        self._a.append(np.broadcast_to(np.asarray(a, dtype=np.float64), p.shape).copy())
        self.n += p.size
        self.value = float(p[-1])

    def _tabs(self, m: int) -> np.ndarray:
        return (self.n + np.arange(m)) / self.fs

    def _continuation(self, tabs: np.ndarray) -> np.ndarray:
        if self._open is not None:
            return self._open["cont"](tabs)
        return np.full(tabs.shape, self.value)

    def _close_open(self, p: np.ndarray, cont: np.ndarray) -> None:
        """The segment ``p`` (starting at self.n) leaves the open plateau: record where it departs."""
        op = self._open
        if op is None:
            return
        ref = abs(float(cont[0]))
        away = np.flatnonzero(np.abs(p - cont) > SETTLE_FRAC * ref)
        end_i = self.n + (int(away[0]) if away.size else p.size)
        if op["is_hold"]:
            self.holds.append({"start_i": op["start_i"], "end_i": end_i, "level_set_N": op["level"],
                               "approach": op["approach"], "planned_drift": op["drift"],
                               "ramp_start_s": op["ramp_start_s"], "release_start_s": self.t,
                               "ends_by": None, "corrections": op["corrections"]})
        else:
            self.other.append({"kind": op["kind"], "start_s": op["ramp_start_s"], "end_s": end_i / self.fs})
        self._open = None

    # ---------------------------------------------------------------- rests
    def lift(self, seconds: float) -> None:
        """The hand is off the sensor: the unloaded cell (force exactly 0)."""
        assert self._open is None and abs(self.value) < 1e-9, "lift() needs the force released to 0"
        t0 = self.t
        self._append(np.zeros(self._samples(seconds)), 0.0)
        self.marks["rest"].append({"kind": "lifted", "start_s": t0, "end_s": self.t})

    def place_hand(self, level: float, ramp_s: float = 0.5) -> None:
        """The hand comes to rest on the sensor (2-4 N)."""
        assert self._open is None
        m = self._samples(ramp_s)
        self._append(self.value + (level - self.value) * minjerk(np.arange(m) / m), self._rest_a(level))
        self.hand_level = level

    def rest_hand(self, seconds: float) -> None:
        """A hand resting on the sensor: ``hand_level`` that wanders (CV 10-20 % over 5 s)."""
        assert self._open is None and self.hand_level > 0
        t0 = self.t
        self._append(np.full(self._samples(seconds), self.hand_level), self._rest_a(self.hand_level))
        self.other.append({"kind": "resting_hand", "start_s": t0, "end_s": self.t})
        self.marks["rest"].append({"kind": "hand", "start_s": t0, "end_s": self.t})

    def lift_hand(self, ramp_s: float = 0.4) -> None:
        assert self._open is None
        m = self._samples(ramp_s)
        self._append(self.value * (1.0 - minjerk(np.arange(m) / m)), self._rest_a(self.hand_level))
        self.value = 0.0
        self.hand_level = 0.0

    def _rest_a(self, level: float) -> float:
        # total SD of a resting hand = cv_rest * level; force_sd adds b * level on top of a
        return max(self.cv_rest * level - self.b_rel * level, 0.0)

    # ---------------------------------------------------------------- holds
    def plateau(self, level: float, seconds: float | None = None, *, end_at: float | None = None,
                approach: str = "minjerk", ramp_s: float = 1.5, drift: tuple[float, float] = (0.0, 15.0),
                corrections: list | None = None, is_hold: bool = True, kind: str = "hold",
                creep: tuple[float, float] = (0.1, 1.0), push_s: float = 0.5,
                overshoot: tuple[float, float, float] = (1.2, 0.3, 0.5)) -> dict:
        """Approach ``level`` (from rest or from an open plateau: a step) and hold it.

        approach: "minjerk" (ramp of ``ramp_s``), "creep" (a min-jerk push of ``push_s`` to
        (1 - c) of the change, then an exponential creep with time constant tau_c; creep=(c, tau_c)),
        "overshoot" (min-jerk to peak = overshoot[0] x level in ramp_s, stay overshoot[1] s, min-jerk
        down in overshoot[2] s). The plateau lasts ``seconds`` from the settled point (or ends at the
        absolute time ``end_at``); drift=(depth, tau) is an exponential drift from the settled point;
        corrections = [(t from settle, duration, relative amplitude)], brief bumps/dips.
        ``is_hold=False`` makes a plateau that is not a hold in truth (pre-load, an excursion).
        """
        c = self.value
        L = float(level)
        if approach == "minjerk":
            def shape(tt, c=c, L=L, d=ramp_s):
                return c + (L - c) * minjerk(tt / d)
            span = ramp_s
        elif approach == "creep":
            cf, tau_c = creep

            def shape(tt, c=c, L=L, cf=cf, tau_c=tau_c, d=push_s):
                tt = np.asarray(tt, dtype=np.float64)
                push = c + (L - c) * (1.0 - cf) * minjerk(tt / d)
                tail = L - (L - c) * cf * np.exp(-np.maximum(tt - d, 0.0) / tau_c)
                return np.where(tt < d, push, tail)
            span = push_s + tau_c * max(np.log(max(abs(cf * (L - c)), 1e-9) / (SETTLE_FRAC * max(L, 1e-9))), 0.0) + 0.05
        elif approach == "overshoot":
            peak_rel, top_s, down_s = overshoot
            P = peak_rel * L

            def shape(tt, c=c, L=L, P=P, d=ramp_s, top=top_s, down=down_s):
                tt = np.asarray(tt, dtype=np.float64)
                up = c + (P - c) * minjerk(tt / d)
                dn = P + (L - P) * minjerk((tt - d - top) / down)
                return np.where(tt < d + top, up, dn)
            span = ramp_s + top_s + down_s
        else:
            raise ValueError(approach)
        stepping = self._open is not None
        span_m = self._samples(span) + 1
        tabs = self._tabs(span_m)
        cont = self._continuation(tabs)
        base = shape(tabs - self.t)
        # blend from where the previous state would have gone (a drifting plateau, or rest)
        q = (base - c) / (L - c) if abs(L - c) > 1e-12 else np.ones_like(base)
        p_app = cont * (1.0 - q) + L * q
        outside = np.flatnonzero(np.abs(p_app - L) > SETTLE_FRAC * L)
        settle_m = int(outside[-1]) + 1 if outside.size else 0
        ramp_start_s = self.t
        t_settle = (self.n + settle_m) / self.fs
        if end_at is not None:
            seconds = end_at - t_settle
        if seconds is None or seconds <= 0:
            raise InvalidSession("plateau has no length")
        total_m = settle_m + self._samples(seconds)
        tabs = self._tabs(total_m)
        cont = self._continuation(tabs)
        self._close_open(p_app, cont[:span_m] if span_m <= total_m else self._continuation(self._tabs(span_m)))
        depth, tau = drift
        drift_f = exp_drift(tabs - t_settle, depth, tau)
        ext = shape(tabs - self.t)
        q = (ext - c) / (L - c) if abs(L - c) > 1e-12 else np.ones_like(ext)
        p = (cont * (1.0 - q) + L * q) * drift_f
        corr_list = []
        for (t_rel, dur, amp) in corrections or []:
            i0 = settle_m + int(round(t_rel * self.fs))
            mm = self._samples(dur)
            if i0 < settle_m or i0 + mm > total_m:
                continue
            p[i0:i0 + mm] *= 1.0 + amp * hann_bump(mm)
            corr_list.append({"time_s": round((self.n + i0) / self.fs, 3), "duration_s": dur, "amplitude_pct": 100 * amp})
        start_i = self.n + settle_m
        self._append(p, self.a_n)

        def cont_fn(tabs2, shape=shape, c=c, L=L, t0=ramp_start_s, ts=t_settle, depth=depth, tau=tau):
            e = shape(tabs2 - t0)
            qq = (e - c) / (L - c) if abs(L - c) > 1e-12 else np.ones_like(e)
            # after the approach span the previous state no longer matters
            return (c * (1.0 - qq) + L * qq) * exp_drift(tabs2 - ts, depth, tau)

        self._open = {"start_i": start_i, "level": L, "cont": cont_fn, "is_hold": is_hold, "kind": kind,
                      "approach": "step" if stepping else approach,
                      "drift": {"depth": depth, "tau_s": tau}, "ramp_start_s": ramp_start_s,
                      "corrections": corr_list}
        return {"ramp_start_s": ramp_start_s, "settle_s": t_settle}

    def release(self, to: float = 0.0, ramp_s: float = 0.8) -> None:
        """Release the open plateau to ``to`` (0: hand lifted; a resting hand's level) along a
        minimum-jerk ramp of ``ramp_s``."""
        assert self._open is not None
        m = self._samples(ramp_s)
        tabs = self._tabs(m + 1)
        cont = self._continuation(tabs)
        q = minjerk(np.arange(m + 1) / m)
        p = cont * (1.0 - q) + to * q
        op = self._open
        self._close_open(p, cont)
        if op["is_hold"]:
            self.holds[-1]["ends_by"] = "release"
        self._append(p[:-1] if m > 1 else p, self.a_n)
        self.value = float(to)
        self.hand_level = float(to) if to > 0 else 0.0

    def mark_step(self) -> None:
        """The last closed hold was ended by a step (called by the scripts after a step)."""
        if self.holds and self.holds[-1]["ends_by"] is None:
            self.holds[-1]["ends_by"] = "step"

    # ---------------------------------------------------------------- not holds
    def poke(self, level: float, up_s: float, top_s: float, down_s: float, over_tolerance: bool = False,
             near_miss: bool = False) -> None:
        """A brief push (< 2 s in all): min-jerk up, a short top, min-jerk down, from and to rest."""
        assert self._open is None
        r = self.value
        mu, mt, md = self._samples(up_s), self._samples(top_s), self._samples(down_s)
        p = np.concatenate([r + (level - r) * minjerk(np.arange(mu) / mu), np.full(mt, level),
                            level + (r - level) * minjerk(np.arange(md) / md)])
        t0 = self.t
        self._append(p, self.a_n)
        self.value = r
        self.other.append({"kind": "poke", "start_s": t0, "end_s": self.t, "peak_N": level})
        if over_tolerance:
            self.ot_windows.append((t0, self.t))
        if near_miss:
            self.near_windows.append({"start_s": t0, "end_s": self.t, "peak_N": level})

    def pump(self, mean: float, seconds: float, freq_hz: float, amp_rel: float) -> None:
        """Pumping: rhythmic pressure at 0.5-1 Hz, +-25-60 % around ``mean`` (field-notes), entered
        and left along min-jerk ramps. Cycle-to-cycle amplitude and rate vary by ~10 %."""
        assert self._open is None
        r = self.value
        m_in = self._samples(0.6)
        m = self._samples(seconds)
        tt = np.arange(m) / self.fs
        rate = freq_hz * (1.0 + 0.08 * pink_noise(m, self.fs, self.rng, f_lo=0.05, f_hi=0.5))
        phase = 2 * np.pi * np.cumsum(rate) / self.fs
        amp = amp_rel * (1.0 + 0.1 * pink_noise(m, self.fs, self.rng, f_lo=0.05, f_hi=0.5))
        env = minjerk(tt / min(1.0 / freq_hz, seconds / 3))
        body = mean * (1.0 + env * amp * np.sin(phase))
        m_out = self._samples(0.6)
        last = float(body[-1])
        p = np.concatenate([r + (mean - r) * minjerk(np.arange(m_in) / m_in), body,
                            last + (r - last) * minjerk(np.arange(m_out) / m_out)])
        t0 = self.t
        self._append(np.maximum(p, 0.0), self.a_n)
        self.value = r
        self.other.append({"kind": "pumping", "start_s": t0, "end_s": self.t, "freq_hz": freq_hz, "amp_pct": 100 * amp_rel})

    def glide(self, level: float, strokes: int, continuous: bool) -> None:
        """Gliding strokes. Separate strokes: each 1.5-4 s, force rising and falling along the
        stroke (Tukey window) with +-25 % irregular modulation at 0.5-2 Hz from the tissue under
        the thumb, 0.3-1 s back at rest between strokes. Continuous: back-and-forth strokes without
        lifting, the force modulated +-30-50 % at 0.4-1.2 Hz. Either way the force is never
        quasi-static for more than ~2 s."""
        assert self._open is None
        r = self.value
        t0 = self.t
        if continuous:
            seconds = float(self.rng.uniform(6.0, 15.0))
            m = self._samples(seconds)
            f_c = float(self.rng.uniform(0.4, 1.2))
            mod = band_noise(m, self.fs, self.rng, f_c, bw=0.6)
            depth = float(self.rng.uniform(0.3, 0.5))
            env = np.minimum(1.0, np.minimum(np.arange(m), np.arange(m)[::-1]) / (0.8 * self.fs))
            body = r + (level - r) * minjerk(env) * (1.0 + depth * np.clip(mod, -2.0, 2.0) / 1.4)
            self._append(np.maximum(body, 0.0), self.a_n)
        else:
            for k in range(strokes):
                d = float(self.rng.uniform(1.5, 4.0))
                m = self._samples(d)
                x = np.arange(m) / m
                alpha = 0.5
                win = np.ones(m)
                edge = x < alpha / 2
                win[edge] = 0.5 * (1 - np.cos(2 * np.pi * x[edge] / alpha))
                edge = x > 1 - alpha / 2
                win[edge] = 0.5 * (1 - np.cos(2 * np.pi * (1 - x[edge]) / alpha))
                mod = pink_noise(m, self.fs, self.rng, f_lo=0.5, f_hi=2.0)
                lv = level * float(self.rng.uniform(0.8, 1.2))
                self._append(np.maximum(r + (lv - r) * win * (1.0 + 0.25 * mod), 0.0), self.a_n)
                self._append(np.full(self._samples(float(self.rng.uniform(0.3, 1.0))), r), 0.0 if r == 0 else self._rest_a(r))
        self.value = r
        self.other.append({"kind": "glide_continuous" if continuous else "glide", "start_s": t0, "end_s": self.t})

    # ---------------------------------------------------------------- render
    def render(self, check_drift: bool = True) -> Rendered:
        assert self._open is None, "close the last plateau (release) before rendering"
        plan = np.concatenate(self._p)
        a = np.concatenate(self._a)
        n = plan.size
        fs = self.fs
        t = np.arange(n) / fs
        rng = self.rng
        contact = np.clip(plan / 1.0, 0.0, 1.0)  # the noise floor fades in over the first newton
        sd = moving_average(force_sd(plan, 0.0, self.b_rel) + a * contact, int(0.3 * fs))
        pink = pink_noise(n, fs, rng)
        trem, f_trem = tremor(n, fs, rng)
        br, f_br = breathing(n, fs, rng)
        voluntary = np.maximum(plan + sd * pink + self.breath_depth * br * plan, 0.0)
        force = np.maximum(voluntary + trem * (self.tremor_rel * plan + 0.005 * contact), 0.0)

        holds = []
        for h in self.holds:
            s, e = h["start_i"], h["end_i"]
            if e <= s:
                raise InvalidSession("empty hold")
            dur = (e - s) / fs
            if dur < 6.0:
                raise InvalidSession(f"hold of {dur:.1f} s is too close to min_hold_s")
            drift = design_drift_pct(plan[s:e], fs)
            observed = design_drift_pct(voluntary[s:e], fs)
            drifting = abs(drift) >= 10.0
            if check_drift:
                if drifting and (abs(drift) < 14.0 or abs(observed) < 12.0):
                    raise InvalidSession("drift too close to the limit")
                if not drifting and (abs(drift) > 5.0 or abs(observed) > 7.5):
                    raise InvalidSession("steady hold looks like drift")
            holds.append({"start_s": s / fs, "end_s": e / fs, "drifting": bool(drifting),
                          "drift_pct": round(drift, 2), "drift_pct_observed": round(observed, 2),
                          "level_N": round(float(plan[s:e].mean()), 3),
                          "approach": h["approach"], "ends_by": h["ends_by"] or "step",
                          "ramp_start_s": h["ramp_start_s"], "release_start_s": h["release_start_s"],
                          "corrections": h["corrections"],
                          "cv_pct_observed": round(float(100 * voluntary[s:e].std() / voluntary[s:e].mean()), 2)})
        for a_, b_ in zip(holds, holds[1:]):
            if b_["start_s"] < a_["end_s"]:
                raise InvalidSession("holds overlap")

        episodes = self._tolerance_truth(t, voluntary)
        physiology = {"sd_floor_N": self.a_n, "sd_rel": self.b_rel, "cv_rest": self.cv_rest,
                      "breath_depth": self.breath_depth, "breath_hz": f_br, "tremor_hz": f_trem,
                      "tremor_rel": self.tremor_rel}
        return Rendered(t=t, plan=plan, voluntary=voluntary, force=force, holds=holds, over_tolerance=episodes,
                        near_misses=list(self.near_windows), other=list(self.other), marks=self.marks,
                        physiology=physiology)

    def _tolerance_truth(self, t: np.ndarray, vol: np.ndarray) -> list:
        """Episodes where the voluntary force (no tremor, no sensor noise) exceeds the tolerance.

        Unambiguous by construction, or the session is drawn again: every planned episode is one
        stretch above the tolerance (dips below it shorter than 0.3 s are merged) lasting >= 0.3 s;
        everywhere else the voluntary force stays below 95 % of the tolerance.
        """
        tol = self.tolerance_n
        if tol is None:
            if self.ot_windows:
                raise InvalidSession("episodes planned without a tolerance")
            return []
        fs = self.fs
        planned = np.zeros(t.size, dtype=bool)
        for (a, b) in self.ot_windows:
            planned[max(0, int((a - 0.5) * fs)):int((b + 0.5) * fs)] = True
        if np.any(vol[~planned] > 0.95 * tol):
            raise InvalidSession("force near the tolerance outside the planned episodes")
        above = vol > tol
        episodes = []
        for (a, b) in self.ot_windows:
            i0, i1 = max(0, int((a - 0.5) * fs)), int((b + 0.5) * fs)
            idx = np.flatnonzero(above[i0:i1])
            if idx.size == 0:
                raise InvalidSession("planned episode does not exceed the tolerance")
            gaps = np.diff(idx)
            if np.any(gaps > 0.3 * fs):
                raise InvalidSession("planned episode splits in two")
            s, e = (i0 + idx[0]) / fs, (i0 + idx[-1] + 1) / fs
            if e - s < 0.3:
                raise InvalidSession("episode shorter than 0.3 s")
            episodes.append({"start_s": s, "end_s": e, "peak_N": round(float(vol[i0:i1].max()), 3)})
        episodes.sort(key=lambda e: e["start_s"])
        for x, y in zip(episodes, episodes[1:]):
            if y["start_s"] - x["end_s"] < 1.0:
                raise InvalidSession("episodes too close together")
        return episodes
