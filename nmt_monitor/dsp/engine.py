"""The hold engine: one online state machine, driven live chunk by chunk or over a whole recording.

Pipeline (docs/metrics.md has the reasons):

1. samples -> 20 ms bin means (``Binner``; any input rate, time that may repeat but never goes
   back). Empty bins within the data's own sampling interval (a 10 Hz gauge) are interpolated
   and count as data (``SampleSpacing``); beyond it they are missing (filters see the last
   value, metrics skip them); a gap over ``max_gap_s`` ends a segment: the hold in progress
   ends, the filters restart, nothing is invented.
2. two causal 2nd-order Butterworth low-passes with carried state: ``s`` (2 Hz) for hold
   decisions, ``f`` (6 Hz, ~40 ms delay) for tolerance and target band.
3. the zero, learnt from the signal while no hold is in progress (``ZeroTracker``: quiet,
   flat stretches that could not be a hold), and written per bin, so tolerance and every
   band are judged on net force.
4. an explicit state machine (IDLE / HOLD) evaluated vectorised over blocks of bins: Python
   only runs per state change, per event and per block, never per sample. Every band is
   relative to the level, floored by the sensor's own noise (``HoldEngine._band``).
5. hold boundaries are refined on the buffered past (a centred 0.1 s moving average), using
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
)
from .buffer import BinBuffer
from .filters import Binner, LowPass, SampleSpacing
from .metrics import Approach, HoldSpan, hold_metrics
from .params import HoldParams
from .tolerance import ToleranceTracker
from .zero import ZeroTracker

# The start's band: this many robust SDs of the plateau's own wander (or edge_pct of it).
EDGE_SDS = 3.0

_UNCHANGED = object()  # HoldEngine.configure: leave this setting as it is

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

    positions: np.ndarray  # bin positions k..q-1
    anchor_n: np.ndarray  # the 2 Hz force exit_lookback earlier (not before the hold was seen)
    smooth_n: np.ndarray  # the 2 Hz force at the positions
    excursion: np.ndarray  # for each bin, where the excursion it is in began (-1: not in one)
    excursion_state: tuple[int, float]  # (start, level before it) of one still open at q, or (-1, 0)
    confirmed: int  # index (relative to k) where a release/step/motion is confirmed, or -1
    change_start: int  # position where that change began, or -1
    unloaded: bool = False  # the change is the force found quiet at the unloaded level


@dataclass(frozen=True)
class _BinCounts:
    """The engine's time parameters as whole numbers of envelope bins."""

    settle: int  # settle_window_s
    exit_lookback: int  # exit_lookback_s
    correction: int  # max_correction_s: an excursion longer than this ends a hold
    motion_level: int  # motion_level_s
    motion_window: int  # motion_window_s
    motion_count: int  # off-level bins in motion_window that make motion
    drift_window: int  # drift_window_s
    drift_guard: int  # drift_guard_s
    drift_confirm: int  # drift_confirm_s
    progress: int  # progress_interval_s
    max_gap: int  # max_gap_s: a longer run of empty bins ends a segment
    edge_half: int  # half-width of the edge smoother (edge_smooth_s)
    ramp_lookback: int  # ramp_lookback_s
    rest_window: int  # rest_window_s
    rest_confirm: int  # rest_confirm_s
    tol_release: int  # tolerance_release_s
    tol_back: int  # reach of the alert filter: raw bins behind an alert
    max_hold: int  # max_hold_s
    one_second: int
    quarter_second: int
    tenth_second: int
    step_confirm: int  # step_confirm_s: a change to a new level (not a release) lasts this
    settle_hold: int  # the force stays in the edge band this long from the start
    start_revision: int  # start_revision_s
    zero_track_grid: int  # one zero-track point per this many bins of a rest

    @classmethod
    def of(cls, p: HoldParams) -> _BinCounts:
        fs = p.envelope_rate_hz

        def bins(seconds: float, minimum: int = 1) -> int:
            return max(minimum, int(round(seconds * fs)))

        motion_window = bins(p.motion_window_s)
        return cls(
            settle=bins(p.settle_window_s, 3), exit_lookback=bins(p.exit_lookback_s),
            correction=bins(p.max_correction_s), motion_level=bins(p.motion_level_s),
            motion_window=motion_window, motion_count=max(1, int(math.ceil(p.motion_fraction * motion_window))),
            drift_window=bins(p.drift_window_s), drift_guard=int(round(p.drift_guard_s * fs)),
            drift_confirm=bins(p.drift_confirm_s),
            progress=bins(p.progress_interval_s), max_gap=int(math.floor(p.max_gap_s * fs + 1e-9)),
            edge_half=max(1, int(round(p.edge_smooth_s * fs / 2))), ramp_lookback=bins(p.ramp_lookback_s),
            rest_window=bins(p.rest_window_s, 3), rest_confirm=bins(p.rest_confirm_s), tol_release=bins(p.tolerance_release_s), tol_back=bins(0.15),
            max_hold=bins(p.max_hold_s), one_second=bins(1.0), quarter_second=bins(0.25),
            tenth_second=bins(0.1), step_confirm=bins(p.step_confirm_s), settle_hold=bins(0.3), start_revision=bins(p.start_revision_s), zero_track_grid=bins(1.0),
        )

    @property
    def keep(self) -> int:
        """Bins kept behind the current position while idle (ramp look-back, windows, slack)."""
        return max(self.ramp_lookback + 2 * self.settle + self.exit_lookback + 4 * self.edge_half,
                   self.rest_window) + 8

    @property
    def capped_keep(self) -> int:
        """Bins a capped hold still reads behind the current position (exit and motion tests)."""
        return self.exit_lookback + self.motion_window + self.motion_level + 8


