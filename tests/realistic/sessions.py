"""Session generators: one per condition of the corpus.

Every generator takes a seed and returns ``(time_s, force, unit, truth)``: the samples as a
logger would write them (time in the file's own clock, force in ``unit``) and the ground truth
in the same clock. A generator is deterministic in its seed. When a draw would give ambiguous
truth (a drift near the 10 % limit, noise that grazes the tolerance, ...) it draws again from
the next sub-seed (``truth["attempt"]`` says which); see docs/corpus.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .blocks import (FS, UNIT_SCALE, design_drift_pct, exp_drift, gauge, host_stamps, hx711,
                     own_sensor, thermal_zero, wandering_zero)
from .builder import InvalidSession, Session

MAX_ATTEMPTS = 200
#: The sensor's full scale is 200 N (design.md); nothing planned goes above this.
FULL_SCALE_PEAK_N = 190.0


# ============================================================================================
# The therapist: what happens on the sensor
# ============================================================================================

@dataclass(frozen=True)
class Script:
    """What a therapist does in a session; ranges are uniform draws unless noted."""

    duration_s: tuple = (60.0, 210.0)       # target; the session ends after the last hold, <= 240 s
    levels_n: tuple = (15.0, 60.0)          # hold levels, drawn log-uniform
    plateau_s: tuple = (8.0, 30.0)          # steady holds
    drift_plateau_s: tuple = (15.0, 40.0)   # drifting holds (long enough to drift >= 14 %)
    p_drift: float = 0.35                   # share of holds without feedback that drift
    p_drift_up: float = 0.15                # of the drifting ones, drifting up (leaning in)
    approach: tuple = (("minjerk", 0.85), ("creep", 0.15))
    ramp_s: tuple = (0.8, 2.5)              # approach duration
    release_s: tuple = (0.4, 1.5)
    creep: tuple = ((0.05, 0.15), (0.4, 1.5), (0.3, 0.8))   # (fraction, tau_c, push_s)
    p_step: float = 0.15                    # after a plateau, step 25-40 % to a new level
    step_s: tuple = (0.4, 1.5)
    corrections_per_hold: float = 0.3       # Poisson mean of brief corrections
    rest: tuple = (("lift", 1.0),)          # rest between holds: lifted hand / resting hand
    lift_s: tuple = (3.0, 10.0)
    hand_s: tuple = (5.0, 20.0)
    hand_n: tuple = (2.0, 4.0)
    start_with_hand: float = 0.0
    nonhold: tuple = ()                     # (kind, probability per gap): pump, glide, pokes
    tolerance: tuple = (("none", 0.2), ("far", 0.5), ("episodes", 0.3))
    p_ot_event: float = 0.25                # per hold when tolerance = episodes
    p_near_miss: float = 0.15
    heavy: bool = False
    breath_depth: tuple = (0.005, 0.02)
    sd_floor_n: tuple = (0.08, 0.2)
    sd_rel: tuple = (0.015, 0.035)
    cv_rest: tuple = (0.10, 0.16)
    tare: str = "none"                      # "none", "lifted", "hand", "either"
    min_episodes: int = 0                   # draw again with fewer planned over-tolerance episodes


def _choice(rng, pairs):
    names = [p[0] for p in pairs]
    w = np.array([p[1] for p in pairs], dtype=float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _loguniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _drift_params(rng, drifting: bool, up: bool, plateau_range):
    """(depth, tau, plateau_s) such that the design.md drift of the noise-free hold is
    >= 16 % (drifting) or <= 4 % (steady) in magnitude."""
    for _ in range(200):
        tau = float(rng.uniform(10.0, 20.0))
        T = float(rng.uniform(*plateau_range))
        if drifting:
            depth = float(rng.uniform(0.2, 0.35))
            if up:
                depth = -float(rng.uniform(0.2, 0.3))
        else:
            depth = float(rng.uniform(-0.01, 0.04))
        tt = np.arange(0.0, T, 0.01)
        d = abs(design_drift_pct(exp_drift(tt, depth, tau), 100.0))
        if (drifting and d >= 16.0) or (not drifting and d <= 4.0):
            return depth, tau, T
    raise InvalidSession("no drift parameters")


def _corrections(rng, mean: float, plateau_s: float) -> list:
    out = []
    for _ in range(int(rng.poisson(mean))):
        dur = float(rng.uniform(0.15, 0.45))
        hi = plateau_s - 2.5 - dur
        if hi <= 2.5:
            continue
        t_rel = float(rng.uniform(2.5, hi))
        if any(abs(t_rel - o[0]) < 1.5 for o in out):
            continue
        amp = float(rng.uniform(0.05, 0.18)) * float(rng.choice([-1.0, 1.0]))
        out.append((t_rel, dur, amp))
    return out


class Therapist:
    """Runs a ``Script`` on a ``Session``."""

    def __init__(self, rng: np.random.Generator, script: Script):
        self.rng = rng
        self.sc = script
        sc = script
        self.s = Session(rng=rng, a_n=float(rng.uniform(*sc.sd_floor_n)), b_rel=float(rng.uniform(*sc.sd_rel)),
                         cv_rest=float(rng.uniform(*sc.cv_rest)), breath_depth=float(rng.uniform(*sc.breath_depth)),
                         tremor_rel=float(rng.uniform(0.003, 0.008)))
        self.tol_mode = _choice(rng, sc.tolerance)
        lo, hi = sc.levels_n
        self.lo, self.hi = lo, hi
        if self.tol_mode == "episodes":
            tol = float(rng.uniform(0.95 * hi, 1.28 * hi))
            self.s.tolerance_n = tol
            self.hold_lo, self.hold_hi = max(lo, 0.4 * tol), min(hi, 0.78 * tol)
            if self.hold_lo >= self.hold_hi:
                self.hold_lo = self.hold_hi * 0.8
        else:
            self.hold_lo, self.hold_hi = lo, hi
        self.rest_mode = "lift"
        self.tare_done = False

    # -------------------------------------------------------------- pieces
    def level(self) -> float:
        return _loguniform(self.rng, self.hold_lo, self.hold_hi)

    def _approach_kwargs(self, level: float) -> dict:
        rng, sc = self.rng, self.sc
        kind = _choice(rng, sc.approach)
        kw = {"approach": kind, "ramp_s": float(rng.uniform(*sc.ramp_s))}
        if kind == "creep":
            cf = float(rng.uniform(*sc.creep[0]))
            kw["creep"] = (cf, float(rng.uniform(*sc.creep[1])))
            kw["push_s"] = float(rng.uniform(*sc.creep[2]))
        return kw

    def _plateau_kwargs(self, drifting=None) -> dict:
        rng, sc = self.rng, self.sc
        if drifting is None:
            drifting = rng.random() < sc.p_drift
        up = drifting and rng.random() < sc.p_drift_up
        depth, tau, T = _drift_params(rng, drifting, up, sc.drift_plateau_s if drifting else sc.plateau_s)
        return {"seconds": T, "drift": (depth, tau), "corrections": _corrections(rng, sc.corrections_per_hold, T)}

    def rest_gap(self) -> None:
        """Release is done; rest at the current rest state for a while."""
        rng, sc, s = self.rng, self.sc, self.s
        if self.rest_mode == "hand":
            s.rest_hand(float(rng.uniform(*sc.hand_s)))
        else:
            s.lift(float(rng.uniform(*sc.lift_s)))

    def release(self) -> None:
        rng, sc, s = self.rng, self.sc, self.s
        self.rest_mode = _choice(rng, sc.rest)
        to = float(rng.uniform(*sc.hand_n)) if self.rest_mode == "hand" else 0.0
        s.release(to=to, ramp_s=float(rng.uniform(*sc.release_s)))

    def to_lifted(self) -> None:
        if self.s.hand_level > 0:
            self.s.lift_hand(float(self.rng.uniform(0.3, 0.6)))
        self.rest_mode = "lift"

    def hold_chain(self) -> None:
        """A hold, maybe steps to new levels without release, maybe an over-tolerance event; released."""
        rng, sc, s = self.rng, self.sc, self.s
        tol = s.tolerance_n if self.tol_mode == "episodes" else None
        L = self.level()
        event = "none"
        if tol is not None:
            r = rng.random()
            if r < sc.p_ot_event:
                event = _choice(rng, (("overshoot", 1.0), ("excursion", 1.0)))
            elif r < sc.p_ot_event + sc.p_near_miss:
                event = "near_overshoot"
        kw = self._approach_kwargs(L)
        if event in ("overshoot", "near_overshoot"):
            if event == "overshoot":
                peak = min(tol * float(rng.uniform(1.08, 1.25)), FULL_SCALE_PEAK_N)
            else:
                L = min(L, 0.7 * tol)
                peak = tol * float(rng.uniform(0.80, 0.88))
            kw = {"approach": "overshoot", "ramp_s": float(rng.uniform(0.4, 1.2)),
                  "overshoot": (peak / L, float(rng.uniform(0.05, 0.9)), float(rng.uniform(0.3, 0.7)))}
        info = s.plateau(L, **kw, **self._plateau_kwargs())
        if event == "overshoot":
            s.ot_windows.append((info["ramp_start_s"], info["settle_s"]))
        elif event == "near_overshoot":
            s.near_windows.append({"start_s": info["ramp_start_s"], "end_s": info["settle_s"], "peak_N": kw["overshoot"][0] * L})
        if event == "excursion":
            peak = min(tol * float(rng.uniform(1.08, 1.25)), FULL_SCALE_PEAK_N)
            ex = s.plateau(peak, float(rng.uniform(0.3, 3.5)), ramp_s=float(rng.uniform(0.3, 0.8)), is_hold=False,
                           kind="excursion")
            s.mark_step()
            back = s.plateau(L * float(rng.uniform(0.95, 1.05)), ramp_s=float(rng.uniform(0.3, 0.8)),
                             **self._plateau_kwargs())
            s.ot_windows.append((ex["ramp_start_s"], back["settle_s"]))
        steps = 0
        while steps < 2 and rng.random() < sc.p_step:
            cur = s.value
            sign = float(rng.choice([-1.0, 1.0]))
            frac = float(rng.uniform(0.25, 0.40))
            new = None
            for sg in (sign, -sign):
                cand = cur * (1.0 + sg * frac)
                top = min(self.hi * 1.3, 0.78 * tol) if tol is not None else self.hi * 1.3
                if max(3.2, self.lo * 0.6) <= cand <= top:
                    new = cand
                    break
            if new is None:
                break
            s.plateau(new, ramp_s=float(rng.uniform(*sc.step_s)), **self._plateau_kwargs())
            s.mark_step()
            steps += 1
        self.release()

    def nonhold_bout(self, kind: str) -> None:
        rng, s = self.rng, self.s
        cap = 0.55 * s.tolerance_n if self.tol_mode == "episodes" else None
        lvl = _loguniform(rng, max(8.0, self.lo), max(12.0, self.hi))
        if cap is not None:
            lvl = min(lvl, cap)
        if kind == "pump":
            s.pump(lvl, float(rng.uniform(5.0, 20.0)), float(rng.uniform(0.5, 1.0)), float(rng.uniform(0.25, 0.6)))
        elif kind == "glide":
            s.glide(lvl, int(rng.integers(3, 7)), continuous=bool(rng.random() < 0.3))
        elif kind == "pokes":
            for _ in range(int(rng.integers(1, 4))):
                pk = _loguniform(rng, 8.0, max(12.0, 1.0 * self.hi))
                if cap is not None:
                    pk = min(pk, 0.8 * s.tolerance_n)
                up, down = float(rng.uniform(0.15, 0.4)), float(rng.uniform(0.15, 0.4))
                s.poke(pk, up, float(rng.uniform(0.0, min(0.8, 1.8 - up - down))), down)
                s.lift(float(rng.uniform(0.8, 3.0))) if s.hand_level == 0 else s.rest_hand(float(rng.uniform(1.0, 3.0)))
        s.lift(float(rng.uniform(1.0, 3.0))) if s.hand_level == 0 else s.rest_hand(float(rng.uniform(1.5, 4.0)))

    def ot_poke(self, near: bool) -> None:
        rng, s = self.rng, self.s
        tol = s.tolerance_n
        pk = tol * (float(rng.uniform(0.80, 0.88)) if near else float(rng.uniform(1.1, 1.4)))
        pk = min(pk, FULL_SCALE_PEAK_N)
        up, down = float(rng.uniform(0.15, 0.4)), float(rng.uniform(0.15, 0.4))
        top = float(rng.uniform(0.1, min(0.9, 1.8 - up - down)))
        s.poke(pk, up, top, down, over_tolerance=not near, near_miss=near)
        s.lift(float(rng.uniform(1.0, 3.0))) if s.hand_level == 0 else s.rest_hand(float(rng.uniform(1.5, 4.0)))

    def tare_gap(self) -> None:
        """A rest during which the therapist tares: lifted (the cell unloaded) or with the hand
        resting on it. After a tare with the hand resting, the hand lifts for >= 3 s before the
        next hold, so the unloaded cell is seen again (docs/corpus.md)."""
        rng, sc, s = self.rng, self.sc, self.s
        with_hand = sc.tare == "hand" or (sc.tare == "either" and rng.random() < 0.5)
        if with_hand:
            if s.hand_level == 0:
                s.place_hand(float(rng.uniform(*sc.hand_n)), float(rng.uniform(0.3, 0.7)))
            t0 = s.t
            s.rest_hand(float(rng.uniform(4.0, 10.0)))
            s.marks["tare"].append({"time_s": t0 + float(rng.uniform(1.5, s.t - t0 - 1.0)), "hand_resting": True})
            s.lift_hand(float(rng.uniform(0.3, 0.6)))
            s.lift(float(rng.uniform(3.0, 6.0)))
        else:
            self.to_lifted()
            t0 = s.t
            s.lift(float(rng.uniform(4.0, 10.0)))
            s.marks["tare"].append({"time_s": t0 + float(rng.uniform(1.5, s.t - t0 - 1.0)), "hand_resting": False})
        self.rest_mode = "lift"
        self.tare_done = True

    # -------------------------------------------------------------- the session
    def run(self) -> Session:
        rng, sc, s = self.rng, self.sc, self.s
        target = float(rng.uniform(*sc.duration_s))
        s.lift(float(rng.uniform(2.0, 6.0)))
        if rng.random() < sc.start_with_hand:
            s.place_hand(float(rng.uniform(*sc.hand_n)), float(rng.uniform(0.3, 0.7)))
            s.rest_hand(float(rng.uniform(3.0, 8.0)))
            self.rest_mode = "hand"
        n_holds = 0
        tare_after = int(rng.integers(1, 3)) if sc.tare != "none" else -1
        while s.t < max(target - 30.0, 50.0) or n_holds == 0:
            for kind, p in sc.nonhold:
                if rng.random() < p:
                    self.nonhold_bout(kind)
            if self.tol_mode == "episodes":
                r = rng.random()
                if r < sc.p_ot_event * 0.6:
                    self.ot_poke(near=False)
                elif r < (sc.p_ot_event + sc.p_near_miss) * 0.6:
                    self.ot_poke(near=True)
            self.hold_chain()
            n_holds += 1
            if n_holds == tare_after:
                self.tare_gap()
            else:
                self.rest_gap()
        self.to_lifted()
        s.lift(float(rng.uniform(2.0, 5.0)))
        if len(s.ot_windows) < sc.min_episodes:
            raise InvalidSession("too few over-tolerance episodes for this condition")
        if not 60.0 <= s.t <= 240.0:
            raise InvalidSession(f"session of {s.t:.0f} s (sessions last 1-4 min)")
        if self.tol_mode == "far":
            s.tolerance_n = float(np.concatenate(s._p).max()) * float(rng.uniform(1.25, 1.5))
        return s


# ============================================================================================
# The sensor side: zero, instruments, loggers
# ============================================================================================

@dataclass(frozen=True)
class Zero:
    offset_n: tuple = (-0.3, 0.3)      # untared zero balance (a tared sensor: a few tenths)
    thermal: bool = True               # 0.2-1 N over minutes
    wander: bool = False               # 1-3 N peak to peak


def apply_zero(rng, t, force, zero: Zero, tares: list) -> tuple[np.ndarray, dict]:
    """Reading (N) = net force + zero(t); a tare subtracts the reading averaged over 0.5 s."""
    off = float(rng.uniform(*zero.offset_n))
    z = np.full(t.size, off)
    info = {"offset_N": round(off, 3)}
    if zero.thermal:
        th, i = thermal_zero(t, rng)
        z += th
        info.update({k: round(v, 3) for k, v in i.items()})
    if zero.wander:
        w, i = wandering_zero(t, rng)
        z += w
        info.update({k: round(v, 3) for k, v in i.items()})
    reading = force + z
    info["tares"] = []
    for tare in sorted(tares, key=lambda x: x["time_s"]):
        k = int(tare["time_s"] * FS)
        value = float(reading[max(0, k - int(0.5 * FS)):k].mean())
        reading[k:] -= value
        z[k:] -= value
        info["tares"].append({"time_s": tare["time_s"], "value_N": round(value, 3), "hand_resting": tare["hand_resting"]})
    info["zero_start_N"] = round(float(z[0]), 3)
    info["zero_end_N"] = round(float(z[-1]), 3)
    return reading, info


def _host_origin(rng) -> float:
    """Logger clocks: relative to the start of logging, or Unix time (a quarter of the files)."""
    if rng.random() < 0.25:
        return float(np.round(rng.uniform(1.70e9, 1.75e9), 3))
    return float(np.round(rng.uniform(0.0, 2.0), 3))


def inst_own(rng, t, reading, rates=(100, 250, 500, 1000), drops_per_minute=(0.0, 1.0)):
    """a) our own sensor: device time (µs), 100-1000 Hz, newtons."""
    rate = float(rng.choice(rates))
    noise = float(rng.uniform(0.005, 0.03))
    ppm = float(rng.uniform(-50, 50))
    drops = float(rng.uniform(*drops_per_minute))
    t0 = 0.0 if rng.random() < 0.5 else float(np.round(rng.uniform(1.0, 5000.0), 6))
    ts, val, tmap = own_sensor(t, reading, rng, rate, noise, ppm=ppm, drops_per_minute=drops, t0=t0)
    meta = {"model": "own_sensor", "rate_hz": rate, "noise_N": round(noise, 4), "clock_ppm": round(ppm, 1),
            "drops_per_minute": round(drops, 2), "time": "device"}
    return ts, val, "N", "%.6f", "%.4f", tmap, meta


def inst_host(rng, t, reading, rates=(100, 200, 250, 500)):
    """d) our sensor streaming ASCII lines through an FTDI bridge, stamped by the host clock."""
    rate = float(rng.choice(rates))
    noise = float(rng.uniform(0.005, 0.03))
    ppm = float(rng.uniform(-50, 50))
    dev_t, val, _ = own_sensor(t, reading, rng, rate, noise, ppm=ppm)
    emit = dev_t * (1 + ppm * 1e-6) + float(rng.uniform(0.0005, 0.002))  # physical emit times
    res = float(rng.choice([0.001, 0.015625]))
    baud = int(rng.choice([115200, 230400, 460800]))
    origin = _host_origin(rng)
    stalls = float(rng.uniform(0.5, 3.0))
    stamps = host_stamps(emit, line_bytes=9, rng=rng, baud=baud, clock_res_s=res, stalls_per_minute=stalls,
                         origin_s=origin)
    meta = {"model": "own_sensor_ascii_ftdi", "rate_hz": rate, "noise_N": round(noise, 4), "clock_res_s": res,
            "baud": baud, "latency_timer_s": 0.016, "stalls_per_minute": round(stalls, 2), "time": "host"}
    return stamps, val, "N", "%.6f" if res != 0.001 else "%.3f", "%.4f", (1.0, origin), meta


GAUGE_UNITS = (("N", 0.1, "%.1f"), ("lbf", 0.01, "%.2f"), ("kgf", 0.001, "%.3f"))


def inst_gauge(rng, t, reading, rates=(10, 20, 25, 50)):
    """b) a commercial gauge: 10-50 Hz, averaged over the output period, quantised in its unit,
    lines stamped by the host logger."""
    rate = float(rng.choice(rates))
    unit, res, fmt = GAUGE_UNITS[int(rng.integers(0, len(GAUGE_UNITS)))]
    ts, val = gauge(t, reading, rng, rate, unit, res)
    clock_res = float(rng.choice([0.001, 0.001, 0.015625]))
    baud = int(rng.choice([9600, 19200, 115200]))
    origin = _host_origin(rng)
    stalls = float(rng.uniform(0.0, 2.0))
    stamps = host_stamps(ts + 0.002, line_bytes=12, rng=rng, baud=baud, clock_res_s=clock_res,
                         stalls_per_minute=stalls, origin_s=origin)
    meta = {"model": "force_gauge", "rate_hz": rate, "unit": unit, "resolution": res, "averaging": "output period",
            "clock_res_s": clock_res, "baud": baud, "stalls_per_minute": round(stalls, 2), "time": "host",
            "delay_s": round(0.5 / rate, 3)}
    return stamps, val, unit, "%.6f" if clock_res != 0.001 else "%.3f", fmt, (1.0, origin), meta


def inst_hx711(rng, t, reading):
    """c) an HX711 board at 10 or 80 Hz with a firmware moving average; printed in kg (3
    decimals) or N (2 decimals); time from the board's millis() or from the host."""
    rate = float(rng.choice([10.0, 80.0]))
    # moving averages that keep the delay <= 0.1 s (docs/corpus.md: truth is not shifted by it)
    ma = int(rng.choice([1, 2])) if rate == 10.0 else int(rng.choice([1, 4, 8, 16]))
    noise = float(rng.uniform(0.01, 0.02)) if rate == 10.0 else float(rng.uniform(0.02, 0.05))
    ts, val_n = hx711(t, reading, rng, rate, ma, noise)
    unit, res, fmt = (("kgf", 0.001, "%.3f"), ("N", 0.01, "%.2f"))[int(rng.integers(0, 2))]
    val = np.round(val_n / UNIT_SCALE[unit] / res) * res
    meta = {"model": "hx711", "rate_hz": rate, "moving_average": ma, "noise_N": round(noise, 4), "unit": unit,
            "resolution": res, "delay_s": round((0.5 + (ma - 1) / 2) / rate, 3)}
    if rng.random() < 0.5:
        err = float(rng.uniform(-0.003, 0.003))  # Arduino ceramic resonator
        m0 = float(rng.integers(200, 5000)) / 1000.0
        stamps = np.floor((ts * (1 + err) + m0) * 1000.0) / 1000.0
        meta.update({"time": "device millis()", "clock_error": round(err, 5)})
        return stamps, val, unit, "%.3f", fmt, (1 + err, m0), meta
    clock_res = float(rng.choice([0.001, 0.015625]))
    origin = _host_origin(rng)
    stamps = host_stamps(ts + 0.001, line_bytes=8, rng=rng, baud=int(rng.choice([9600, 57600, 115200])),
                         clock_res_s=clock_res, stalls_per_minute=float(rng.uniform(0.0, 2.0)), origin_s=origin)
    meta.update({"time": "host", "clock_res_s": clock_res})
    return stamps, val, unit, "%.6f" if clock_res != 0.001 else "%.3f", fmt, (1.0, origin), meta


