"""What the hold engine reports: holds, over-tolerance episodes and live events."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar


def _r(value: float | None, digits: int) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return round(value, digits)


@dataclass(frozen=True)
class Hold:
    """One hold and its metrics (forces are net of the zero level ``zero_N``); see docs/metrics.md."""

    start_s: float
    end_s: float
    duration_s: float
    mean_N: float
    sd_N: float
    cv_pct: float
    drift_pct: float
    drift_N_per_s: float
    level_start_N: float
    level_end_N: float
    peak_N: float
    ramp_in_s: float | None
    ramp_rate_N_per_s: float | None
    overshoot_N: float | None
    overshoot_pct: float | None
    time_over_tolerance_s: float
    time_in_target_s: float | None
    time_in_target_pct: float | None
    gap_s: float
    zero_N: float
    ended_by: str
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "flags":
                out["flags"] = list(value)
            elif isinstance(value, str):
                out[f.name] = value
            else:
                digits = 3 if f.name.endswith("_s") else 2 if f.name.endswith("_pct") else 3
                out[f.name] = _r(value, digits)
        return out


@dataclass(frozen=True)
class OverTolerance:
    """An episode of filtered force above the tolerance (start = when the alert fired)."""

    start_s: float
    end_s: float
    peak_N: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        return {"start_s": _r(self.start_s, 3), "end_s": _r(self.end_s, 3), "peak_N": _r(self.peak_N, 2)}


@dataclass(frozen=True)
class Event:
    """Base of all engine events: ``kind`` names the event, ``time_s`` is when it was known."""

    kind: ClassVar[str] = "event"
    time_s: float

    def to_dict(self) -> dict:
        out = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Hold):
                out[f.name] = value.to_dict()
            elif isinstance(value, float):
                out[f.name] = _r(value, 4)
            else:
                out[f.name] = value
        return out


@dataclass(frozen=True)
class HoldStarted(Event):
    """The force settled onto a plateau; the hold timer starts at ``start_s``."""

    kind: ClassVar[str] = "hold_started"
    start_s: float
    level_N: float


@dataclass(frozen=True)
class HoldProgress(Event):
    """Update during a hold (running values since ``start_s``): every ``progress_interval_s``,
    and at once when the force leaves the hold's level (an excursion: maybe the release) and
    when it comes back.

    While an excursion is under way ``suspect_end_s`` is where it began and every figure is
    frozen there (elapsed, level, mean, CV, drift), so a display never shows the release as
    part of the hold; ``hold_ended`` follows with the final figures, or a later update with
    ``suspect_end_s`` None when the force came back (a correction)."""

    kind: ClassVar[str] = "hold_progress"
    start_s: float
    elapsed_s: float
    level_N: float
    mean_N: float
    cv_pct: float
    drift_pct: float | None
    suspect_end_s: float | None = None


@dataclass(frozen=True)
class DriftWarning(Event):
    """The level has moved ``drift_pct`` from the hold's reference (first 2 s), past the limit."""

    kind: ClassVar[str] = "drift_warning"
    start_s: float
    drift_pct: float
    level_N: float
    reference_N: float


@dataclass(frozen=True)
class HoldEnded(Event):
    """A hold of at least ``min_hold_s`` ended; ``hold`` carries its metrics."""

    kind: ClassVar[str] = "hold_ended"
    hold: Hold


@dataclass(frozen=True)
class HoldDiscarded(Event):
    """A plateau that started a hold ended before ``min_hold_s``: not a hold (a poke, a stroke)."""

    kind: ClassVar[str] = "hold_discarded"
    start_s: float
    end_s: float


@dataclass(frozen=True)
class OverToleranceStarted(Event):
    """The filtered force crossed the tolerance (the alert)."""

    kind: ClassVar[str] = "over_tolerance_started"
    level_N: float
    tolerance_N: float


@dataclass(frozen=True)
class OverToleranceEnded(Event):
    """The filtered force stayed below tolerance - hysteresis long enough."""

    kind: ClassVar[str] = "over_tolerance_ended"
    start_s: float
    end_s: float
    peak_N: float


EVENT_KINDS = tuple(
    cls.kind
    for cls in (HoldStarted, HoldProgress, DriftWarning, HoldEnded, HoldDiscarded,
                OverToleranceStarted, OverToleranceEnded)
)

__all__ = [
    "Event", "Hold", "OverTolerance", "HoldStarted", "HoldProgress", "DriftWarning", "HoldEnded",
    "HoldDiscarded", "OverToleranceStarted", "OverToleranceEnded", "EVENT_KINDS",
]
