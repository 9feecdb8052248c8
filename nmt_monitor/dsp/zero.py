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

#: SD of white noise per bin ~= this x median |first difference| (1 / (0.6745 sqrt 2))
SIGMA_PER_MEDIAN_ABS_DIFF = 1.0 / (0.6744897501960817 * math.sqrt(2.0))
#: the range of the 2 Hz smoothed force over a rest window, in SDs of white bin noise, that
#: electronic noise alone stays under (measured: 1.9 at the 99.9th percentile; docs/metrics.md)
QUIET_RANGE_PER_SIGMA = 2.5


class ZeroPlan(NamedTuple):
    """What ``ZeroTracker.plan`` found over positions lo, lo+1, ...: the zero and the
    unloaded sensor's noise SD in effect at each, and the quiet runs (start, end, rest?)."""

    lo: int
    zeros: np.ndarray
    noise_sd: np.ndarray
    runs: list


class ZeroTracker:
    """The zero level, from quiet stretches of the force while no hold is in progress.

    A window of ``rest_window_s`` is *quiet* when the smoothed force moves less than
    ``quiet_range_n`` over it (or less than white noise of the window's own size would move
    it: a noisy sensor is still unloaded). A run of quiet windows whose level could not be a
    hold is rest, and the zero follows the force while it lasts. Could not be a hold: before
    any zero is known, a level within +-``max_zero_offset_n`` of 0 N; after, any level below
    ``zero + min_hold_level_n`` (so also any level below the zero: a tare, a zero drifting
    down); and the first quiet run after a hold below half of that hold's level (the release
    came down onto an unloaded sensor whose zero has wandered by a few N).
    """

    def __init__(self, params: HoldParams, window_bins: int) -> None:
        self.params = params
        self.window = window_bins
        self.zero_n = 0.0
        self.acquired = False
        #: SD of one bin of the unloaded sensor (white noise), at the end of the last rest
        self.noise_sd_n = 0.0
        #: net level of the last hold, until the next quiet run is judged
        self.released_from_n: float | None = None
        self._quiet_until = -1  # last position of the quiet run in progress
        self._following = False  # the zero follows that run

    def break_run(self) -> None:
        """A hold started or the data broke off: the next quiet run is a new one."""
        self._quiet_until = -1
        self._following = False

    def hold_ended(self, level_net_n: float) -> None:
        self.released_from_n = level_net_n

    def _is_rest(self, level: float, zero: float, acquired: bool, released_from: float | None) -> bool:
        p = self.params
        if not acquired:
            return abs(level) <= p.max_zero_offset_n
        above = level - zero
        if above < p.min_hold_level_n:
            return True
        return released_from is not None and above < 0.5 * released_from

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
        win = sliding_window_view(s, self.window)
        rng = win.max(axis=1) - win.min(axis=1)
        # medians, not means: exact whatever the chunking (a zero is reported per hold)
        level = np.median(win, axis=1)
        sigma = SIGMA_PER_MEDIAN_ABS_DIFF * np.median(sliding_window_view(np.abs(np.diff(xf)), self.window - 1), axis=1)
        quiet = rng <= np.maximum(self.params.quiet_range_n, QUIET_RANGE_PER_SIGMA * sigma)
        runs: list[tuple[int, int, bool]] = []
        zero, acquired, released = self.zero_n, self.acquired, self.released_from_n
        # walk the quiet runs (a handful per block): Python per run, NumPy per bin
        qi = np.flatnonzero(quiet)
        while qi.size:
            i = int(qi[0])
            breaks = np.flatnonzero(~quiet[i:])
            end = i + int(breaks[0]) if breaks.size else n
            if i == 0 and self._quiet_until == lo - 1:
                follow = self._following  # the run goes on from the last block
            else:
                follow = self._is_rest(float(level[i]), zero, acquired, released)
                released = None
            if follow:
                # the zero (and the noise of the unloaded sensor) follow the rest while it lasts
                zeros[i:end] = level[i:end]
                zeros[end:] = level[end - 1]
                noise[i:end] = sigma[i:end]
                noise[end:] = sigma[end - 1]
                zero, acquired = float(level[end - 1]), True
            runs.append((i, end, follow))
            qi = qi[qi >= end]
        return ZeroPlan(lo, zeros, noise, runs)

    def commit(self, plan: ZeroPlan, upto: int) -> None:
        """Make ``plan`` the state for the positions before ``upto``."""
        stop = min(plan.zeros.size, upto - plan.lo)
        for i, end, follow in plan.runs:
            if i >= stop:
                break
            e = min(end, stop)
            if not (i == 0 and self._quiet_until == plan.lo - 1):
                self.released_from_n = None  # a new quiet run was judged
            if follow:
                self.zero_n = float(plan.zeros[e - 1])
                self.noise_sd_n = float(plan.noise_sd[e - 1])
                self.acquired = True
            self._quiet_until = plan.lo + e - 1
            self._following = follow
