"""The live monitor's terminal UI (Textual). Only ``nmt_monitor.commands.live`` and
``nmt_monitor.commands.replay`` import this package; it is a client of the library.

The plain classes (``model``, ``sources``, ``braille``, ``clock``) do not need Textual; the
names below are loaded on first use, so importing one of those modules does not load it.
"""

from importlib import import_module

_NAMES = {
    "LatencyProbe": "app", "MonitorApp": "app",
    "MockClock": "clock", "system_clock": "clock",
    "SessionModel": "model", "Units": "model", "feedback_visibility": "model",
    "MemorySource": "sources", "ReaderSource": "sources", "ReplaySource": "sources",
    "SampleSource": "sources", "SourceStatus": "sources",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