INSTRUMENTS = {"own": inst_own, "host": inst_host, "gauge": inst_gauge, "hx711": inst_hx711}


# ============================================================================================
# Putting it together
# ============================================================================================

def _to_file_time(x: float, tmap) -> float:
    return round(float(x) * float(tmap[0]) + float(tmap[1]), 4)


def build_truth(rendered, condition, seed, attempt, unit, tmap, zero_info, inst_meta, tolerance_n, extra=None) -> dict:
    def conv(items):
        out = []
        for it in items:
            d = dict(it)
            for k in ("start_s", "end_s", "ramp_start_s", "release_start_s", "time_s"):
                if k in d:
                    d[k] = _to_file_time(d[k], tmap)
            if "corrections" in d:
                d["corrections"] = [dict(c, time_s=_to_file_time(c["time_s"], tmap)) for c in d["corrections"]]
            out.append(d)
        return out

    tz = dict(zero_info)
    tz["tares"] = [dict(x, time_s=_to_file_time(x["time_s"], tmap)) for x in zero_info.get("tares", [])]
    truth = {
        "condition": condition, "seed": seed, "attempt": attempt, "unit": unit,
        "tolerance_N": None if tolerance_n is None else round(float(tolerance_n), 3),
        "holds": conv(rendered.holds),
        "over_tolerance": conv(rendered.over_tolerance),
        "near_misses": conv(rendered.near_misses),
        "other": conv([o for o in rendered.other if o["kind"] != "resting_hand"]),
        "resting_hand": conv([o for o in rendered.other if o["kind"] == "resting_hand"]),
        "zero": tz, "instrument": inst_meta, "physiology": {k: round(v, 4) for k, v in rendered.physiology.items()},
        "time_map": {"scale": tmap[0], "offset_s": tmap[1]},
        "full_scale_N": 200.0,
    }
    if extra:
        truth.update(extra)
    return truth


