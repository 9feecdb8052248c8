"""Over-tolerance episodes: the filtered net force above the client's tolerance, with hysteresis.

Pure and explicit: ``ToleranceTracker.update`` takes the bins of one block (filtered and raw
net force, their times) and returns the events it found; the running episode is its state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .events import OverTolerance, OverToleranceEnded, OverToleranceStarted


@dataclass
class ToleranceState:
    active: bool = False
    #: times of the alert and of the last bin above the tolerance (taken while their bins are
    #: buffered, so an episode does not pin the buffer: a load left on the sensor)
    start_t: float = 0.0
    last_above_t: float = 0.0
    #: last position where the force was not below the release level
    last_not_below: int = 0
    peak_n: float = -math.inf  # largest raw bin mean (net)
    filtered_peak_n: float = -math.inf  # largest filtered value (net)


class ToleranceTracker:
    """Episodes of the filtered net force above ``tolerance_n``.

    An episode starts when the filtered force exceeds the tolerance (the live alert) and ends
    when it has stayed below tolerance - hysteresis for ``release_bins``. ``peak_N`` is the
    largest raw bin mean from ``back_bins`` before the alert on (the filter's reach: a short
    poke is already falling when the filtered force crosses); never below the tolerance.
    """

    def __init__(self, tolerance_n: float, hysteresis_n: float, release_bins: int, back_bins: int,
                 bin_s: float) -> None:
        self.tolerance_n = float(tolerance_n)
        self.release_level_n = self.tolerance_n - hysteresis_n
        self.release_bins = release_bins
        self.back_bins = back_bins
        self.bin_s = bin_s
        self.state = ToleranceState()
        self.episodes: list[OverTolerance] = []

    @property
    def active(self) -> bool:
        return self.state.active

    def update(self, p: int, f: np.ndarray, x: np.ndarray, zero_n: np.ndarray, time_s: np.ndarray,
               x_back: np.ndarray, back_from: int) -> list[tuple[int, object]]:
        """Bins [p, p + len(f)): filtered and raw gross force, the zero at each bin, bin times.

        ``x_back`` holds the raw gross bins from position ``back_from`` up to ``p`` (the reach
        of the filter before the block, for the peak of an episode that starts at its head).
        Returns (position, event) pairs.
        """
        tol = self.tolerance_n
        st = self.state
        out: list[tuple[int, object]] = []
        f_net = f - zero_n
        x_net = x - zero_n
        n = f_net.size
        if not st.active and not (f_net > tol).any():
            return out
        i = 0
        while i < n:
            if not st.active:
                hits = np.flatnonzero(f_net[i:] > tol)
                if not hits.size:
                    return out
                i += int(hits[0])
                st.active = True
                st.last_not_below = p + i
                st.start_t = st.last_above_t = float(time_s[i])
                b = max(p + i - self.back_bins, back_from)
                behind = np.concatenate((x_back, x[:i]))[b - back_from :] - zero_n[i]
                behind = behind[np.isfinite(behind)]
                st.peak_n = float(behind.max()) if behind.size else -math.inf
                st.filtered_peak_n = float(f_net[i])
                out.append((p + i, OverToleranceStarted(time_s=float(time_s[i]), level_N=float(f_net[i]),
                                                        tolerance_N=tol)))
            seg = f_net[i:]
            ks = np.arange(p + i, p + n)
            last_nb = np.maximum.accumulate(np.where(seg < self.release_level_n, st.last_not_below, ks))
            run = ks - last_nb
            hits = np.flatnonzero(run >= self.release_bins)
            stop = int(hits[0]) + 1 if hits.size else seg.size
            above = np.flatnonzero(seg[:stop] > tol)
            if above.size:
                st.last_above_t = float(time_s[i + int(above[-1])])
            xs = x_net[i : i + stop]
            xs = xs[np.isfinite(xs)]
            if xs.size:
                st.peak_n = max(st.peak_n, float(xs.max()))
            st.filtered_peak_n = max(st.filtered_peak_n, float(seg[:stop].max()))
            if not hits.size:
                st.last_not_below = int(last_nb[-1])
                return out
            i += stop
            out.append((p + i - 1, self.end(float(time_s[i - 1]))))
        return out

    def end(self, time_s: float) -> OverToleranceEnded:
        """Close the running episode (known at ``time_s``)."""
        st = self.state
        st.active = False
        # the raw peak; if the raw bins never reached the tolerance (only the filter's
        # overshoot did), the filtered peak, so that peak_N >= tolerance always
        peak = st.peak_n if st.peak_n >= self.tolerance_n else st.filtered_peak_n
        ep = OverTolerance(start_s=st.start_t, end_s=st.last_above_t + 0.5 * self.bin_s,
                           peak_N=peak if math.isfinite(peak) else float("nan"))
        self.episodes.append(ep)
        return OverToleranceEnded(time_s=time_s, start_s=ep.start_s, end_s=ep.end_s, peak_N=ep.peak_N)
