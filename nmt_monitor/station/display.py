"""What the screen may show, without any drawing: display units, the feedback-mode rules and
the bounded display buffer. Plain Python/NumPy (no Textual): the station model and every
screen share them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmt_monitor.units import NEWTONS_PER_KGF, NEWTONS_PER_LBF

# ---------------------------------------------------------------------------------- units

UNITS = ("N", "kgf", "lbf", "kPa")
_DECIMALS = {"N": 1, "kgf": 2, "lbf": 1, "kPa": 0}


class Units:
    """The display unit: N, kgf, lbf, or kPa (pressure, needs the contact tip's area)."""

    def __init__(self, unit: str = "N", tip_area_cm2: float | None = None) -> None:
        self.tip_area_cm2 = tip_area_cm2
        if unit not in UNITS:
            raise ValueError(f"unknown display unit {unit!r}: use one of {', '.join(UNITS)}")
        if unit == "kPa" and not tip_area_cm2:
            unit = "N"
        self.unit = unit

    def __eq__(self, other) -> bool:
        return isinstance(other, Units) and (self.unit, self.tip_area_cm2) == (other.unit, other.tip_area_cm2)

    def __hash__(self) -> int:
        return hash((self.unit, self.tip_area_cm2))

    def __repr__(self) -> str:
        return f"Units({self.unit!r}, tip_area_cm2={self.tip_area_cm2!r})"

    def copy(self) -> Units:
        """A copy that later ``cycle``/``set_area`` calls on this one do not change (screens
        hand widgets copies: a widget repaints when its state differs from the last)."""
        return Units(self.unit, self.tip_area_cm2)

    def available(self) -> tuple[str, ...]:
        return UNITS if self.tip_area_cm2 else UNITS[:3]

    def cycle(self) -> str:
        units = self.available()
        self.unit = units[(units.index(self.unit) + 1) % len(units)] if self.unit in units else "N"
        return self.unit

    def set_area(self, tip_area_cm2: float | None) -> None:
        self.tip_area_cm2 = tip_area_cm2
        if self.unit == "kPa" and not tip_area_cm2:
            self.unit = "N"

    def convert(self, newtons):
        """Newtons (a number or an array) in the display unit."""
        if self.unit == "N":
            return newtons
        if self.unit == "kgf":
            return newtons / NEWTONS_PER_KGF
        if self.unit == "lbf":
            return newtons / NEWTONS_PER_LBF
        # kPa: N / cm^2 = 10 kPa
        return newtons / float(self.tip_area_cm2) * 10.0

    @property
    def decimals(self) -> int:
        return _DECIMALS[self.unit]

    def fmt(self, newtons: float | None, unit: bool = True, decimals: int | None = None) -> str:
        if newtons is None or not np.isfinite(newtons):
            return "—"
        d = self.decimals if decimals is None else decimals
        text = f"{self.convert(float(newtons)):.{d}f}"
        return f"{text} {self.unit}" if unit else text

    def fmt_band(self, band: tuple[float, float] | None) -> str:
        if band is None:
            return "—"
        return f"{self.fmt(band[0], unit=False)}–{self.fmt(band[1])}"


# ---------------------------------------------------------------------------- feedback

FEEDBACK_MODES = ("full", "faded", "blind")
FEEDBACK_HELP = {
    "full": "force, trace and hold metrics always shown",
    "faded": "force shown only when it is outside the target band",
    "blind": "force hidden during a hold; the result is revealed after it",
}


@dataclass(frozen=True)
class Visibility:
    force: bool = True  # readout, gauge and trace
    metrics: bool = True  # the running hold's CV and drift
    drift_alert: bool = True
    reason: str = ""  # why something is hidden (shown in its place)
    timer: bool = True  # the hold timer (a program's blind trial hides it: the student judges the time)


def feedback_visibility(mode: str, force_n: float | None, band: tuple[float, float] | None,
                        in_hold: bool, program=None) -> Visibility:
    """What the screen may show in a feedback mode. Over-tolerance is never hidden (the
    client's safety); the hold timer is shown (time, not force), except in a program's trial
    without a countdown (``program``: a ``ProgramView``), where the student judges the time."""
    if program is not None and in_hold and not program.countdown and program.phase in ("hold", "release"):
        vis = feedback_visibility(mode, force_n, band, in_hold)
        return Visibility(vis.force, vis.metrics, vis.drift_alert, vis.reason or "the student judges the time",
                          timer=False)
    if mode == "faded":
        inside = band is not None and force_n is not None and band[0] <= force_n <= band[1]
        if inside:
            return Visibility(False, False, True, "faded: in the band, force hidden")
        return Visibility()
    if mode == "blind":
        if in_hold:
            return Visibility(False, False, False, "blind: hold in progress, result after release")
        return Visibility()
    return Visibility()


# ------------------------------------------------------------------------ display buffer


class DisplayBuffer:
    """The last ``capacity`` samples (time since session start, force), as a ring of NumPy
    arrays: bounded whatever the session length. Lossy by design: the recorder is lossless."""

    def __init__(self, capacity: int = 65536) -> None:
        self.capacity = int(capacity)
        self._t = np.zeros(self.capacity)
        self._f = np.zeros(self.capacity)
        self._n = 0  # total appended

    def clear(self) -> None:
        self._n = 0

    def __len__(self) -> int:
        return min(self._n, self.capacity)

    def append(self, t: np.ndarray, f: np.ndarray) -> None:
        n = t.size
        if n == 0:
            return
        if n >= self.capacity:
            t, f = t[-self.capacity:], f[-self.capacity:]
            self._n += n - self.capacity
            n = self.capacity
        i = self._n % self.capacity
        k = min(n, self.capacity - i)
        self._t[i:i + k], self._f[i:i + k] = t[:k], f[:k]
        if k < n:
            self._t[: n - k], self._f[: n - k] = t[k:], f[k:]
        self._n += n

    def last(self, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The newest ``count`` samples (all kept ones when None), oldest first, as copies."""
        have = len(self)
        count = have if count is None else min(count, have)
        if count <= 0:
            return np.empty(0), np.empty(0)
        end = self._n % self.capacity
        start = end - count
        if start >= 0:
            return self._t[start:end].copy(), self._f[start:end].copy()
        return np.r_[self._t[start:], self._t[:end]], np.r_[self._f[start:], self._f[:end]]

    def since(self, t_from: float) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the samples at or after ``t_from`` (times never go backwards), oldest
        first; only those are copied, not the whole ring."""
        have = len(self)
        if have == 0:
            return np.empty(0), np.empty(0)
        end = self._n % self.capacity
        if self._n <= self.capacity:  # not wrapped: one sorted run
            stop = end if end else self.capacity
            i = int(np.searchsorted(self._t[:stop], t_from, side="left"))
            return self._t[i:stop].copy(), self._f[i:stop].copy()
        # wrapped: the older run is [end, capacity), the newer [0, end)
        if end < self.capacity and self._t[self.capacity - 1] >= t_from:
            i = end + int(np.searchsorted(self._t[end:], t_from, side="left"))
            return np.r_[self._t[i:], self._t[:end]], np.r_[self._f[i:], self._f[:end]]
        i = int(np.searchsorted(self._t[:end], t_from, side="left"))
        return self._t[i:end].copy(), self._f[i:end].copy()