def run_condition(condition: str, seed: int, script: Script, zero: Zero, instrument: str | tuple = "own",
                  inst_kwargs: dict | None = None):
    """Draw sessions from ``seed`` until one has unambiguous truth; record it with ``instrument``."""
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, attempt, _stable_hash(condition)])
        try:
            th = Therapist(rng, script)
            sess = th.run()
            rendered = sess.render()
        except InvalidSession:
            continue
        reading, zinfo = apply_zero(rng, rendered.t, rendered.force, zero, rendered.marks["tare"])
        kind = instrument if isinstance(instrument, str) else _choice(rng, instrument)
        ts, val, unit, tfmt, vfmt, tmap, meta = INSTRUMENTS[kind](rng, rendered.t, reading, **(inst_kwargs or {}))
        meta["time_format"], meta["value_format"] = tfmt, vfmt
        truth = build_truth(rendered, condition, seed, attempt, unit, tmap, zinfo, meta, sess.tolerance_n)
        truth["duration_s"] = round(float(rendered.t[-1]), 3)
        return ts, val, unit, truth
    raise RuntimeError(f"{condition}: no valid session in {MAX_ATTEMPTS} draws from seed {seed}")


def _stable_hash(name: str) -> int:
    h = 2166136261
    for ch in name.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


# ============================================================================================
# Conditions
# ============================================================================================

