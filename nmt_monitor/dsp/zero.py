"""The zero (rest) level: what the sensor reads with nothing pressing on it.

Pure and explicit: the engine hands ``ZeroTracker`` the settled stretches it sees while no
hold is in progress; the tracker decides which are rest and what the zero is.
"""

from __future__ import annotations

import numpy as np

from .params import HoldParams


class ZeroTracker:
    """Zero level from the rest stretches seen while idle.

    A settled level is *rest* when it is within ``rest_band_n`` of the zero level (or below
    it); before any rest has been seen, any settled level within +-``max_zero_offset_n`` of
    0 N. When a hold starts, the zero becomes the median of the last rest stretch (at most
    ``window_bins`` long).
    """

    def __init__(self, params: HoldParams, window_bins: int) -> None:
        self.params = params
        self.window_bins = window_bins
        self.zero_n = 0.0
        self.acquired = False
        self._rest_vals = np.empty(0)
        self._rest_last = -10  # position of the last rest bin seen

    def classify(self, mid: np.ndarray, settled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rest, hold candidate) masks for settled windows with these mid levels."""
        p = self.params
        z = self.zero_n
        if self.acquired:
            rest = settled & (mid - z < p.rest_band_n)
            cand = settled & (mid - z >= p.min_hold_level_n)
        else:
            rest = settled & (np.abs(mid) <= p.max_zero_offset_n)
            cand = settled & (mid > p.max_zero_offset_n) & (mid >= p.min_hold_level_n)
        return rest, cand

    def observe(self, lo: int, rest: np.ndarray, mid: np.ndarray) -> None:
        """Rest flags and levels of the windows ending at positions lo, lo+1, ...: the last
        run of rest windows (continuing the previous one if contiguous) is remembered."""
        rp = np.flatnonzero(rest)
        if not rp.size:
            return
        brk = np.flatnonzero(np.diff(rp) != 1)
        rs = int(rp[brk[-1] + 1]) if brk.size else int(rp[0])
        vals = mid[rs : int(rp[-1]) + 1]
        if rs == 0 and self._rest_last == lo - 1:
            vals = np.concatenate((self._rest_vals, vals))
        self._rest_vals = vals[-self.window_bins :].copy()
        self._rest_last = lo + int(rp[-1])

    def commit(self) -> bool:
        """A hold starts: the last rest stretch becomes the zero. True if the zero changed."""
        if not self._rest_vals.size:
            return False
        self.zero_n = float(np.median(self._rest_vals))
        self.acquired = True
        self._rest_vals = np.empty(0)
        return True
