"""The hold engine: one online state machine, driven live chunk by chunk or over a whole recording.

Pipeline (docs/metrics.md has the reasons):

1. samples -> 20 ms bin means (``Binner``; any input rate, non-uniform time). Gaps up to
   ``max_gap_s`` are bridged (filters see the last value; metrics skip those bins); a longer
   gap ends a segment: the hold in progress ends, the filters restart, nothing is invented.
2. two causal 2nd-order Butterworth low-passes with carried state: ``s`` (2 Hz) for hold
   decisions, ``f`` (6 Hz, ~40 ms delay) for tolerance and target band.
3. an explicit state machine (IDLE / HOLD) evaluated vectorised over each chunk: Python
   only runs per state change, per event and per chunk, never per sample.
4. hold boundaries are refined on the buffered past (a centred 0.1 s moving average), using
   only data up to the moment of decision, so live and offline give identical results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .events import (
    DriftWarning,
    Event,
    Hold,
    HoldDiscarded,
    HoldEnded,
    HoldProgress,
    HoldStarted,
    OverTolerance,
    OverToleranceEnded,
    OverToleranceStarted,
)
from .filters import Binner, LowPass
from .params import HoldParams

# Bins processed per vectorised block (about 20 s at 50 Hz).
_BLOCK = 1024

# Order of events that fall on the same bin.
_RANK = {
    "over_tolerance_ended": 0,
    "hold_ended": 1,
    "hold_discarded": 1,
    "hold_started": 2,
    "hold_progress": 3,
    "drift_warning": 4,
    "over_tolerance_started": 5,
}


class _ExitTest(NamedTuple):
    """The excursion / motion test over bins [k, q) of a hold (see ``HoldEngine._exit``)."""

    ks: np.ndarray  # bin positions k..q-1
    A: np.ndarray  # anchor level (the 2 Hz force ``_D`` bins earlier, not before the hold)
    sk: np.ndarray  # the 2 Hz force at ks
    exc: np.ndarray  # off the anchor by more than the exit threshold
    lf: np.ndarray  # last position not in an excursion, running
    e_i: int  # index (relative to k) where a release/step/motion is confirmed, or -1
    e0: int  # where that change began, or -1


class _Buffer:
    """Per-bin arrays addressed by absolute position (bins since the engine started)."""

    NAMES = ("j", "x", "xf", "s", "f", "valid")

    def __init__(self) -> None:
        self.base = 0
        self.n = 0
        cap = 1024
        self.j = np.zeros(cap, dtype=np.int64)
        self.x = np.zeros(cap)
        self.xf = np.zeros(cap)
        self.s = np.zeros(cap)
        self.f = np.zeros(cap)
        self.valid = np.zeros(cap, dtype=bool)

    @property
    def end(self) -> int:
        return self.base + self.n

    def append(self, j, x, xf, s, f, valid) -> None:
        m = j.size
        if self.n + m > self.j.size:
            cap = max(2 * self.j.size, self.n + m)
            for name in self.NAMES:
                old = getattr(self, name)
                new = np.zeros(cap, dtype=old.dtype)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        sl = slice(self.n, self.n + m)
        self.j[sl] = j
        self.x[sl] = x
        self.xf[sl] = xf
        self.s[sl] = s
        self.f[sl] = f
        self.valid[sl] = valid
        self.n += m

    def trim(self, keep_from: int) -> None:
        drop = keep_from - self.base
        if drop <= 0 or drop < self.n // 2 or drop < 4096:
            return
        for name in self.NAMES:
            arr = getattr(self, name)
            arr[: self.n - drop] = arr[drop : self.n]
        self.n -= drop
        self.base = keep_from

    def get(self, name: str, p0: int, p1: int) -> np.ndarray:
        return getattr(self, name)[p0 - self.base : p1 - self.base]

    def at(self, name: str, p: int):
        return getattr(self, name)[p - self.base]


@dataclass
class _HoldState:
    kd: int  # position where the plateau was detected (hold_started)
    start: int
    level0: float  # settled level (gross)
    zero: float
    ref: float | None = None  # gross level over the first drift window
    ref_pos: int = 0
    exc_lastfalse: int = 0
    drift_lastfalse: int = 0
    warned: bool = False
    next_progress: int = 0
    truncated: bool = False
    prev_end: int = -1
    cap: int = 0  # position where the hold reaches max_hold_s and is ended


@dataclass
class _TolState:
    active: bool = False
    start: int = 0
    last_above: int = 0
    # times of start and last_above, taken while their bins are buffered, so an episode
    # does not pin the buffer (a load above tolerance left on the sensor)
    start_t: float = 0.0
    last_above_t: float = 0.0
    lastnb: int = 0  # last position not below the release level
    peak: float = -math.inf  # largest raw bin mean
    fpeak: float = -math.inf  # largest filtered value


@dataclass
class HoldAnalysis:
    """Result of ``analyze_holds``: the holds, the over-tolerance episodes, all events."""

    holds: list[Hold]
    over_tolerance: list[OverTolerance]
    events: list[Event]
    sample_rate_hz: float
    tolerance_n: float | None = None
    target_band_n: tuple[float, float] | None = None
    params: HoldParams = field(default_factory=HoldParams)

    def to_dict(self, source: str | None = None) -> dict:
        """The ``analyze --json`` object of design.md (plus a few documented extra fields)."""
        out: dict = {}
        if source is not None:
            out["source"] = source
        out["sample_rate_hz"] = round(self.sample_rate_hz, 1) if math.isfinite(self.sample_rate_hz) else None
        out["tolerance_N"] = self.tolerance_n
        out["target_band_N"] = list(self.target_band_n) if self.target_band_n else None
        out["holds"] = [h.to_dict() for h in self.holds]
        out["over_tolerance"] = [o.to_dict() for o in self.over_tolerance]
        return out


class HoldEngine:
    """Online hold detector. ``feed`` chunks of samples, get events; ``finish`` at the end.

    Any chunking of the same samples gives the same events (and the same holds).
    """

    def __init__(
        self,
        params: HoldParams | None = None,
        tolerance_n: float | None = None,
        target_band_n: tuple[float, float] | None = None,
    ) -> None:
        p = params or HoldParams()
        self.params = p
        self.tolerance_n = None if tolerance_n is None else float(tolerance_n)
        self.target_band_n = None if target_band_n is None else (float(target_band_n[0]), float(target_band_n[1]))
        fs = p.envelope_rate_hz
        self.fs = fs
        self.dt = 1.0 / fs

        def bins(seconds: float, minimum: int = 1) -> int:
            return max(minimum, int(round(seconds * fs)))

        self._W = bins(p.settle_window_s, 3)
        self._D = bins(p.exit_lookback_s)
        self._confirm = bins(p.max_correction_s)
        self._Wm = bins(p.motion_level_s)
        self._Wc = bins(p.motion_window_s)
        self._motion_count = max(1, int(math.ceil(p.motion_fraction * self._Wc)))
        self._Wd = bins(p.drift_window_s)
        self._dconfirm = bins(p.drift_confirm_s)
        self._progress = bins(p.progress_interval_s)
        self._max_gap = int(math.floor(p.max_gap_s * fs + 1e-9))
        self._h = max(1, int(round(p.edge_smooth_s * fs / 2)))  # half-width of the edge smoother
        self._ramp = bins(p.ramp_lookback_s)
        self._zero_bins = bins(p.zero_window_s)
        self._tol_release = bins(p.tolerance_release_s)
        self._tol_back = bins(0.15)  # reach of the alert filter: raw bins behind an alert
        self._keep = self._ramp + 2 * self._W + self._D + 4 * self._h + 8
        self._max_hold = bins(p.max_hold_s)
        # bins a capped hold (ended at max_hold_s, waiting for the force to leave its level)
        # still reads behind the current position: the exit look-back and the motion windows
        self._capped_keep = self._D + self._Wc + self._Wm + 8

        self._binner = Binner(self.dt)
        self._lp_s = LowPass(p.smooth_cutoff_hz, fs)
        self._lp_f = LowPass(p.alert_cutoff_hz, fs)
        self._buf = _Buffer()
        self._pos = 0
        self._seg_start = 0
        self._last_j: int | None = None
        self._last_x = 0.0
        self._last_valid_pos = -1
        self._finished = False

        self.zero_n = 0.0
        self._zero_acquired = False
        self._rest_vals = np.empty(0)
        self._rest_last = -10
        self._scan_floor = 0
        self._prev_end = -1
        self._hold: _HoldState | None = None
        # a hold ended at max_hold_s: its exit rules still run (no events), and no new hold
        # starts until they fire (the force has left that level)
        self._capped: _HoldState | None = None
        self._tol = _TolState()

        self.holds: list[Hold] = []
        self.over_tolerance: list[OverTolerance] = []
        self._out: list[tuple[int, int, Event]] = []

    # ------------------------------------------------------------------ public API
    @property
    def in_hold(self) -> bool:
        return self._hold is not None

    @property
    def over_tolerance_active(self) -> bool:
        return self._tol.active

    @property
    def sample_count(self) -> int:
        return self._binner.n_samples

    def feed(self, time_s, force_n) -> list[Event]:
        """Process one chunk of samples (time in s, strictly increasing; force in N)."""
        if self._finished:
            raise RuntimeError("HoldEngine.feed() after finish()")
        t = np.asarray(time_s, dtype=np.float64).reshape(-1)
        f = np.asarray(force_n, dtype=np.float64).reshape(-1)
        if t.shape != f.shape:
            raise ValueError("time_s and force_n must have the same length")
        jb, xb, cb = self._binner.push(t, f)
        if jb.size:
            self._ingest(jb, xb)
        return self._drain()

    def finish(self) -> list[Event]:
        """End of data: close the last bin, end a hold or over-tolerance still in progress."""
        if self._finished:
            return []
        jb, xb, cb = self._binner.push(np.empty(0), np.empty(0), final=True)
        if jb.size:
            self._ingest(jb, xb)
        self._finished = True
        at = self._pos - 1
        if self._hold is not None:
            self._end_hold(self._last_valid_pos, "end_of_data", at)
        if self._tol.active:
            self._end_tol(at)
        return self._drain()

    # ------------------------------------------------------------------ helpers
    def _time(self, pos: int) -> float:
        return self._binner.t0 + float(self._buf.at("j", pos)) * self.dt  # bin centre

    def _emit(self, pos: int, event: Event) -> None:
        self._out.append((pos, _RANK[event.kind], event))

    def _drain(self) -> list[Event]:
        out = self._out
        if not out:
            return []
        out.sort(key=lambda item: (item[0], item[1]))
        self._out = []
        return [e for _, _, e in out]

    def _smooth(self, p0: int, p1: int, lo: int, hi: int) -> np.ndarray:
        """Centred moving average of xf over positions [p0, p1), using data only in [lo, hi)."""
        h = self._h
        lo = max(lo, self._buf.base)
        a, b = max(p0 - h, lo), min(p1 + h, hi)
        seg = self._buf.get("xf", a, b)
        padl = h - (p0 - a)
        padr = h - (b - p1)
        if padl > 0 or padr > 0:
            seg = np.concatenate((np.full(max(padl, 0), seg[0]), seg, np.full(max(padr, 0), seg[-1])))
        k = 2 * h + 1
        return np.convolve(seg, np.full(k, 1.0 / k), mode="valid")

    # ------------------------------------------------------------------ ingest
    def _ingest(self, jb: np.ndarray, xb: np.ndarray) -> None:
        prev = self._last_j
        if prev is None:
            gaps = np.diff(jb, prepend=jb[0]) - 1
            gaps[0] = 0
        else:
            gaps = np.diff(jb, prepend=prev) - 1
        long_gap = gaps > self._max_gap
        if prev is None:
            long_gap[0] = True  # the very first bin starts a segment
        breaks = np.flatnonzero(long_gap)
        bounds = list(breaks) + [jb.size]
        if not breaks.size or breaks[0] != 0:
            bounds = [0] + bounds
        for i0, i1 in zip(bounds[:-1], bounds[1:]):
            if i0 == i1:
                continue
            self._segment(jb[i0:i1], xb[i0:i1], gaps[i0:i1].copy(), bool(long_gap[i0]))
        self._last_j = int(jb[-1])
        self._last_x = float(xb[-1])
        self._trim()

    def _segment(self, jb, xb, gaps, new_segment: bool) -> None:
        if new_segment:
            gaps[0] = 0
            if self._pos > 0:
                self._break(self._pos)
            self._seg_start = self._pos
            self._scan_floor = self._pos
            self._lp_s.reset(float(xb[0]))
            self._lp_f.reset(float(xb[0]))
            prev_x = float(xb[0])
        else:
            prev_x = self._last_x
        n = jb.size
        if gaps.any():
            reps = gaps + 1
            total = int(reps.sum())
            idx = np.repeat(np.arange(n), reps)
            first = np.cumsum(reps) - reps
            within = np.arange(total) - np.repeat(first, reps)
            j = jb[idx] - gaps[idx] + within
            valid = within == gaps[idx]
            prevs = np.concatenate(([prev_x], xb[:-1]))
            xf = np.where(valid, xb[idx], prevs[idx])
            x = np.where(valid, xb[idx], np.nan)
        else:
            j, x, xf = jb, xb, xb
            valid = np.ones(n, dtype=bool)
        s = self._lp_s(xf)
        f = self._lp_f(xf)
        p = self._pos
        q = p + j.size
        self._buf.append(j, x, xf, s, f, valid)
        self._pos = q
        lv = np.flatnonzero(valid)
        if lv.size:
            self._last_valid_pos = p + int(lv[-1])
        # state machine over [p, q), in blocks so that each state change costs O(block),
        # not O(rest of the recording); results do not depend on the block size
        for b0 in range(p, q, _BLOCK):
            b1 = min(q, b0 + _BLOCK)
            zero_changes: list[tuple[int, float]] = []
            zero_at_b0 = self.zero_n
            k = b0
            while k < b1:
                if self._hold is not None:
                    k = self._run_hold(k, b1)
                elif self._capped is not None:
                    k = self._run_capped(k, b1)
                else:
                    k = self._scan_idle(k, b1, zero_changes)
            if self.tolerance_n is not None:
                self._tolerance(b0, b1, zero_at_b0, zero_changes)

    def _break(self, at_pos: int) -> None:
        """A long gap: end what is in progress at the last sample before it."""
        if self._hold is not None:
            self._end_hold(self._last_valid_pos, "gap", at_pos)
        self._capped = None
        if self._tol.active:
            self._end_tol(self._last_valid_pos, emit_pos=at_pos)

    def _trim(self) -> None:
        keep = self._pos - self._keep
        if self._hold is not None:
            keep = min(keep, self._hold.start - self._ramp - 4 * self._h - 2)
        if self._capped is not None:
            keep = min(keep, self._pos - self._capped_keep)
        self._buf.trim(max(keep, self._buf.base))

    # ------------------------------------------------------------------ IDLE
    def _scan_idle(self, k: int, q: int, zero_changes) -> int:
        p = self.params
        W = self._W
        lo = max(k, self._scan_floor + W - 1, self._seg_start + W - 1)
        if lo >= q:
            return q
        s = self._buf.get("s", lo - W + 1, q)
        if s.size == W:
            rmax = np.array([s.max()])
            rmin = np.array([s.min()])
        else:
            win = sliding_window_view(s, W)
            rmax = win.max(axis=1)
            rmin = win.min(axis=1)
        mid = 0.5 * (rmax + rmin)
        z = self.zero_n
        band = np.maximum(p.settle_band_pct / 100.0 * np.abs(mid - z), p.settle_band_n)
        settled = (rmax - rmin) <= band
        if self._zero_acquired:
            rest = settled & (mid - z < p.rest_band_n)
            cand = settled & (mid - z >= p.min_hold_level_n)
        else:
            rest = settled & (np.abs(mid) <= p.max_zero_offset_n)
            cand = settled & (mid > p.max_zero_offset_n) & (mid >= p.min_hold_level_n)
        ci = int(np.argmax(cand)) if cand.any() else -1
        lim = ci if ci >= 0 else mid.size
        rp = np.flatnonzero(rest[:lim])
        if rp.size:
            brk = np.flatnonzero(np.diff(rp) != 1)
            rs = int(rp[brk[-1] + 1]) if brk.size else int(rp[0])
            vals = mid[rs : int(rp[-1]) + 1]
            if rs == 0 and self._rest_last == lo - 1:
                vals = np.concatenate((self._rest_vals, vals))
            self._rest_vals = vals[-self._zero_bins :].copy()
            self._rest_last = lo + int(rp[-1])
        if ci < 0:
            return q
        c = lo + ci
        self._start_hold(c, zero_changes)
        return c + 1

    def _start_hold(self, c: int, zero_changes) -> None:
        p = self.params
        W = self._W
        if self._rest_vals.size:
            self.zero_n = float(np.median(self._rest_vals))
            self._zero_acquired = True
            self._rest_vals = np.empty(0)
            zero_changes.append((c, self.zero_n))
        z = self.zero_n
        level0 = float(np.median(self._buf.get("xf", c - W + 1, c + 1)))
        if level0 - z < p.min_hold_level_n:
            return
        # refine the start: first point after the last one outside the band around level0,
        # looking back from the start of the settle window.
        a = max(c - self._ramp, self._seg_start, self._prev_end + 1, self._buf.base + self._h)
        w0 = c - W + 1
        xs = self._smooth(a, c + 1, self._seg_start, c + 1)
        resid = xs[w0 - a :] - level0
        sd = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
        band = max(p.edge_pct / 100.0 * abs(level0 - z), 3.0 * sd, p.edge_n)
        out = np.flatnonzero(np.abs(xs[: w0 - a + 1] - level0) > band)
        if out.size:
            start = a + int(out[-1]) + 1
            truncated = False
        else:
            start = a
            truncated = a == self._seg_start
        hs = _HoldState(kd=c, start=start, level0=level0, zero=z, truncated=truncated, prev_end=self._prev_end)
        hs.exc_lastfalse = c
        hs.drift_lastfalse = c
        hs.ref_pos = start + self._Wd - 1
        if hs.ref_pos <= c:
            hs.ref = self._ref_level(start)
        steps = (c + 1 - start + self._progress - 1) // self._progress
        hs.next_progress = start + max(1, steps) * self._progress
        hs.cap = max(start + self._max_hold, c + 1)
        self._hold = hs
        self._emit(c, HoldStarted(time_s=self._time(c), start_s=self._time(start), level_N=level0 - z))

    def _ref_level(self, start: int) -> float:
        x = self._buf.get("x", start, start + self._Wd)
        v = x[np.isfinite(x)]
        if v.size:
            return float(v.mean())
        return self._hold.level0 if self._hold else float(self._buf.at("xf", start))

    # ------------------------------------------------------------------ HOLD
    def _exit(self, h: _HoldState, k: int, q: int) -> _ExitTest:
        """Excursion / motion test over [k, q) against the level 2 s (``_D``) earlier."""
        p = self.params
        ks = np.arange(k, q)
        anc = np.maximum(ks - self._D, h.kd)
        A = self._buf.s[anc - self._buf.base]
        sk = self._buf.get("s", k, q)
        thr = np.maximum(p.exit_pct / 100.0 * np.abs(A - h.zero), p.exit_n)
        exc = np.abs(sk - A) > thr
        lf = np.maximum.accumulate(np.where(exc, h.exc_lastfalse, ks))
        hits = np.flatnonzero(ks - lf >= self._confirm)
        e_i = int(hits[0]) if hits.size else -1
        e0 = int(lf[e_i]) + 1 if e_i >= 0 else -1
        m_i, m0 = self._motion(h, k, q)
        if m_i >= 0 and (e_i < 0 or m_i < e_i):
            e_i, e0 = m_i, m0
        return _ExitTest(ks, A, sk, exc, lf, e_i, e0)

    def _run_capped(self, k: int, q: int) -> int:
        """After a hold was ended at max_hold_s: wait, silently, until the same rules that
        would have ended it fire (release, step, motion); then scanning resumes."""
        h = self._capped
        t = self._exit(h, k, q)
        if t.e_i < 0:
            h.exc_lastfalse = int(t.lf[-1])
            return q
        self._capped = None
        self._scan_floor = max(self._scan_floor, t.e0)
        return k + t.e_i + 1

    def _run_hold(self, k: int, q: int) -> int:
        p = self.params
        h = self._hold
        z = h.zero
        # the hold is ended at h.cap unless a change ends it first: decide up to h.cap only
        capping = h.cap < q
        if capping:
            q = h.cap + 1
        ks, A, sk, exc, lf, e_i, e0 = self._exit(h, k, q)
        lim = e_i + 1 if e_i >= 0 else ks.size
        if capping and e_i < 0:
            lim -= 1  # nothing of the hold is reported at the bin where it is ended
        if h.ref is None and h.ref_pos < q:
            h.ref = self._ref_level(h.start)
            # the drift condition can only hold from ref_pos on: its confirmation run must
            # not count from an earlier position (else the chunking would change the result)
            h.drift_lastfalse = max(h.drift_lastfalse, h.ref_pos - 1)
        # live drift warning
        if h.ref is not None and not h.warned:
            refn = h.ref - z
            # drift, not a change under way: beyond the limit from the reference, no
            # excursion, and not reached within the last exit_lookback_s alone (a step
            # ramped over 1-2 s passes the limit before its excursion is confirmed)
            recent = np.abs(sk - A) < np.maximum(p.drift_limit_pct / 100.0 * np.abs(A - z), p.exit_n)
            cond = (ks >= h.ref_pos) & (np.abs(sk - h.ref) >= p.drift_limit_pct / 100.0 * abs(refn)) & ~exc & recent
            dlf = np.maximum.accumulate(np.where(cond, h.drift_lastfalse, ks))
            drun = ks - dlf
            wh = np.flatnonzero(drun[:lim] >= self._dconfirm) if lim > 0 else np.empty(0, dtype=np.int64)
            if wh.size:
                w = k + int(wh[0])
                lvl = float(self._buf.at("s", w)) - z
                h.warned = True
                self._emit(w, DriftWarning(time_s=self._time(w), start_s=self._time(h.start),
                                           drift_pct=100.0 * (lvl - refn) / refn if refn else 0.0,
                                           level_N=lvl, reference_N=refn))
            elif lim > 0:
                h.drift_lastfalse = int(dlf[lim - 1])
        # progress
        while h.next_progress < k + lim:
            self._progress_event(h.next_progress)
            h.next_progress += self._progress
        if e_i < 0:
            h.exc_lastfalse = int(lf[-1])
            if capping:
                self._end_hold(h.cap, "max_duration", h.cap)
                self._capped = h
            return q
        e1 = k + e_i
        end = self._refine_end(e0, e1)
        self._end_hold(end, "change", e1)
        self._scan_floor = end + 1
        return e1 + 1

    def _motion(self, h: _HoldState, k: int, q: int) -> tuple[int, int]:
        """First index (relative to k) where the force has been off level too much of the
        motion window, and the first off-level position of that window; (-1, -1) if none."""
        p = self.params
        kd, Wm, Wc = h.kd, self._Wm, self._Wc
        o0 = max(kd, k - Wc + 1)  # off flags needed from here
        m0 = max(kd, o0 - Wm + 1)  # s needed from here
        ss = self._buf.get("s", m0, q)
        cs = np.concatenate(([0.0], np.cumsum(ss)))
        P = np.arange(o0, q)
        lo = np.maximum(P - Wm + 1, kd)
        mean = (cs[P - m0 + 1] - cs[lo - m0]) / (P - lo + 1)
        sp = ss[o0 - m0 :]
        off = np.abs(sp - mean) > np.maximum(p.motion_pct / 100.0 * np.abs(mean - h.zero), p.exit_n)
        oc = np.concatenate(([0], np.cumsum(off)))
        K = np.arange(k, q)
        first = np.maximum(K - Wc + 1, o0)
        count = oc[K - o0 + 1] - oc[first - o0]
        hits = np.flatnonzero(count >= self._motion_count)
        if not hits.size:
            return -1, -1
        i = int(hits[0])
        w0 = int(first[i]) - o0
        e0 = o0 + w0 + int(np.argmax(off[w0 : K[i] - o0 + 1]))
        return i, e0

    def _progress_event(self, pos: int) -> None:
        h = self._hold
        z = h.zero
        x = self._buf.get("x", h.start, pos + 1)
        v = x[np.isfinite(x)] - z
        if not v.size:
            return
        mean = float(v.mean())
        cv = 100.0 * float(v.std(ddof=1)) / mean if v.size > 1 and mean > 0 else 0.0
        drift = None
        if h.ref is not None and pos >= h.ref_pos:
            xl = self._buf.get("x", max(h.start, pos + 1 - self._Wd), pos + 1)
            vl = xl[np.isfinite(xl)]
            refn = h.ref - z
            if vl.size and refn:
                drift = 100.0 * (float(vl.mean()) - h.ref) / refn
        self._emit(pos, HoldProgress(time_s=self._time(pos), start_s=self._time(h.start),
                                     elapsed_s=self._time(pos) - self._time(h.start),
                                     level_N=float(self._buf.at("s", pos)) - z,
                                     mean_N=mean, cv_pct=cv, drift_pct=drift))

    def _refine_end(self, e0: int, e1: int) -> int:
        """Last point of the plateau before the excursion that started at e0 (confirmed at e1).

        The excursion was judged against the force ``exit_lookback_s`` before e0 (the anchor),
        so the plateau is known to be there even when the change is a slow ramp (a step over
        1-2 s is confirmed well into the ramp). The plateau level is measured at the anchor;
        the end is the last point within the edge band of it before the excursion. The level
        is then re-measured over the second before that end and the search repeated, so slow
        drift between the anchor and the end does not cut the hold short.
        """
        h = self._hold
        fs = self.fs
        start = h.start
        lo = max(start, self._buf.base + self._h)
        anchor = max(start, e0 - self._D)
        s1 = min(e0 + self._h + 1, e1 + 1)
        if s1 - anchor < 2:
            return max(start, e0 - int(round(0.1 * fs)))
        xs = self._smooth(anchor, s1, lo, e1 + 1)
        half = int(round(0.25 * fs))
        w0, w1 = max(start, anchor - half), min(e0, anchor + half + 1)
        end = -1
        for _ in range(6):
            if w1 - w0 < 1:
                break
            level, band = self._level_band(w0, w1, lo, e1 + 1)
            inb = np.flatnonzero(np.abs(xs - level) <= band)
            if not inb.size:
                break
            c = anchor + int(inb[-1])
            if c == end:
                break
            end = c
            w0, w1 = max(start, c - int(round(1.0 * fs))), c + 1
        if end >= 0:
            return end
        return max(start, e0 - int(round(0.1 * fs)))

    def _level_band(self, w0: int, w1: int, lo: int, hi: int) -> tuple[float, float]:
        """Plateau level (median of xf over [w0, w1)) and the edge band around it."""
        p = self.params
        level = float(np.median(self._buf.get("xf", w0, w1)))
        resid = self._smooth(w0, w1, lo, hi) - level
        sd = 1.4826 * float(np.median(np.abs(resid - np.median(resid)))) if resid.size > 2 else 0.0
        band = max(p.edge_pct / 100.0 * abs(level - self._hold.zero), 3.0 * sd, p.edge_n)
        return level, band

    def _end_hold(self, end: int, reason: str, at_pos: int, emit_pos: int | None = None) -> None:
        h = self._hold
        self._hold = None
        emit_pos = at_pos if emit_pos is None else emit_pos
        t_start, t_end = self._time(h.start), self._time(end)
        if end <= h.start or t_end - t_start < self.params.min_hold_s:
            # not a hold: it does not bound the look-back of the next hold's start and ramp
            self._emit(emit_pos, HoldDiscarded(time_s=self._time(at_pos) if at_pos < self._pos else t_end,
                                               start_s=t_start, end_s=t_end))
            return
        self._prev_end = end
        hold = self._metrics(h, end, reason)
        self.holds.append(hold)
        self._emit(emit_pos, HoldEnded(time_s=self._time(at_pos) if at_pos < self._pos else t_end, hold=hold))

    def _metrics(self, h: _HoldState, end: int, reason: str) -> Hold:
        from .metrics import hold_metrics

        return hold_metrics(self, h, end, reason)

    # ------------------------------------------------------------------ tolerance
    def _tolerance(self, p: int, q: int, zero_at_p: float, zero_changes) -> None:
        tol = self.tolerance_n
        prm = self.params
        low = tol - max(prm.tolerance_hysteresis_pct / 100.0 * tol, prm.tolerance_hysteresis_n)
        zk = np.full(q - p, zero_at_p)
        for pos, zv in zero_changes:
            zk[pos - p :] = zv
        fn = self._buf.get("f", p, q) - zk
        st = self._tol
        if not st.active and not (fn > tol).any():
            return
        xn = self._buf.get("x", p, q) - zk
        i = 0
        n = q - p
        while i < n:
            if not st.active:
                hits = np.flatnonzero(fn[i:] > tol)
                if not hits.size:
                    return
                i += int(hits[0])
                st.active = True
                st.start = st.last_above = st.lastnb = p + i
                st.start_t = st.last_above_t = self._time(p + i)
                # the raw bins that pushed the filtered force over lie up to the filter's
                # reach before the alert (a short poke may be falling again by then), and
                # the filtered force itself is over: the peak is never below the tolerance
                b = max(p + i - self._tol_back, self._seg_start, self._buf.base)
                xb = self._buf.get("x", b, p + i) - zk[i]
                xb = xb[np.isfinite(xb)]
                st.peak = float(xb.max()) if xb.size else -math.inf
                st.fpeak = float(fn[i])
                self._emit(p + i, OverToleranceStarted(time_s=self._time(p + i), level_N=float(fn[i]),
                                                       tolerance_N=tol))
            seg = fn[i:]
            ks = np.arange(p + i, q)
            lf = np.maximum.accumulate(np.where(seg < low, st.lastnb, ks))
            run = ks - lf
            hits = np.flatnonzero(run >= self._tol_release)
            stop = int(hits[0]) + 1 if hits.size else seg.size
            above = np.flatnonzero(seg[:stop] > tol)
            if above.size:
                st.last_above = p + i + int(above[-1])
                st.last_above_t = self._time(st.last_above)
            xs = xn[i : i + stop]
            xs = xs[np.isfinite(xs)]
            if xs.size:
                st.peak = max(st.peak, float(xs.max()))
            st.fpeak = max(st.fpeak, float(seg[:stop].max()))
            if not hits.size:
                st.lastnb = int(lf[-1])
                return
            i += stop
            self._end_tol(p + i - 1)

    def _end_tol(self, at_pos: int, emit_pos: int | None = None) -> None:
        st = self._tol
        st.active = False
        # the raw peak; if the raw bins never reached the tolerance (only the filter's
        # overshoot did), the filtered peak, so that peak_N >= tolerance always
        peak = st.peak if st.peak >= self.tolerance_n else st.fpeak
        ep = OverTolerance(start_s=st.start_t, end_s=st.last_above_t + 0.5 * self.dt,
                           peak_N=peak if math.isfinite(peak) else float("nan"))
        self.over_tolerance.append(ep)
        emit_pos = at_pos if emit_pos is None else emit_pos
        self._emit(emit_pos, OverToleranceEnded(time_s=self._time(at_pos), start_s=ep.start_s, end_s=ep.end_s,
                                              peak_N=ep.peak_N))


def estimate_rate_hz(time_s: np.ndarray) -> float:
    """Typical sample rate: 1 / median interval (gaps do not bias it)."""
    t = np.asarray(time_s, dtype=np.float64)
    if t.size < 2:
        return float("nan")
    if t.size > 200_000:  # median over evenly spread blocks is plenty and 20x cheaper
        step = t.size // 50
        d = np.concatenate([np.diff(t[i : i + 2000]) for i in range(0, t.size - 2000, step)])
    else:
        d = np.diff(t)
    med = float(np.median(d))
    return 1.0 / med if med > 0 else float("nan")


def analyze_holds(
    time_s,
    force_n,
    params: HoldParams | None = None,
    tolerance_n: float | None = None,
    target_band_n: tuple[float, float] | None = None,
) -> HoldAnalysis:
    """Run the online engine over a whole recording (one chunk) and collect the results."""
    params = params or HoldParams()
    t = np.asarray(time_s, dtype=np.float64)
    f = np.asarray(force_n, dtype=np.float64)
    eng = HoldEngine(params, tolerance_n, target_band_n)
    events = eng.feed(t, f)
    events += eng.finish()
    return HoldAnalysis(holds=list(eng.holds), over_tolerance=list(eng.over_tolerance), events=events,
                        sample_rate_hz=estimate_rate_hz(t), tolerance_n=eng.tolerance_n,
                        target_band_n=eng.target_band_n, params=params)
