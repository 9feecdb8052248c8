"""Therapist behaviour: named scenarios (TOML), rendered to a true force signal plus ground truth.

See docs/simulator.md for the file format.  Rendering is seeded and reproducible: the
structure (levels, durations, timings) depends only on the seed, so the ground truth is the
same at every sample rate; the hand's tremor and wander depend on the seed and the rate.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .filters import butter_zpk, filter_zpk

SCENARIO_DIR = Path(__file__).with_name("scenarios")
TRUTH_RATE_HZ = 1000.0  # ground truth is computed on this grid, whatever the render rate
STEP_MIN_RATIO = 1.3  # consecutive 'steps' levels are forced at least 30 % apart

_TOP_KEYS = {"name", "description", "tolerance_n", "target_band_n", "lead_in_s", "duration_s", "hand", "segments"}
_HAND_KEYS = {"tremor_pct", "tremor_hz", "wander_pct", "wander_hz"}
_SEGMENT_KEYS = {
    "rest": {"duration_s"},
    "hold": {"level_n", "level_tol_pct", "ramp_s", "hold_s", "release_s", "drift_pct", "drift_tau_s",
             "corrections", "rest_s"},
    "steps": {"levels_n", "ramp_s", "step_s", "hold_s", "release_s", "drift_pct", "drift_tau_s",
              "corrections", "rest_s"},
    "glide": {"level_n", "ramp_s", "duration_s", "swing_pct", "stroke_hz", "release_s", "rest_s"},
    "poke": {"level_n", "level_tol_pct", "count", "rise_s", "top_s", "fall_s", "gap_s", "rest_s"},
}
_INT_FIELDS = {"repeat", "corrections", "count"}
_DEFAULTS = {
    "rest": {},
    "hold": {"ramp_s": 1.5, "release_s": 1.0, "drift_pct": 0.0, "drift_tau_s": 15.0, "corrections": 0, "rest_s": 0.0},
    "steps": {"ramp_s": 1.5, "step_s": 1.0, "release_s": 1.0, "drift_pct": 0.0, "drift_tau_s": 15.0,
              "corrections": 0, "rest_s": 0.0},
    "glide": {"ramp_s": 1.0, "swing_pct": 35.0, "stroke_hz": 0.5, "release_s": 1.0, "rest_s": 0.0},
    "poke": {"count": 1, "rise_s": 0.15, "top_s": 0.2, "fall_s": 0.2, "gap_s": 1.0, "rest_s": 0.0},
}
_REQUIRED = {
    "rest": {"duration_s"},
    "hold": {"hold_s"},
    "steps": {"levels_n", "hold_s"},
    "glide": {"level_n", "duration_s"},
    "poke": set(),
}
_HAND_DEFAULTS = {"tremor_pct": 0.8, "tremor_hz": [8.0, 12.0], "wander_pct": 1.5, "wander_hz": 0.8}


# --------------------------------------------------------------------------- value specs

def _check_spec(where: str, value: Any, integer: bool = False, allow_list: bool = True) -> Any:
    """A value is a number or a [min, max] pair drawn uniformly per run."""
    num = (int,) if integer else (int, float)
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a number or [min, max], got {value!r}")
    if isinstance(value, num):
        return value
    if allow_list and isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, num) and not isinstance(v, bool) for v in value):
        if value[0] > value[1]:
            raise ValueError(f"{where}: range [min, max] has min > max: {value!r}")
        return value
    kind = "an integer" if integer else "a number"
    raise ValueError(f"{where}: expected {kind} or [min, max], got {value!r}")


def _draw(rng: np.random.Generator, spec: Any, integer: bool = False):
    if isinstance(spec, list):
        lo, hi = spec
        if integer:
            return int(rng.integers(int(lo), int(hi) + 1))
        return float(rng.uniform(lo, hi)) if hi > lo else float(lo)
    return int(spec) if integer else float(spec)


# --------------------------------------------------------------------------- results

@dataclass
class ScenarioRun:
    time_s: np.ndarray
    force_n: np.ndarray  # true force on the sensor: intended x (1 + wander + tremor)
    intended_n: np.ndarray  # noise-free, tremor-free intended force
    ground_truth: dict
    rate_hz: float
    seed: int

    @property
    def duration_s(self) -> float:
        return float(self.ground_truth["duration_s"])

    def write_ground_truth(self, path) -> None:
        import json
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.ground_truth, fh, indent=1)

    def force_at(self, t_s) -> np.ndarray:
        """True force at arbitrary times (linear interpolation; 0 outside the run)."""
        return np.interp(np.asarray(t_s, dtype=np.float64), self.time_s, self.force_n, left=0.0, right=0.0)


@dataclass
class _Piece:
    t0: float
    t1: float
    fn: Callable[[np.ndarray], np.ndarray]  # fn(t - t0) -> intended force


def _cos_ramp(a: float, b: float, dur: float) -> Callable[[np.ndarray], np.ndarray]:
    def fn(u):
        x = np.clip(u / dur, 0.0, 1.0) if dur > 0 else np.ones_like(u)
        return a + (b - a) * 0.5 * (1.0 - np.cos(np.pi * x))
    return fn


# --------------------------------------------------------------------------- scenario

@dataclass
class Scenario:
    name: str
    description: str
    spec: dict
    source: str = "<memory>"
    tolerance_n: float | None = None
    target_band_n: list | None = None

    # ---- building the intended force
    def _build(self, seed: int):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5CE7]))
        spec = self.spec
        tol = self.tolerance_n
        pieces: list[_Piece] = []
        holds: list[dict] = []
        non_holds: list[dict] = []
        t = _draw(rng, spec.get("lead_in_s", 2.0))
        if t > 0:
            pieces.append(_Piece(0.0, t, lambda u: np.zeros_like(u)))

        def level_of(seg):
            if "level_tol_pct" in seg:
                return tol * _draw(rng, seg["level_tol_pct"]) / 100.0
            return _draw(rng, seg["level_n"])

        def add(dur, fn):
            nonlocal t
            if dur > 0:
                pieces.append(_Piece(t, t + dur, fn))
                t += dur

        def plateau(level, dur, drift_pct, tau, n_corr):
            d = drift_pct / 100.0
            norm = -math.expm1(-dur / tau) if tau > 0 else 1.0
            bumps = []
            for _ in range(n_corr):
                if dur < 6.0:
                    break
                c_t = rng.uniform(2.5, dur - 2.5 - 0.5)
                c_w = rng.uniform(0.2, 0.45)
                c_a = rng.uniform(0.05, 0.12) * (1 if rng.random() < 0.5 else -1)
                bumps.append((c_t, c_w, c_a))

            def fn(u, level=level, d=d, tau=tau, norm=norm, bumps=tuple(bumps)):
                f = level * (1.0 + d * (-np.expm1(-u / tau)) / norm)
                for c_t, c_w, c_a in bumps:
                    x = (u - c_t) / c_w
                    m = (x > 0) & (x < 1)
                    f = np.where(m, f * (1.0 + c_a * np.sin(np.pi * np.clip(x, 0, 1)) ** 2), f)
                return f
            end_level = level * (1.0 + d)
            return fn, end_level

        for si, seg in enumerate(spec.get("segments", [])):
            kind = seg["kind"]
            reps = _draw(rng, seg.get("repeat", 1), integer=True)
            p = {**_DEFAULTS[kind], **seg}
            for _ in range(reps):
                if kind == "rest":
                    add(_draw(rng, p["duration_s"]), lambda u: np.zeros_like(u))
                elif kind == "hold":
                    level = level_of(p)
                    ramp, hold, rel = _draw(rng, p["ramp_s"]), _draw(rng, p["hold_s"]), _draw(rng, p["release_s"])
                    add(ramp, _cos_ramp(0.0, level, ramp))
                    fn, end_level = plateau(level, hold, _draw(rng, p["drift_pct"]), _draw(rng, p["drift_tau_s"]),
                                            _draw(rng, p["corrections"], integer=True))
                    holds.append({"start_s": t, "end_s": t + hold, "_fn": fn})
                    add(hold, fn)
                    add(rel, _cos_ramp(end_level, 0.0, rel))
                    add(_draw(rng, p["rest_s"]), lambda u: np.zeros_like(u))
                elif kind == "steps":
                    levels = []
                    for lv in p["levels_n"]:
                        x = _draw(rng, lv)
                        if levels:
                            prev = levels[-1]
                            if prev / STEP_MIN_RATIO < x < prev * STEP_MIN_RATIO:
                                x = prev * STEP_MIN_RATIO if x >= prev else prev / STEP_MIN_RATIO
                        levels.append(x)
                    current = 0.0
                    for k, level in enumerate(levels):
                        r = _draw(rng, p["ramp_s"] if k == 0 else p["step_s"])
                        add(r, _cos_ramp(current, level, r))
                        hold = _draw(rng, p["hold_s"])
                        fn, current = plateau(level, hold, _draw(rng, p["drift_pct"]), _draw(rng, p["drift_tau_s"]),
                                              _draw(rng, p["corrections"], integer=True))
                        holds.append({"start_s": t, "end_s": t + hold, "_fn": fn})
                        add(hold, fn)
                    rel = _draw(rng, p["release_s"])
                    add(rel, _cos_ramp(current, 0.0, rel))
                    add(_draw(rng, p["rest_s"]), lambda u: np.zeros_like(u))
                elif kind == "glide":
                    level = _draw(rng, p["level_n"])
                    ramp, dur, rel = _draw(rng, p["ramp_s"]), _draw(rng, p["duration_s"]), _draw(rng, p["release_s"])
                    swing = _draw(rng, p["swing_pct"]) / 100.0
                    hz = _draw(rng, p["stroke_hz"])
                    ph2 = rng.uniform(0, 2 * math.pi)
                    start = t
                    add(ramp, _cos_ramp(0.0, level, ramp))

                    def gfn(u, level=level, swing=swing, hz=hz, ph2=ph2):
                        # starts at `level` and keeps moving: never a plateau
                        return level * (1.0 + swing * (0.8 * np.sin(2 * np.pi * hz * u)
                                                       + 0.2 * (np.sin(2 * np.pi * 2.3 * hz * u + ph2) - math.sin(ph2))))
                    add(dur, gfn)
                    end_level = float(gfn(np.array([dur]))[0])
                    add(rel, _cos_ramp(end_level, 0.0, rel))
                    non_holds.append({"kind": "glide", "start_s": start, "end_s": t})
                    add(_draw(rng, p["rest_s"]), lambda u: np.zeros_like(u))
                elif kind == "poke":
                    count = _draw(rng, p["count"], integer=True)
                    for _k in range(count):
                        level = level_of(p)
                        rise, top, fall = _draw(rng, p["rise_s"]), _draw(rng, p["top_s"]), _draw(rng, p["fall_s"])
                        start = t
                        add(rise, _cos_ramp(0.0, level, rise))
                        add(top, lambda u, level=level: np.full_like(u, level))
                        add(fall, _cos_ramp(level, 0.0, fall))
                        non_holds.append({"kind": "poke", "start_s": start, "end_s": t})
                        add(_draw(rng, p["gap_s"]), lambda u: np.zeros_like(u))
                    add(_draw(rng, p["rest_s"]), lambda u: np.zeros_like(u))
        total = max(t, float(spec.get("duration_s", 0.0)))
        if total > t:
            pieces.append(_Piece(t, total, lambda u: np.zeros_like(u)))
        return pieces, holds, non_holds, total

    @staticmethod
    def _evaluate(pieces: list[_Piece], t: np.ndarray) -> np.ndarray:
        out = np.zeros_like(t)
        for pc in pieces:
            i0, i1 = np.searchsorted(t, [pc.t0, pc.t1], side="left")
            if i1 > i0:
                out[i0:i1] = pc.fn(t[i0:i1] - pc.t0)
        return out

    def intended(self, seed: int, time_s) -> np.ndarray:
        pieces, _, _, _ = self._build(seed)
        return self._evaluate(pieces, np.asarray(time_s, dtype=np.float64))

    def duration_s(self, seed: int) -> float:
        return self._build(seed)[3]

    # ---- ground truth
    def _truth(self, seed: int, rate_hz: float, pieces, holds, non_holds, total) -> dict:
        tt = np.arange(int(round(total * TRUTH_RATE_HZ)) + 1) / TRUTH_RATE_HZ
        intended = self._evaluate(pieces, tt)
        out_holds = []
        for h in holds:
            s, e = h["start_s"], h["end_s"]
            u = np.linspace(0.0, e - s, max(2, int(round((e - s) * TRUTH_RATE_HZ)) + 1))
            f = h["_fn"](u)
            first = float(np.mean(f[u <= 2.0]))
            last = float(np.mean(f[u >= (e - s) - 2.0]))
            drift = 100.0 * (last - first) / first if first else 0.0
            out_holds.append({"start_s": round(s, 4), "end_s": round(e, 4), "level_n": round(float(np.mean(f)), 4),
                              "drift_pct": round(drift, 3), "drifting": bool(abs(drift) >= 10.0)})
        over = []
        if self.tolerance_n is not None:
            above = intended > self.tolerance_n
            edges = np.flatnonzero(np.diff(above.astype(np.int8)))
            starts = list(edges[~above[edges]] + 1)
            ends = list(edges[above[edges]] + 1)
            if above[0]:
                starts.insert(0, 0)
            if above[-1]:
                ends.append(len(tt))
            for a, b in zip(starts, ends):
                over.append({"start_s": round(float(tt[a]), 4), "end_s": round(float(tt[min(b, len(tt) - 1)]), 4),
                             "peak_n": round(float(intended[a:b].max()), 4)})
        return {
            "scenario": self.name,
            "seed": int(seed),
            "rate_hz": float(rate_hz),
            "duration_s": round(float(total), 4),
            "tolerance_n": None if self.tolerance_n is None else float(self.tolerance_n),
            "target_band_n": None if self.target_band_n is None else [float(x) for x in self.target_band_n],
            "holds": out_holds,
            "over_tolerance": over,
            "non_holds": [{"kind": n["kind"], "start_s": round(n["start_s"], 4), "end_s": round(n["end_s"], 4)}
                          for n in non_holds],
        }

    def ground_truth(self, seed: int, rate_hz: float = TRUTH_RATE_HZ) -> dict:
        pieces, holds, non_holds, total = self._build(seed)
        return self._truth(seed, rate_hz, pieces, holds, non_holds, total)

    # ---- the hand
    def _hand(self, seed: int, rate_hz: float, n: int) -> np.ndarray:
        hand = {**_HAND_DEFAULTS, **self.spec.get("hand", {})}
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x4A4D, int(round(rate_hz * 1000))]))
        nyq = rate_hz / 2.0
        settle = int(min(5 * rate_hz, 20000))  # filter warm-up, discarded
        rel = np.zeros(n)
        wander_pct = float(hand["wander_pct"])
        if wander_pct > 0 and n > 1:
            wc = min(float(hand["wander_hz"]), 0.45 * nyq)
            w = filter_zpk(*butter_zpk(2, wc / nyq, "low"), rng.standard_normal(n + settle))[settle:]
            w /= w.std() or 1.0
            rel += wander_pct / 100.0 * w
        tremor_pct = float(hand["tremor_pct"])
        lo, hi = hand["tremor_hz"] if isinstance(hand["tremor_hz"], list) else (hand["tremor_hz"] * 0.9, hand["tremor_hz"] * 1.1)
        if tremor_pct > 0 and n > 1 and hi < 0.95 * nyq:
            tr = filter_zpk(*butter_zpk(2, [lo / nyq, hi / nyq], "band"), rng.standard_normal(n + settle))[settle:]
            tr /= tr.std() or 1.0
            rel += tremor_pct / 100.0 * tr
        return rel

    def render(self, rate_hz: float, seed: int) -> ScenarioRun:
        rate_hz = float(rate_hz)
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz!r}")
        pieces, holds, non_holds, total = self._build(seed)
        n = int(round(total * rate_hz))
        t = np.arange(n, dtype=np.float64) / rate_hz
        intended = self._evaluate(pieces, t)
        force = intended * np.maximum(1.0 + self._hand(seed, rate_hz, n), 0.0)
        truth = self._truth(seed, rate_hz, pieces, holds, non_holds, total)
        return ScenarioRun(time_s=t, force_n=force, intended_n=intended, ground_truth=truth, rate_hz=rate_hz,
                           seed=int(seed))


# --------------------------------------------------------------------------- loading

def _validate(spec: dict, source: str) -> Scenario:
    def err(msg):
        raise ValueError(f"{source}: {msg}")

    if not isinstance(spec, dict):
        err("not a table")
    for k in spec:
        if k not in _TOP_KEYS:
            err(f"unknown field {k!r}")
    name = spec.get("name", Path(source).stem)
    if not isinstance(name, str):
        err(f"name: expected a string, got {name!r}")
    desc = spec.get("description", "")
    if not isinstance(desc, str):
        err(f"description: expected a string, got {desc!r}")
    tol = spec.get("tolerance_n")
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float)) or tol <= 0):
        err(f"tolerance_n: expected a positive number, got {tol!r}")
    band = spec.get("target_band_n")
    if band is not None:
        if not (isinstance(band, list) and len(band) == 2 and all(isinstance(x, (int, float)) for x in band)
                and band[0] < band[1]):
            err(f"target_band_n: expected [low, high] with low < high, got {band!r}")
    for key in ("lead_in_s", "duration_s"):
        if key in spec:
            _check_spec(f"{source}: {key}", spec[key], allow_list=(key == "lead_in_s"))
    hand = spec.get("hand", {})
    if not isinstance(hand, dict):
        err("hand: expected a table")
    for k, v in hand.items():
        if k not in _HAND_KEYS:
            err(f"hand.{k}: unknown field")
        _check_spec(f"{source}: hand.{k}", v, allow_list=(k == "tremor_hz"))
        if (v if not isinstance(v, list) else min(v)) < 0:
            err(f"hand.{k}: must not be negative")
    segs = spec.get("segments")
    if not isinstance(segs, list) or not segs:
        err("segments: expected at least one [[segments]] table")
    for i, seg in enumerate(segs):
        where = f"segments[{i}]"
        if not isinstance(seg, dict):
            err(f"{where}: expected a table")
        kind = seg.get("kind")
        if kind not in _SEGMENT_KEYS:
            err(f"{where}.kind: expected one of {sorted(_SEGMENT_KEYS)}, got {kind!r}")
        allowed = _SEGMENT_KEYS[kind] | {"kind", "repeat"}
        for k, v in seg.items():
            if k not in allowed:
                err(f"{where}.{k}: unknown field for kind {kind!r}")
            if k == "kind":
                continue
            if k == "levels_n":
                if not isinstance(v, list) or not v:
                    err(f"{where}.levels_n: expected a list of levels")
                for j, lv in enumerate(v):
                    _check_spec(f"{source}: {where}.levels_n[{j}]", lv)
                    if (lv if not isinstance(lv, list) else lv[0]) <= 0:
                        err(f"{where}.levels_n[{j}]: levels must be positive")
                continue
            _check_spec(f"{source}: {where}.{k}", v, integer=k in _INT_FIELDS)
            lo = v if not isinstance(v, list) else v[0]
            if k == "drift_pct":
                if lo <= -100:
                    err(f"{where}.drift_pct: must be above -100")
            elif lo < 0:
                err(f"{where}.{k}: must not be negative")
        missing = _REQUIRED[kind] - set(seg)
        if kind in ("hold", "poke") and "level_n" not in seg and "level_tol_pct" not in seg:
            missing |= {"level_n"}
        if missing:
            err(f"{where}: missing field {sorted(missing)[0]!r}")
        if "level_tol_pct" in seg and tol is None:
            err(f"{where}.level_tol_pct: needs tolerance_n")
        if "level_n" in seg and "level_tol_pct" in seg:
            err(f"{where}.level_tol_pct: give level_n or level_tol_pct, not both")
        hold = seg.get("hold_s")
        if hold is not None and (hold if not isinstance(hold, list) else hold[0]) < 5.0:
            err(f"{where}.hold_s: a hold lasts at least 5 s")
    return Scenario(name=name, description=desc, spec=spec, source=source,
                    tolerance_n=None if tol is None else float(tol),
                    target_band_n=None if band is None else [float(band[0]), float(band[1])])


def list_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def load_scenario(name_or_path) -> Scenario:
    """A built-in scenario by name, or a scenario file (.toml)."""
    if isinstance(name_or_path, Scenario):
        return name_or_path
    s = str(name_or_path)
    builtin = SCENARIO_DIR / f"{s}.toml"
    if "/" not in s and "\\" not in s and not s.endswith(".toml") and builtin.is_file():
        path = builtin
    else:
        path = Path(s)
        if not path.is_file():
            raise ValueError(f"unknown scenario {s!r}: not a file and not one of {', '.join(list_scenarios())}")
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None
    return _validate(spec, str(path))


def scenario_from_toml(text: str, source: str = "<string>") -> Scenario:
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    return _validate(spec, source)


__all__ = ["Scenario", "ScenarioRun", "list_scenarios", "load_scenario", "scenario_from_toml"]
