"""The zero: what the sensor reads with nothing pressing on it, estimated from the signal.

Recordings arrive untared (a load cell's zero balance is up to +-5-10 % of full scale), the
zero wanders as the hand warms the cell, and a therapist may tare in the middle of a session.
The tracker finds the zero without a tare, from what only an unloaded cell does: it is
*quiet* (electronic noise only), while a hand on the sensor, resting or pressing, wanders
with breathing, tremor and 1/f fluctuation (field-notes.md; docs/metrics.md "Zero").

Pure and explicit: ``ZeroTracker.plan`` looks at the smoothed force of the bins the engine
scans while no hold is in progress and says what the zero is at each; ``commit`` makes that
the state up to a position (the engine may start a hold part-way through a block).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .params import HoldParams

#: SD of white noise per bin ~= this x mean |first difference| (sqrt(pi) / 2)
SIGMA_PER_MEAN_ABS_DIFF = math.sqrt(math.pi) / 2.0
#: the range of the 2 Hz smoothed force (less its straight line) over a rest window, in SDs of
#: white bin noise, that electronic noise alone stays under (docs/metrics.md "Zero")
QUIET_RANGE_PER_SIGMA = 2.0


class ZeroPlan(NamedTuple):
    """What ``ZeroTracker.plan`` found over positions lo, lo+1, ...: the zero and the
    unloaded sensor's noise SD in effect at each, and the quiet runs: (first, end, start
    position of the run, index where it was judged, -1 if not yet, -2 if before, rest?)."""

    lo: int
    zeros: np.ndarray
    noise_sd: np.ndarray
    runs: list


class ZeroTracker:
    """The zero level, from quiet stretches of the force while no hold is in progress.

    A window of ``rest_window_s`` is *quiet* when its straight line is nearly flat (no more
    than ``zero_drift_max_n_per_s``: a warming cell drifts slowly) and the smoothed force,
    less that line, moves less than ``quiet_range_n`` over it, or less than
    twice the white noise of the window's own bins predicts (a noisy sensor is still
    unloaded; a hand's 1/f fluctuation moves the smoothed force several times more than its
    bin-to-bin scatter predicts). A run of quiet windows that has lasted ``rest_confirm_s``
    is judged once, at its level there: rest if it could not be a hold, and the zero then
    follows the force while the run lasts. Could not be a hold: before any zero is known, a
    level within +-``max_zero_offset_n`` of 0 N; after, any level below ``zero +
    min_hold_level_n`` (so also any level below the zero: a tare, a zero drifting down); and
    the first run judged after a hold, below half of that hold's level and at most
    ``zero_wander_max_n`` above the zero (the release came down onto an unloaded sensor whose
    zero has wandered by a few N); and any level within +-``zero_wander_max_n`` of 0 N (a tare
    in mid-session puts the zero there, even one made with the hand resting on the sensor) when
    the zero is further from 0 N than that (an untared sensor). And a quiet run that follows a
    rest with only a jump between (a tare: no hand moves that fast) is rest at any level.
    """

    def __init__(self, params: HoldParams, window_bins: int, confirm_bins: int, bin_s: float) -> None:
        self.params = params
        self.bin_s = bin_s
        self.window = window_bins
        self.confirm = confirm_bins
        self.zero_n = 0.0
        self.acquired = False
        #: SD of one bin of the unloaded sensor (white noise), at the end of the last rest
        self.noise_sd_n = 0.0
        #: net level of the last hold, until the next quiet run is judged
        self.released_from_n: float | None = None
        # the quiet run in progress: first and last position, judged yet, rest?
        self._run_start = -1
        self._run_last = -2
        self._run_judged = False
        self._following = False
        self._last_rest_end = -(10**9)  # last position of the last rest (the zero followed it)
        self._last_mark = -1  # position of the last zero-track point
        #: bins a jump between two quiet stretches may take (a tare is one sample)
        self.jump = 10

    def break_run(self) -> None:
        """A hold started or the data broke off: the next quiet run is a new one."""
        self._run_last = -2

    def hold_ended(self, level_net_n: float) -> None:
        self.released_from_n = level_net_n

    def _is_rest(self, level, zero: float, acquired: bool, released_from: float | None):
        p = self.params
        if not acquired:
            return np.abs(level) <= p.max_zero_offset_n
        above = level - zero
        limit = p.min_hold_level_n
        if released_from is not None:
            limit = max(limit, min(0.5 * released_from, p.zero_wander_max_n))
        rest = above < limit
        if abs(zero) > p.zero_wander_max_n:
            # an untared sensor: a tare (even one made with the hand resting on the sensor)
            # puts the zero within a few N of 0
            rest = rest | (np.abs(level) <= p.zero_wander_max_n)
        return rest

    def is_rest(self, level):
        """Could a quiet stretch at this level (or these levels) be the unloaded sensor?"""
        return self._is_rest(level, self.zero_n, self.acquired, self.released_from_n)

    def quiet(self, s: np.ndarray, xf: np.ndarray, first_zero: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each window of ``window`` bins (ending at window-1, window, ...): quiet?, its
        level (mean of the smoothed force) and the white noise SD of its bins (from the mean
        absolute bin-to-bin difference).

        ``first_zero``: no zero is known yet, so a steady level (within ``settle_band_pct`` of
        itself, on a flat line) counts as quiet too: the first level the force settles at
        within +-``max_zero_offset_n`` is the baseline (the real rest of an untared sensor may
        be a strap or a limb resting on it, steady but not electronically quiet)."""
        w = self.window
        win = sliding_window_view(s, w)
        i = np.arange(w) - 0.5 * (w - 1)
        slope = (win @ i) / float(i @ i)
        resid = win - slope[:, None] * i
        rng = resid.max(axis=1) - resid.min(axis=1)
        # means over each window's own values (a row reduction: the same numbers whatever the
        # chunking; a sliding median cost 30 times as much)
        level = win.mean(axis=1)
        sigma = SIGMA_PER_MEAN_ABS_DIFF * sliding_window_view(np.abs(np.diff(xf)), w - 1).mean(axis=1)
        p = self.params
        limit = np.maximum(p.quiet_range_n, QUIET_RANGE_PER_SIGMA * sigma)
        if first_zero:
            limit = np.maximum(limit, p.settle_band_pct / 100.0 * np.abs(level))
        # and its straight line is flat: a warming cell drifts by well under 0.2 N/s
        flat = np.abs(slope) <= p.zero_drift_max_n_per_s * self.bin_s
        return (rng <= limit) & flat, level, sigma

    def plan(self, lo: int, s: np.ndarray, xf: np.ndarray) -> ZeroPlan:
        """The zero at positions lo, lo+1, ... given the smoothed force ``s`` and the filled
        bin means ``xf`` (both starting ``window - 1`` bins before lo, so every position has a
        full window behind it). Changes nothing: ``commit`` applies the plan up to a position.
        """
        n = s.size - self.window + 1
        if n <= 0:
            return ZeroPlan(lo, np.empty(0), np.empty(0), [])
        zeros = np.full(n, self.zero_n)
        noise = np.full(n, self.noise_sd_n)
        quiet, level, sigma = self.quiet(s, xf)
        zero, acquired, released = self.zero_n, self.acquired, self.released_from_n
        if not acquired:
            quiet = quiet | self.quiet(s, xf, first_zero=True)[0]
        runs: list[tuple[int, int, int, int, bool]] = []
        last_rest_end = self._last_rest_end
        # walk the quiet runs (a handful per block): Python per run, NumPy per bin
        qi = np.flatnonzero(quiet)
        while qi.size:
            i = int(qi[0])
            breaks = np.flatnonzero(~quiet[i:])
            end = i + int(breaks[0]) if breaks.size else n
            if i == 0 and self._run_last == lo - 1:  # the run goes on from the last block
                start, judged, follow = self._run_start, self._run_judged, self._following
            else:
                start, judged, follow = lo + i, False, False
            judge = -1
            if judged:
                f0 = i
            else:
                judge = start + self.confirm - 1 - lo
                f0 = judge
                if judge < end:
                    # quiet, then quiet again at another level with only a jump between (no
                    # hand moves that fast): a tare, or a load put on or taken off at once
                    instant = acquired and start - self.window - last_rest_end <= self.jump
                    follow = instant or bool(self._is_rest(float(level[judge]), zero, acquired, released))
                    released = None
            if follow and f0 < end:
                # the zero (and the noise of the unloaded sensor) follow the rest while it lasts
                zeros[f0:end] = level[f0:end]
                zeros[end:] = level[end - 1]
                noise[f0:end] = sigma[f0:end]
                noise[end:] = sigma[end - 1]
                if not acquired:  # from now on, only electronically quiet stretches count
                    quiet[end:] = self.quiet(s, xf)[0][end:]
                zero, acquired = float(level[end - 1]), True
                last_rest_end = lo + end - 1
            runs.append((i, end, start, -2 if judged else (judge if 0 <= judge < end else -1), follow))
            qi = end + np.flatnonzero(quiet[end:])
        return ZeroPlan(lo, zeros, noise, runs)

    def commit(self, plan: ZeroPlan, upto: int, grid: int = 25) -> list[tuple[int, float]]:
        """Make ``plan`` the state for the positions before ``upto``. Returns the zero track
        points this adds, (position, zero): where a rest began to be followed, every ``grid``
        positions of it, and where it ended (the same points whatever the chunking)."""
        points: list[tuple[int, float]] = []
        stop = min(plan.zeros.size, upto - plan.lo)
        continues = bool(plan.runs) and plan.runs[0][0] == 0 and stop > 0
        if self._following and self._run_last == plan.lo - 1 and not continues:
            points.append((plan.lo - 1, self.zero_n))  # the rest followed so far ended there
        for i, end, start, judge, follow in plan.runs:
            if i >= stop:
                break
            e = min(end, stop)
            if not (i == 0 and self._run_last == plan.lo - 1):
                self._run_judged = False
            if 0 <= judge < e:
                self._run_judged = True
                self.released_from_n = None  # the first run judged after a hold
            self._following = follow and self._run_judged
            if self._following:
                f0 = judge if 0 <= judge < e else i
                marks = set(range(-(-(plan.lo + f0) // grid) * grid, plan.lo + e, grid))
                if 0 <= judge < e:
                    marks.add(plan.lo + judge)
                if e < plan.zeros.size:
                    marks.add(plan.lo + e - 1)  # the rest ended (or a hold starts)
                points.extend((pos, float(plan.zeros[pos - plan.lo])) for pos in sorted(marks))
                self.zero_n = float(plan.zeros[e - 1])
                self.noise_sd_n = float(plan.noise_sd[e - 1])
                self.acquired = True
                self._last_rest_end = plan.lo + e - 1
            self._run_start = start
            self._run_last = plan.lo + e - 1
        points = [(pos, zero) for pos, zero in points if pos > self._last_mark]
        if points:
            self._last_mark = points[-1][0]
        return points