BASE = Script()
TARED = Zero()


def clean_typical(seed: int):
    """Typical holds (15-60 N) on our own sensor, tared, hand lifted between holds."""
    return run_condition("clean_typical", seed, BASE, TARED, "own")


def light_holds(seed: int):
    """Face/jaw work: holds of 3-8 N only. Between holds the hand lifts, or keeps a light contact
    of 0.8-1.8 N (below 60 % of the lightest hold, so rest and hold stay distinct)."""
    sc = replace(BASE, levels_n=(3.2, 8.0), rest=(("lift", 0.8), ("hand", 0.2)), hand_n=(0.8, 1.8), p_drift_up=0.0,
                 ramp_s=(0.6, 1.8), release_s=(0.3, 1.0), p_step=0.1)
    return run_condition("light_holds", seed, sc, TARED, "own")


def resting_hand(seed: int):
    """A hand resting on the sensor between holds (2-4 N, CV 10-20 % over 5 s)."""
    sc = replace(BASE, levels_n=(12.0, 60.0), rest=(("hand", 0.8), ("lift", 0.2)), start_with_hand=0.5,
                 tolerance=(("none", 0.2), ("far", 0.3), ("episodes", 0.5)))
    return run_condition("resting_hand", seed, sc, TARED, "own")


def offset_positive(seed: int):
    """Untared cell reading +5..+20 N when unloaded (zero balance up to +10 % of 200 N)."""
    sc = replace(BASE, levels_n=(8.0, 60.0), rest=(("lift", 0.7), ("hand", 0.3)),
                 tolerance=(("none", 0.1), ("far", 0.2), ("episodes", 0.7)))
    return run_condition("offset_positive", seed, sc, Zero(offset_n=(5.0, 20.0)), "own")