@dataclass
class _HoldState:
    detected: int  # position where the plateau was detected (hold_started)
    start: int
    level0: float  # settled level (gross)
    zero: float
    ref: float | None = None  # gross level over the first drift window
    ref_pos: int = 0
    exc_start: int = -1  # position where the excursion under way began (-1: none)
    exc_anchor: float = 0.0  # the level (gross) before it
    quiet_lastfalse: int = 0
    drift_lastfalse: int = 0
    warned: bool = False
    next_progress: int = 0
    truncated: bool = False
    prev_end: int = -1
    cap: int = 0  # position where the hold reaches max_hold_s and is ended
    revised: bool = False  # the start has been decided again (``HoldEngine._revise_start``)


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
    #: (time_s, zero_N): where the zero was learnt or moved (``HoldEngine.zero_track``)
    zero_track: list = field(default_factory=list)

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
        *,
        live_updates: bool = True,
    ) -> None:
        p = params or HoldParams()
        self.params = p
        #: emit ``hold_progress`` events (a display needs them; a batch analysis does not, and
        #: an hour of them costs as much as the rest of the analysis)
        self.live_updates = live_updates
        self.tolerance_n = None if tolerance_n is None else float(tolerance_n)
        self.target_band_n = None if target_band_n is None else (float(target_band_n[0]), float(target_band_n[1]))
        fs = p.envelope_rate_hz
        self.fs = fs
        self.dt = 1.0 / fs
        self.bins = _BinCounts.of(p)

        self._binner = Binner(self.dt)
        self._spacing = SampleSpacing(p.sampling_gap_factor, self.bins.max_gap + 1)
        self._lp_s = LowPass(p.smooth_cutoff_hz, fs)
        self._lp_f = LowPass(p.alert_cutoff_hz, fs)
        self._buf = BinBuffer()
        self._pos = 0
        self._seg_start = 0
        self._last_j: int | None = None
        self._last_x = 0.0
        self._last_valid_pos = -1
        self._finished = False

        self._zero = ZeroTracker(p, self.bins.rest_window, self.bins.rest_confirm, self.dt)
        self._scan_floor = 0
        self._prev_end = -1
        # after a hold: its level, and the lowest the (net, smoothed) force has been since
        self._landing_from_n: float | None = None
        self._landing_low_n = math.inf
        self._hold: _HoldState | None = None
        # a hold ended at max_hold_s: its exit rules still run (no events), and no new hold
        # starts until they fire (the force has left that level)
        self._capped: _HoldState | None = None
        self._tol: ToleranceTracker | None = None
        self._tol_for: float | None = None

        self.holds: list[Hold] = []
        #: (time_s, zero_N) where the zero was learnt or moved: the session's zero track
        self.zero_track: list[tuple[float, float]] = []
        self._out: list[tuple[int, int, Event]] = []

    # ------------------------------------------------------------------ public API
    @property
    def in_hold(self) -> bool:
        return self._hold is not None

    @property
    def over_tolerance_active(self) -> bool:
        return self._tol is not None and self._tol.active

    @property
    def over_tolerance(self) -> list[OverTolerance]:
        return self._tol.episodes if self._tol is not None else []

    @property
    def zero_n(self) -> float:
        """The zero now (the sensor's reading with nothing on it, estimated from the signal)."""
        return self._zero.zero_n

    @property
    def sample_count(self) -> int:
        return self._binner.n_samples

    def configure(self, *, tolerance_n=_UNCHANGED, target_band_n=_UNCHANGED, target_hold_s=_UNCHANGED) -> list[Event]:
        """Change the client's limits during a session; they apply to every bin completed
        from now on (the open bin included). An over-tolerance episode under way ends at the
        last completed bin when the tolerance changes. Returns the events this caused.

        ``analyze_holds(..., changes=...)`` replays the same changes at the same times, so a
        recording re-analysed later gives what the live session showed."""
        if tolerance_n is not _UNCHANGED:
            tolerance_n = None if tolerance_n is None else float(tolerance_n)
            if tolerance_n != self.tolerance_n:
                if self.over_tolerance_active and self._pos > 0:
                    self._emit(self._pos - 1, self._tol.end(self._time(self._pos - 1)))
                self.tolerance_n = tolerance_n
        if target_band_n is not _UNCHANGED:
            self.target_band_n = None if target_band_n is None else (float(target_band_n[0]), float(target_band_n[1]))
        if target_hold_s is not _UNCHANGED:
            self.params = self.params.replace(target_hold_s=None if target_hold_s is None else float(target_hold_s))
        return self._drain()

    def feed(self, time_s, force_n) -> list[Event]:
        """Process one chunk of samples (time in s, never going backwards; force in N)."""
        if self._finished:
            raise RuntimeError("HoldEngine.feed() after finish()")
        t = np.asarray(time_s, dtype=np.float64).reshape(-1)
        f = np.asarray(force_n, dtype=np.float64).reshape(-1)
        if t.shape != f.shape:
            raise ValueError("time_s and force_n must have the same length")
        jb, xb, cb = self._binner.push(t, f)
        if jb.size:
            self._ingest(jb, xb, cb)
        return self._drain()

    def finish(self) -> list[Event]:
        """End of data: close the last bin, end a hold or over-tolerance still in progress."""
        if self._finished:
            return []
        jb, xb, cb = self._binner.push(np.empty(0), np.empty(0), final=True)
        if jb.size:
            self._ingest(jb, xb, cb)
        self._finished = True
        at = self._pos - 1
        if self._hold is not None:
            self._end_hold(self._last_valid_pos, "end_of_data", at)
        if self.over_tolerance_active:
            self._emit(at, self._tol.end(self._time(at)))
        return self._drain()

    # ------------------------------------------------------------------ helpers
    def _time(self, pos: int) -> float:
        return self._binner.t0 + float(self._buf.at("j", pos)) * self.dt  # bin centre

    def _times(self, p0: int, p1: int) -> np.ndarray:
        return self._binner.t0 + self._buf.get("j", p0, p1).astype(np.float64) * self.dt

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
        h = self.bins.edge_half
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
    def _ingest(self, jb: np.ndarray, xb: np.ndarray, cb: np.ndarray) -> None:
        prev = self._last_j
        if prev is None:
            gaps = np.diff(jb, prepend=jb[0]) - 1
            gaps[0] = 0
        else:
            gaps = np.diff(jb, prepend=prev) - 1
        sampling = gaps <= self._spacing.allowed_empty(gaps, cb)
        long_gap = gaps > self.bins.max_gap
        if prev is None:
            long_gap[0] = True  # the very first bin starts a segment
        breaks = np.flatnonzero(long_gap)
        bounds = list(breaks) + [jb.size]
        if not breaks.size or breaks[0] != 0:
            bounds = [0] + bounds
        for i0, i1 in zip(bounds[:-1], bounds[1:]):
            if i0 == i1:
                continue
            self._segment(jb[i0:i1], xb[i0:i1], gaps[i0:i1].copy(), sampling[i0:i1], bool(long_gap[i0]))
        self._last_j = int(jb[-1])
        self._last_x = float(xb[-1])
        self._trim()

    def _segment(self, jb, xb, gaps, sampling, new_segment: bool) -> None:
        if new_segment:
            gaps[0] = 0
            if self._pos > 0:
                self._break(self._pos)
            self._seg_start = self._pos
            self._scan_floor = self._pos
            self._zero.break_run()
            self._lp_s.reset(float(xb[0]))
            self._lp_f.reset(float(xb[0]))
            prev_x = float(xb[0])
        else:
            prev_x = self._last_x
        n = jb.size
        if gaps.any():
            # empty bins: within the data's own sampling interval they are interpolated
            # between the samples around them (both known: a bin is emitted only once a later
            # one has data) and count as data; beyond it they are missing: the filters see
            # the last value, the metrics skip them
            reps = gaps + 1
            total = int(reps.sum())
            idx = np.repeat(np.arange(n), reps)
            first = np.cumsum(reps) - reps
            within = np.arange(total) - np.repeat(first, reps)
            j = jb[idx] - gaps[idx] + within
            data = within == gaps[idx]
            prevs = np.concatenate(([prev_x], xb[:-1]))[idx]
            nexts = xb[idx]
            interp = np.where(data, nexts, prevs + (nexts - prevs) * (within + 1) / reps[idx])
            valid = data | sampling[idx]
            xf = np.where(valid, interp, prevs)
            x = np.where(valid, xf, np.nan)
        else:
            j, x, xf = jb, xb, xb
            valid = np.ones(n, dtype=bool)
        s = self._lp_s(xf)
        f = self._lp_f(xf)
        p = self._pos
        q = p + j.size
        self._buf.append(j, x, xf, s, f, valid)
        self._pos = q
        nan = math.nan
        band = self.target_band_n or (nan, nan)
        self._buf.fill("tol", p, q, nan if self.tolerance_n is None else self.tolerance_n)
        self._buf.fill("blo", p, q, band[0])
        self._buf.fill("bhi", p, q, band[1])
        lv = np.flatnonzero(valid)
        if lv.size:
            self._last_valid_pos = p + int(lv[-1])
        # state machine over [p, q), in blocks so that each state change costs O(block),
        # not O(rest of the recording); results do not depend on the block size
        for b0 in range(p, q, _BLOCK):
            b1 = min(q, b0 + _BLOCK)
            k = b0
            while k < b1:
                if self._hold is not None:
                    k = self._run_hold(k, b1)
                elif self._capped is not None:
                    k = self._run_capped(k, b1)
                else:
                    k = self._scan_idle(k, b1)
            if self.tolerance_n is not None:
                self._tolerance(b0, b1)

    def _break(self, at_pos: int) -> None:
        """A long gap: end what is in progress at the last sample before it."""
        if self._hold is not None:
            self._end_hold(self._last_valid_pos, "gap", at_pos)
        self._capped = None
        if self.over_tolerance_active:
            self._emit(at_pos, self._tol.end(self._time(self._last_valid_pos)))

    def _trim(self) -> None:
        b = self.bins
        keep = self._pos - b.keep
        if self._hold is not None:
            keep = min(keep, self._hold.start - b.ramp_lookback - 4 * b.edge_half - 2)
        if self._capped is not None:
            keep = min(keep, self._pos - b.capped_keep)
        self._buf.trim(max(keep, self._buf.base))

    # ------------------------------------------------------------------ IDLE
    def _band(self, level_net, pct: float, noise_sd_n=None):
        """The one rule for every band (settle, exit, motion, edge; docs/metrics.md "Bands"):
        ``pct`` % of the net level, never narrower than ``noise_band_sd`` SDs of the unloaded
        sensor's noise in the smoothed force, nor than ``band_floor_n``."""
        p = self.params
        noise = self._zero.noise_sd_n if noise_sd_n is None else noise_sd_n
        floor = np.maximum(p.band_floor_n, p.noise_band_sd * self._lp_s.noise_gain * noise)
        return np.maximum(pct / 100.0 * np.abs(level_net), floor)

    def _scan_idle(self, k: int, q: int) -> int:
        """No hold in progress: track the zero, and look for the force settling onto a plateau
        at least ``min_hold_level_n`` above it (a hold starts there)."""
        p = self.params
        b = self.bins
        W, Z = b.settle, b.rest_window
        zeros = np.full(q - k, self._zero.zero_n)
        noise = np.full(q - k, self._zero.noise_sd_n)
        rest = np.zeros(q - k, dtype=bool)
        zk = max(k, self._seg_start + Z - 1)  # positions with a whole rest window in the segment
        plan = None
        if zk < q:
            plan = self._zero.plan(zk, self._buf.get("s", zk - Z + 1, q), self._buf.get("xf", zk - Z + 1, q))
            zeros[zk - k :] = plan.zeros
            noise[zk - k :] = plan.noise_sd
            for i, end, _start, judge, follow in plan.runs:
                # rest, or quiet and not judged yet (no hold starts there: it may be the zero)
                stop = end if follow else {-2: i, -1: end}.get(judge, judge)
                rest[zk - k + i : zk - k + stop] = True
        c = -1
        lo = max(k, self._scan_floor + W - 1, self._seg_start + W - 1)
        if not self._zero.acquired:
            # nothing is known of the zero yet: a settled level may be an untared offset;
            # wait until a first rest could have been judged (quiet or steady: the zero)
            lo = max(lo, self._seg_start + Z - 1 + b.rest_confirm - 1)
        if lo < q:
            s = self._buf.get("s", lo - W + 1, q)
            if s.size == W:
                rmax = np.array([s.max()])
                rmin = np.array([s.min()])
            else:
                win = sliding_window_view(s, W)
                rmax = win.max(axis=1)
                rmin = win.min(axis=1)
            mid = 0.5 * (rmax + rmin)
            z = zeros[lo - k :]
            net = mid - z
            settled = (rmax - rmin) <= self._band(net, p.settle_band_pct, noise[lo - k :])
            cand = settled & (net >= p.min_hold_level_n) & ~rest[lo - k :]
            if self._landing_from_n is not None:
                # after a release: a plateau of a few N the force fell onto, below half of the
                # hold it left, is the hand resting on the sensor, not a new hold; a new hold
                # is approached from below (the force had gone under half of it since)
                low = np.minimum.accumulate(np.concatenate(([self._landing_low_n], s[W - 1 :] - z)))[1:]
                landed = ((net < min(0.5 * self._landing_from_n, p.resting_contact_max_n))
                          & (low >= 0.5 * net))
                # a steady few N after a hold ten times as heavy is a limb or a strap resting
                # on the sensor between efforts, however it got there
                landed |= net < min(0.1 * self._landing_from_n, 2.0 * p.resting_contact_max_n)
                cand &= ~landed
            if cand.any():
                c = lo + int(np.argmax(cand))
        upto = c if c >= 0 else q
        if self._landing_from_n is not None and upto > lo:
            sl = self._buf.get("s", lo, upto) - zeros[lo - k : upto - k]
            self._landing_low_n = min(self._landing_low_n, float(sl.min()))
        if plan is not None:
            self.zero_track.extend((self._time(pos), zero)
                                   for pos, zero in self._zero.commit(plan, upto, b.zero_track_grid))
        self._buf.set("z", k, zeros[: upto - k])
        if c < 0:
            return q
        self._start_hold(c)
        return c + 1

    def _start_hold(self, c: int) -> None:
        b = self.bins
        W = b.settle
        self._zero.break_run()
        z = self._zero.zero_n
        self._buf.fill("z", c, c + 1, z)
        level0 = float(np.median(self._buf.get("xf", c - W + 1, c + 1)))
        start, truncated = self._find_start(c, c - W + 1, c + 1, z)
        hs = _HoldState(detected=c, start=start, level0=level0, zero=z, truncated=truncated,
                        prev_end=self._prev_end)
        hs.quiet_lastfalse = c + b.rest_window - 2  # quiet runs start with the first whole window
        hs.drift_lastfalse = c
        self._set_start(hs, start, c)
        self._hold = hs
        self._emit(c, HoldStarted(time_s=self._time(c), start_s=self._time(start), level_N=level0 - z))

    def _set_start(self, h: _HoldState, start: int, now: int) -> None:
        """Make ``start`` the hold's start (decided at position ``now``): the drift reference,
        the progress grid and the length cap follow from it."""
        b = self.bins
        h.start = start
        h.ref = None
        h.ref_pos = start + b.drift_guard + b.drift_window - 1
        steps = (now + 1 - start + b.progress - 1) // b.progress
        h.next_progress = start + max(1, steps) * b.progress
        h.cap = max(start + b.max_hold, now + 1)

    def _find_start(self, c: int, w0: int, w1: int, z: float) -> tuple[int, bool]:
        """Where the approach settled onto the plateau seen over [w0, w1) (detected at c).

        The plateau's level is the median of the bin means over [w0, w1), its band edge_pct
        of it or 3 robust SDs of its own wander, whichever is wider (but not beyond motion_pct).
        The approach ends at its last
        point farther than three bands and exit_pct from the level (a bump that would not end a
        hold is the hold's own; an overshoot beyond the band is not); the start is the first
        point after that from which the lightly smoothed force stays inside the band for
        ``settle_hold``. Returns (start, truncated: the data began inside the hold)."""
        p = self.params
        b = self.bins
        a = max(c - b.ramp_lookback, self._seg_start, self._prev_end + 1, self._buf.base + b.edge_half)
        level = float(np.median(self._buf.get("xf", w0, w1)))
        xs = self._smooth(a, w1, self._seg_start, w1)
        resid = xs[w0 - a :] - level
        if resid.size >= b.one_second:  # its wander about its own trend, not the trend
            i = np.arange(resid.size) - 0.5 * (resid.size - 1)
            resid = resid - i * float(i @ resid) / float(i @ i)
        sd = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
        # a plateau wandering by more than motion_pct is not still: its band stops there
        band = max(float(self._band(level - z, p.edge_pct)),
                   min(EDGE_SDS * sd, p.motion_pct / 100.0 * abs(level - z)))
        dev = np.abs(xs - level)
        far = np.flatnonzero(dev[: c - a + 1] > max(3.0 * band, p.exit_pct / 100.0 * abs(level - z)))
        if far.size:
            i0 = int(far[-1]) + 1
            outside = np.concatenate((dev[i0:] > band, [True]))
            run_ends = np.flatnonzero(outside)
            run_starts = np.concatenate(([0], run_ends[:-1] + 1))
            ok = np.flatnonzero(run_ends - run_starts >= min(b.settle_hold, w1 - 1 - a - i0))
            if ok.size:
                return min(a + i0 + int(run_starts[ok[0]]), c), False
        out = np.flatnonzero(dev[: w0 - a + 1] > band)
        if out.size:
            return min(a + int(out[-1]) + 1, c), False
        return a, a == self._seg_start

    def _revise_start(self, h: _HoldState, at: int) -> None:
        """Once ``start_revision_s`` of the plateau has been seen after the detection (or the
        hold ends sooner), its level and wander are known better than in the settle window:
        the start is decided again from them (a real pull's plateau wanders by 5-10 %)."""
        h.revised = True
        start, truncated = self._find_start(h.detected, h.detected, at + 1, h.zero)
        if start >= h.start:
            # only ever earlier: a later start would be right for an approach still creeping
            # on, but real pulls wander by 5-10 % and drifting holds move from their first
            # second on, and both would then seem to start late
            return
        h.truncated = truncated
        self._set_start(h, start, at)

    def _ref_level(self, start: int) -> float:
        g = self.bins.drift_guard
        x = self._buf.get("x", start + g, start + g + self.bins.drift_window)
        v = x[np.isfinite(x)]
        if v.size:
            return float(v.mean())
        return self._hold.level0 if self._hold else float(self._buf.at("xf", start))

    # ------------------------------------------------------------------ HOLD
    def _exit(self, h: _HoldState, k: int, q: int) -> _ExitTest:
        """The tests that end a hold, over [k, q): excursion (release or step), motion, and the
        force found quiet at the unloaded level; the first to be confirmed wins."""
        ks = np.arange(k, q)
        anc = np.maximum(ks - self.bins.exit_lookback, h.detected)
        A = self._buf.s[anc - self._buf.base]
        sk = self._buf.get("s", k, q)
        exc, e_i, e0, state = self._excursion(h, k, A, sk)
        unloaded = False
        for rule, (m_i, m0) in enumerate((self._motion(h, k, q), self._unloaded(h, k, q))):
            if m_i >= 0 and (e_i < 0 or m_i < e_i):
                e_i, e0, unloaded = m_i, m0, rule == 1
        return _ExitTest(ks, A, sk, exc, state, e_i, e0, unloaded)

    def _excursion(self, h: _HoldState, k: int, A: np.ndarray, sk: np.ndarray):
        """Excursions over bins [k, k + len(sk)): the smoothed force leaving the level it had
        ``exit_lookback_s`` earlier by more than ``exit_pct``; from then on it is judged against
        that level (fixed). A release (below ``release_pct`` of it) is confirmed after
        ``max_correction_s``; a change to a new level once it has lasted ``step_confirm_s``;
        coming back within the band first makes it a correction.

        Returns (for each bin, where the excursion it is in began, -1 outside one; the index of
        the confirmation or -1; the position where that excursion began or -1; (start, level)
        of an excursion still open at the end)."""
        p = self.params
        b = self.bins
        n = sk.size
        began = np.full(n, -1, dtype=np.int64)  # where the excursion a bin is in began
        start, anchor = h.exc_start, h.exc_anchor
        i = 0
        while i < n:
            if start < 0:
                out = np.abs(sk[i:] - A[i:]) > self._band(A[i:] - h.zero, p.exit_pct)
                if not out.any():
                    return began, -1, -1, (-1, 0.0)
                i += int(np.argmax(out))
                start, anchor = k + i, float(A[i])
            seg = sk[i:]
            away = np.abs(seg - anchor) > float(self._band(anchor - h.zero, p.exit_pct))
            back = np.flatnonzero(~away)
            stop = int(back[0]) if back.size else seg.size
            run = k + i + np.arange(stop) - start + 1
            released = (seg[:stop] - h.zero) < p.release_pct / 100.0 * (anchor - h.zero)
            hits = np.flatnonzero(((run >= b.correction) & released) | (run >= b.step_confirm))
            began[i : i + stop] = start
            if hits.size:
                return began, i + int(hits[0]), start, (-1, 0.0)
            if not back.size:
                break
            start = -1  # back within the band: a correction
            i += stop
        return began, -1, -1, (start, anchor)

    def _unloaded(self, h: _HoldState, k: int, q: int) -> tuple[int, int]:
        """First index (relative to k) where the force has been quiet for ``rest_confirm_s``
        at a level the zero tracker takes for the unloaded sensor (nothing is pressing: a
        plateau seen before the zero was known, or the sensor's zero having wandered), and
        where that quiet stretch began; (-1, -1) if none. Updates ``h.quiet_lastfalse``."""
        Z = self.bins.rest_window
        first = max(k, h.detected + Z - 1)
        if first >= q:
            return -1, -1
        s = self._buf.get("s", first - Z + 1, q)
        lo_s, hi_s = float(s.min()), float(s.max())
        if not (self._zero.is_rest(lo_s) or self._zero.is_rest(hi_s) or (lo_s < 0.0 < hi_s and self._zero.is_rest(0.0))):
            # no window here can be at a rest level (the common case: a hold well above the
            # zero): no need to look at how quiet the force is
            h.quiet_lastfalse = q - 1
            return -1, -1
        quiet, level, _sigma = self._zero.quiet(s, self._buf.get("xf", first - Z + 1, q),
                                                first_zero=not self._zero.acquired)
        ks = np.arange(first, q)
        # quiet at a rest level, window after window
        lf = np.maximum.accumulate(np.where(quiet & self._zero.is_rest(level), h.quiet_lastfalse, ks))
        h.quiet_lastfalse = int(lf[-1])
        hits = np.flatnonzero(ks - lf >= self.bins.rest_confirm)
        if not hits.size:
            return -1, -1
        j = int(hits[0])
        return first - k + j, int(lf[j]) + 1 - Z + 1

    def _run_capped(self, k: int, q: int) -> int:
        """After a hold was ended at max_hold_s: wait, silently, until the same rules that
        would have ended it fire (release, step, motion); then scanning resumes."""
        h = self._capped
        self._buf.fill("z", k, q, h.zero)
        t = self._exit(h, k, q)
        if t.confirmed < 0:
            h.exc_start, h.exc_anchor = t.excursion_state
            return q
        self._capped = None
        self._scan_floor = max(self._scan_floor, t.change_start)
        return k + t.confirmed + 1

    def _run_hold(self, k: int, q: int) -> int:
        p = self.params
        b = self.bins
        h = self._hold
        z = h.zero
        if not h.revised:
            revise_at = h.detected + b.start_revision
            if k > revise_at:
                self._revise_start(h, revise_at)
            elif q > revise_at + 1:
                q = revise_at + 1  # stop there: the start is decided again at revise_at
        # the hold is ended at h.cap unless a change ends it first: decide up to h.cap only
        capping = h.cap < q
        if capping:
            q = h.cap + 1
        self._buf.fill("z", k, q, z)
        test = self._exit(h, k, q)
        ks, A, sk, exc = test.positions, test.anchor_n, test.smooth_n, test.excursion
        e_i = test.confirmed
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
            recent = np.abs(sk - A) < self._band(A - z, p.drift_limit_pct)
            cond = (ks >= h.ref_pos) & (np.abs(sk - h.ref) >= p.drift_limit_pct / 100.0 * abs(refn)) & (exc < 0) & recent
            dlf = np.maximum.accumulate(np.where(cond, h.drift_lastfalse, ks))
            drun = ks - dlf
            wh = np.flatnonzero(drun[:lim] >= b.drift_confirm) if lim > 0 else np.empty(0, dtype=np.int64)
            if wh.size:
                w = k + int(wh[0])
                lvl = float(self._buf.at("s", w)) - z
                h.warned = True
                self._emit(w, DriftWarning(time_s=self._time(w), start_s=self._time(h.start),
                                           drift_pct=100.0 * (lvl - refn) / refn if refn else 0.0,
                                           level_N=lvl, reference_N=refn))
            elif lim > 0:
                h.drift_lastfalse = int(dlf[lim - 1])
        # progress: on the grid, and at once when an excursion begins or comes back (figures
        # frozen where it began while it lasts)
        if e_i >= 0:
            lim = e_i  # nothing of the hold is reported at the bin where its end is known
        if lim > 0 and self.live_updates:
            starts = exc[:lim]
            # edges: where an excursion begins (or another begins as one ends) or ends
            edges = np.flatnonzero(np.diff(np.concatenate(([h.exc_start], starts))))
            due = set(range(h.next_progress, k + lim, b.progress)) | {k + int(i) for i in edges}
            for pos in sorted(due):
                self._progress_event(pos, int(starts[pos - k]))
        while h.next_progress < k + lim:
            h.next_progress += b.progress
        if e_i < 0:
            h.exc_start, h.exc_anchor = test.excursion_state
            if capping:
                self._end_hold(h.cap, "max_duration", h.cap)
                self._capped = h
            return q
        e1 = k + e_i
        if test.unloaded:  # nothing was pressing since change_start: the hold ends there
            end = max(h.start, test.change_start - 1)
        else:
            end = self._refine_end(test.change_start, e1)
        self._end_hold(end, "change", e1)
        self._scan_floor = end + 1
        return e1 + 1

    def _motion(self, h: _HoldState, k: int, q: int) -> tuple[int, int]:
        """First index (relative to k) where the force has been off level too much of the
        motion window, and the first off-level position of that window; (-1, -1) if none."""
        p = self.params
        kd, Wm, Wc = h.detected, self.bins.motion_level, self.bins.motion_window
        o0 = max(kd, k - Wc + 1)  # off flags needed from here
        m0 = max(kd, o0 - Wm + 1)  # s needed from here
        ss = self._buf.get("s", m0, q)
        cs = np.concatenate(([0.0], np.cumsum(ss)))
        P = np.arange(o0, q)
        lo = np.maximum(P - Wm + 1, kd)
        mean = (cs[P - m0 + 1] - cs[lo - m0]) / (P - lo + 1)
        sp = ss[o0 - m0 :]
        off = np.abs(sp - mean) > self._band(mean - h.zero, p.motion_pct)
        oc = np.concatenate(([0], np.cumsum(off)))
        K = np.arange(k, q)
        first = np.maximum(K - Wc + 1, o0)
        count = oc[K - o0 + 1] - oc[first - o0]
        hits = np.flatnonzero(count >= self.bins.motion_count)
        if not hits.size:
            return -1, -1
        i = int(hits[0])
        w0 = int(first[i]) - o0
        e0 = o0 + w0 + int(np.argmax(off[w0 : K[i] - o0 + 1]))
        return i, e0

    def _progress_event(self, pos: int, excursion_start: int = -1) -> None:
        """A hold_progress at ``pos``; with an excursion under way since ``excursion_start``,
        the figures are frozen where the hold would end if it is the release (the suspected
        end, found as ``hold_ended`` will find it, from the data so far)."""
        h = self._hold
        z = h.zero
        upto = pos if excursion_start < 0 else max(h.start, self._refine_end(excursion_start, pos))
        x = self._buf.get("x", h.start, upto + 1)
        v = x[np.isfinite(x)] - z
        if not v.size:
            return
        mean = float(v.mean())
        cv = 100.0 * float(v.std(ddof=1)) / mean if v.size > 1 and mean > 0 else 0.0
        drift = None
        if h.ref is not None and upto >= h.ref_pos:
            g = min(self.bins.drift_guard, max(0, (upto + 1 - h.start - self.bins.drift_window) // 2))
            xl = self._buf.get("x", max(h.start, upto + 1 - g - self.bins.drift_window), upto + 1 - g)
            vl = xl[np.isfinite(xl)]
            refn = h.ref - z
            if vl.size and refn:
                drift = 100.0 * (float(vl.mean()) - h.ref) / refn
        self._emit(pos, HoldProgress(time_s=self._time(pos), start_s=self._time(h.start),
                                     elapsed_s=self._time(upto) - self._time(h.start),
                                     level_N=float(self._buf.at("s", upto)) - z,
                                     mean_N=mean, cv_pct=cv, drift_pct=drift,
                                     suspect_end_s=None if excursion_start < 0 else self._time(upto)))

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
        b = self.bins
        start = h.start
        lo = max(start, self._buf.base + b.edge_half)
        anchor = max(start, e0 - b.exit_lookback)
        s1 = min(e0 + b.edge_half + 1, e1 + 1)
        if s1 - anchor < 2:
            return max(start, e0 - b.tenth_second)
        xs = self._smooth(anchor, s1, lo, e1 + 1)
        half = b.quarter_second
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
            w0, w1 = max(start, c - b.one_second), c + 1
        if end < 0:
            end = max(start, e0 - b.tenth_second)
        # the change begins where the force last turned towards it: walk back from e0 to the
        # last extreme on the plateau's side before it (a plateau that wanders by 5-10 %, as
        # real pulls do, can leave the edge band well before the release begins); a dip back
        # by more than the edge band ends the walk
        j = e0 - anchor
        if 0 < j < xs.size and w1 > w0:
            level, _band = self._level_band(w0, w1, lo, e1 + 1)
            tol = float(self._band(level - h.zero, self.params.edge_pct))
            y = (xs[: j + 1] - xs[j]) * math.copysign(1.0, level - xs[j])  # towards the plateau
            best = j
            while j > 0 and y[j - 1] >= y[best] - tol:
                j -= 1
                if y[j] > y[best]:
                    best = j
            end = max(end, min(anchor + best, e0 - 1))
        return end

    def _level_band(self, w0: int, w1: int, lo: int, hi: int) -> tuple[float, float]:
        """Plateau level (median of xf over [w0, w1)) and the edge band around it."""
        p = self.params
        level = float(np.median(self._buf.get("xf", w0, w1)))
        resid = self._smooth(w0, w1, lo, hi) - level
        sd = 1.4826 * float(np.median(np.abs(resid - np.median(resid)))) if resid.size > 2 else 0.0
        band = max(float(self._band(level - self._hold.zero, p.edge_pct)), 3.0 * sd)
        return level, band

    def _end_hold(self, end: int, reason: str, at_pos: int, emit_pos: int | None = None) -> None:
        h = self._hold
        if not h.revised and end > h.detected:
            self._revise_start(h, end)
        self._hold = None
        emit_pos = at_pos if emit_pos is None else emit_pos
        t_start, t_end = self._time(h.start), self._time(end)
        if end <= h.start or t_end - t_start < self.params.min_hold_s:
            # not a hold: it does not bound the look-back of the next hold's start and ramp
            self._emit(emit_pos, HoldDiscarded(time_s=self._time(at_pos) if at_pos < self._pos else t_end,
                                               start_s=t_start, end_s=t_end))
            return
        self._prev_end = end
        hold = hold_metrics(self._span(h, end, reason), self.params, *self._limits(h.start, end + 1))
        self.holds.append(hold)
        self._zero.hold_ended(hold.level_end_N)
        self._landing_from_n = hold.level_end_N if math.isfinite(hold.level_end_N) else None
        self._landing_low_n = math.inf
        self._emit(emit_pos, HoldEnded(time_s=self._time(at_pos) if at_pos < self._pos else t_end, hold=hold))

    def _limits(self, p0: int, p1: int):
        """The tolerance and target band over bins [p0, p1): None where there was none
        throughout, one value where it did not change, else per-bin arrays (a limit changed
        during the hold applies from that moment on)."""

        def per_bin(*names):
            arrays = [self._buf.get(n, p0, p1) for n in names]
            if all(np.isnan(a).all() for a in arrays):
                return None
            if all(np.all(a == a[0]) for a in arrays):
                return float(arrays[0][0]) if len(arrays) == 1 else tuple(float(a[0]) for a in arrays)
            return arrays[0] if len(arrays) == 1 else tuple(arrays)

        return per_bin("tol"), per_bin("blo", "bhi")

    def _span(self, h: _HoldState, end: int, reason: str) -> HoldSpan:
        """The data the metrics of the hold [h.start, end] are computed from."""
        b = self.bins
        approach = None
        if not h.truncated:
            a = max(h.start - b.ramp_lookback, self._seg_start, self._buf.base + b.edge_half, h.prev_end + 1)
            if h.start - a >= 2:
                hi = min(h.start + b.one_second, self._pos)
                approach = Approach(time_s=self._times(a, hi),
                                    force_n=self._smooth(a, hi, self._seg_start, hi) - h.zero,
                                    start_index=h.start - a)
        return HoldSpan(x=self._buf.get("x", h.start, end + 1), f=self._buf.get("f", h.start, end + 1),
                        zero_n=h.zero, start_s=self._time(h.start), end_s=self._time(end), bin_s=self.dt,
                        drift_window_bins=b.drift_window, ended_by=reason, truncated=h.truncated,
                        approach=approach)

    # ------------------------------------------------------------------ tolerance
    def _tolerance(self, p: int, q: int) -> None:
        tol = self.tolerance_n
        if self._tol is None or self._tol_for != tol:
            prm = self.params
            hyst = max(prm.tolerance_hysteresis_pct / 100.0 * tol, prm.tolerance_hysteresis_n)
            old = self._tol
            self._tol = ToleranceTracker(tol, hyst, self.bins.tol_release, self.bins.tol_back, self.dt)
            if old is not None:  # the tolerance was changed: keep what was found so far
                self._tol.episodes = old.episodes
                self._tol.state = old.state
            self._tol_for = tol
        back_from = max(p - self.bins.tol_back, self._seg_start, self._buf.base)
        for pos, event in self._tol.update(p, self._buf.get("f", p, q), self._buf.get("x", p, q),
                                           self._buf.get("z", p, q), self._times(p, q),
                                           self._buf.get("x", back_from, p), back_from):
            self._emit(pos, event)


def estimate_rate_hz(time_s: np.ndarray) -> float:
    """Typical sample rate: samples per second of data, gaps left out.

    Not 1 / median interval: a host logger stamps several readings of one USB burst alike,
    so the median interval may be 0 (and the median positive one the burst period).
    An interval is a gap when it exceeds ten typical ones (and 0.1 s).
    """
    t = np.asarray(time_s, dtype=np.float64)
    if t.size < 2:
        return float("nan")
    if t.size > 200_000:  # evenly spread blocks are plenty and 20x cheaper
        step = t.size // 50
        d = np.concatenate([np.diff(t[i : i + 2000]) for i in range(0, t.size - 2000, step)])
    else:
        d = np.diff(t)
    med = float(np.median(d))
    typical = med if med > 0 else float(np.mean(d))
    keep = d <= max(10.0 * typical, 0.1)
    span = float(d[keep].sum())
    return float(np.count_nonzero(keep)) / span if span > 0 else float("nan")


def analyze_holds(
    time_s,
    force_n,
    params: HoldParams | None = None,
    tolerance_n: float | None = None,
    target_band_n: tuple[float, float] | None = None,
    changes=(),
    live_updates: bool = True,
) -> HoldAnalysis:
    """Run the online engine over a whole recording and collect the results.

    ``changes``: (time_s, {"tolerance_n": ..., "target_band_n": ..., "target_hold_s": ...})
    pairs, applied as ``HoldEngine.configure`` before the first sample at or after time_s
    (a session whose limits were changed while it was recorded). ``live_updates=False``
    leaves out the ``hold_progress`` events (holds and everything else are the same)."""
    params = params or HoldParams()
    t = np.asarray(time_s, dtype=np.float64)
    f = np.asarray(force_n, dtype=np.float64)
    eng = HoldEngine(params, tolerance_n, target_band_n, live_updates=live_updates)
    events: list[Event] = []
    i = 0
    for at_s, settings in sorted(changes, key=lambda c: c[0]):
        j = int(np.searchsorted(t, at_s, side="left"))
        if j > i:
            events += eng.feed(t[i:j], f[i:j])
            i = j
        events += eng.configure(**settings)
    events += eng.feed(t[i:], f[i:])
    events += eng.finish()
    return HoldAnalysis(holds=list(eng.holds), over_tolerance=list(eng.over_tolerance), events=events,
                        sample_rate_hz=estimate_rate_hz(t), tolerance_n=eng.tolerance_n,
                        target_band_n=eng.target_band_n, params=eng.params, zero_track=list(eng.zero_track))
