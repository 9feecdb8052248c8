"""The monitor's terminal UI (Textual): the live monitor, replay and the class view. Only the
``live``, ``replay`` and ``class`` commands import this package; it is a client of the library
(``nmt_monitor.station`` holds the pipeline and the plain classes it draws from).

The names below are loaded on first use, so importing the package does not load Textual.
"""

import os
from importlib import import_module

# Textual repaints a changed screen at most TEXTUAL_FPS times a second (60 by default: a change
# waits up to 17 ms). Our frame timer decides how often the screen changes (25 frames/s), so a
# higher cap costs nothing per frame and shows an alert posted between frames ~8 ms sooner.
# (Read by Textual when it is first imported; a user's own setting wins.)
os.environ.setdefault("TEXTUAL_FPS", "120")

_NAMES = {
    "LatencyProbe": "nmt_monitor.tui.app", "MonitorApp": "nmt_monitor.tui.app",
    # the plain classes live in the library; named here too for convenience
    "MockClock": "nmt_monitor.station", "system_clock": "nmt_monitor.station",
    "SessionModel": "nmt_monitor.station", "Station": "nmt_monitor.station", "Units": "nmt_monitor.station",
    "feedback_visibility": "nmt_monitor.station",
    "MemorySource": "nmt_monitor.station", "ReaderSource": "nmt_monitor.station",
    "ReplaySource": "nmt_monitor.station", "SampleSource": "nmt_monitor.station",
    "SourceStatus": "nmt_monitor.station",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(import_module(_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