def offset_negative(seed: int):
    """Untared cell reading -5..-20 N when unloaded."""
    sc = replace(BASE, levels_n=(8.0, 60.0), rest=(("lift", 0.7), ("hand", 0.3)),
                 tolerance=(("none", 0.1), ("far", 0.2), ("episodes", 0.7)))
    return run_condition("offset_negative", seed, sc, Zero(offset_n=(-20.0, -5.0)), "own")


def zero_wander(seed: int):
    """A zero that wanders 1-3 N (untared, warming cell) on top of an offset of up to +-5 N."""
    sc = replace(BASE, levels_n=(6.0, 60.0), rest=(("lift", 0.6), ("hand", 0.4)))
    return run_condition("zero_wander", seed, sc, Zero(offset_n=(-5.0, 5.0), wander=True), "own")


def midsession_tare(seed: int):
    """An untared start (+-2..15 N) and a tare during a rest, with the hand lifted or resting."""
    sc = replace(BASE, levels_n=(10.0, 60.0), rest=(("lift", 0.6), ("hand", 0.4)), tare="either",
                 duration_s=(90.0, 210.0))
    off = (2.0, 15.0) if (seed % 2 == 0) else (-15.0, -2.0)
    return run_condition("midsession_tare", seed, sc, Zero(offset_n=off), "own")


