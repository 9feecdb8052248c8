"""Signal processing of nmt-monitor: pure NumPy/SciPy, explicit state.

The hold engine finds sustained static holds, drift and over-tolerance pressure, live
(``HoldEngine.feed``) and offline (``analyze_holds``) with the same code. See docs/metrics.md.
"""

from .engine import HoldAnalysis, HoldEngine, analyze_holds, estimate_rate_hz
from .events import (
    EVENT_KINDS,
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
from .params import HoldParams

__all__ = [
    "EVENT_KINDS", "DriftWarning", "Event", "Hold", "HoldAnalysis", "HoldDiscarded", "HoldEnded",
    "HoldEngine", "HoldParams", "HoldProgress", "HoldStarted", "OverTolerance", "OverToleranceEnded",
    "OverToleranceStarted", "analyze_holds", "estimate_rate_hz",
]
