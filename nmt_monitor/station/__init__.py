"""Stations: one sensor's pipeline (source -> hold engine, alerts, recording, program, sinks)
as a library, without a screen. The live monitor, every tile of the class view and the
headless ``record`` command drive a ``Station``; nothing here imports Textual.

- ``station``: ``Station``, the pipeline and its lifecycle (acquisition thread, recording, finalize).
- ``model``: ``SessionModel`` (the state any screen draws from, as an immutable ``Frame``) and
  ``RecorderWriter``.
- ``sources``: where samples come from: ``ReaderSource`` (a sensor; ``ConnectingReaderSource``
  one that may not answer yet), ``ReplaySource`` (a session file against a clock),
  ``MemorySource`` (a finite list, for tests and demos).
- ``scoring``: ``LiveScorer``, each hold's rubric score as it ends.
- ``display``: display units, feedback-mode rules, the bounded display buffer.
- ``clock``: ``system_clock`` and ``MockClock``.
"""

from .clock import Clock, MockClock, system_clock
from .display import FEEDBACK_HELP, FEEDBACK_MODES, DisplayBuffer, Units, Visibility, feedback_visibility
from .model import Frame, HoldRow, HoldView, RecorderWriter, RecordingView, SessionModel, recorder_factory
from .sources import ConnectingReaderSource, MemorySource, ReaderSource, ReplaySource, SampleSource, SourceStatus
from .scoring import LiveScorer
from .station import Station

__all__ = [
    "Clock", "ConnectingReaderSource", "DisplayBuffer", "FEEDBACK_HELP", "FEEDBACK_MODES", "Frame", "HoldRow", "HoldView", "LiveScorer", "MemorySource",
    "MockClock", "ReaderSource", "RecorderWriter", "RecordingView", "ReplaySource", "SampleSource",
    "SessionModel", "SourceStatus", "Station", "Units", "Visibility", "feedback_visibility", "recorder_factory",
    "system_clock",
]