def gauge_10_25hz(seed: int):
    """A commercial gauge at 10-25 Hz: averaged, quantised (0.1 N, 0.01 lbf, 0.001 kgf), host-stamped."""
    sc = replace(BASE, levels_n=(5.0, 60.0), tolerance=(("none", 0.3), ("far", 0.3), ("episodes", 0.4)))
    return run_condition("gauge_10_25hz", seed, sc, Zero(offset_n=(-0.5, 0.5)), "gauge", {"rates": (10, 20, 25)})


def hx711_board(seed: int):
    """An HX711 board at 10 or 80 Hz with a firmware moving average."""
    sc = replace(BASE, levels_n=(5.0, 60.0))
    return run_condition("hx711", seed, sc, Zero(offset_n=(-1.0, 1.0)), "hx711")


def host_clock_bursts(seed: int):
    """Our sensor's ASCII lines stamped by the host clock (1 or 15.6 ms) behind the FTDI latency
    timer: repeated stamps, clumps, 30-200 ms stalls."""
    sc = replace(BASE, rest=(("lift", 0.7), ("hand", 0.3)))
    return run_condition("host_clock_bursts", seed, sc, TARED, "host")


def pumping_gliding_pokes(seed: int):
    """Holds among pumping (0.5-1 Hz, +-25-60 %), gliding strokes and brief pokes (< 2 s)."""
    sc = replace(BASE, nonhold=(("pump", 0.35), ("glide", 0.35), ("pokes", 0.35)),
                 rest=(("lift", 0.8), ("hand", 0.2)))
    return run_condition("pumping_gliding_pokes", seed, sc, TARED, (("own", 0.7), ("gauge", 0.3)))


def steps(seed: int):
    """Holds that step 25-40 % up or down to new levels without release; brief corrections."""
    sc = replace(BASE, p_step=0.7, corrections_per_hold=1.0, levels_n=(10.0, 60.0))
    return run_condition("steps", seed, sc, TARED, "own")


def exponential_approach(seed: int):
    """Approaches that are a quick push then an exponential creep onto the level."""
    sc = replace(BASE, approach=(("creep", 0.8), ("minjerk", 0.2)))
    return run_condition("exponential_approach", seed, sc, TARED, "own")


def heavy_elbow(seed: int):
    """Elbow work on large muscles: holds of 100-150 N, slower approaches."""
    sc = replace(BASE, levels_n=(100.0, 150.0), ramp_s=(1.5, 4.0), release_s=(0.8, 2.0), sd_rel=(0.015, 0.03),
                 tolerance=(("none", 0.3), ("far", 0.4), ("episodes", 0.3)))
    return run_condition("heavy_elbow", seed, sc, Zero(offset_n=(-1.0, 1.0)), "own")


def over_tolerance(seed: int):
    """Episodes above the client's tolerance for 0.3-5 s (approach overshoots, excursions within
    a hold, pokes) and near misses that stay below it."""
    sc = replace(BASE, levels_n=(10.0, 60.0), tolerance=(("episodes", 1.0),), p_ot_event=0.5, p_near_miss=0.3,
                 rest=(("lift", 0.7), ("hand", 0.3)), min_episodes=2)
    return run_condition("over_tolerance", seed, sc, TARED, "own")


def mixed(seed: int):
    """Everything at once: any instrument, offsets, wander or a tare, resting hands, light and
    heavy holds, steps, creeping approaches, pumping, glides, pokes, over-tolerance."""
    rng = np.random.default_rng([seed, 999])
    lo = float(rng.choice([3.2, 10.0, 20.0]))
    hi = {3.2: 8.0, 10.0: 60.0, 20.0: 140.0}[lo]
    sc = replace(BASE, levels_n=(lo, hi), p_step=0.35, corrections_per_hold=0.6,
                 approach=(("minjerk", 0.6), ("creep", 0.4)),
                 rest=(("lift", 0.6), ("hand", 0.4)) if lo > 5 else (("lift", 0.8), ("hand", 0.2)),
                 hand_n=(2.0, 4.0) if lo > 5 else (0.8, 1.8),
                 nonhold=(("pump", 0.2), ("glide", 0.2), ("pokes", 0.2)),
                 tolerance=(("none", 0.2), ("far", 0.3), ("episodes", 0.5)),
                 tare="either" if rng.random() < 0.3 else "none")
    zk = int(rng.integers(0, 4))
    zero = [TARED, Zero(offset_n=(-20.0, 20.0)), Zero(offset_n=(-5.0, 5.0), wander=True), Zero(offset_n=(-10, 10))][zk]
    inst = (("own", 1.0), ("host", 1.0), ("gauge", 1.0), ("hx711", 1.0))
    return run_condition("mixed", seed, sc, zero, inst)


def repeaters_kg_88hz(seed: int):
    """A ~88 Hz handheld load cell reporting kilograms with device time (µs), in a climbing /
    physiotherapy assessment: 7 s on / 3 s off repeaters, the rig hanging on the cell (6-7 N when
    nobody pulls), a small pre-load before some pulls."""
    from .repeaters import repeaters
    return repeaters(seed)


CONDITIONS = {
    "clean_typical": clean_typical,
    "light_holds": light_holds,
    "resting_hand": resting_hand,
    "offset_positive": offset_positive,
    "offset_negative": offset_negative,
    "zero_wander": zero_wander,
    "midsession_tare": midsession_tare,
    "gauge_10_25hz": gauge_10_25hz,
    "hx711": hx711_board,
    "host_clock_bursts": host_clock_bursts,
    "pumping_gliding_pokes": pumping_gliding_pokes,
    "steps": steps,
    "exponential_approach": exponential_approach,
    "heavy_elbow": heavy_elbow,
    "over_tolerance": over_tolerance,
    "repeaters_kg_88hz": repeaters_kg_88hz,
    "mixed": mixed,
}
