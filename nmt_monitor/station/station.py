"""A station: one sensor's whole pipeline, without a screen.

``Station(source, metadata, clock=...)`` pumps a ``SampleSource`` into a ``SessionModel``
(hold engine, alerts, recording, program, sinks), on a thread of its own (``start``) or in the
caller's loop (``run``). The live monitor, each tile of the class view and the headless
``record`` command all drive a ``Station``; a screen only reads ``station.model.snapshot()``
and calls the station's commands (record, tare, seek, ...).

    station = Station(ReaderSource(reader), metadata, recorder_factory=recorder_factory("recordings/"))
    station.start()                 # the acquisition thread
    station.start_recording()       # disk I/O: not on a UI thread
    ...
    station.finalize("stopped: quit")   # stop the source, keep what it still had, finish the file

``finalize`` is safe from any thread and more than once: it stops the acquisition thread
first, then the source, ingests what the source still held (in order), and finishes the
recording, so every sample read reaches the file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from .clock import Clock, system_clock
from .model import SessionModel

READ_TIMEOUT_S = 0.05


class Station:
    """See the module docstring. ``name``: how screens call it (the student, or the port)."""

    def __init__(self, source, metadata=None, *, clock: Clock = system_clock, name: str = "",
                 recorder_factory: Callable | None = None, params=None, sinks=(),
                 buffer_capacity: int = 65536, finish_options: dict | None = None, scorer=None) -> None:
        from nmt_monitor.storage import SessionMetadata

        self.source = source
        self.name = name
        self.kind = getattr(source, "kind", "live")
        self.clock = clock
        self.model = SessionModel(metadata if metadata is not None else SessionMetadata(), clock=clock,
                                  params=params, time_origin=getattr(source, "start_epoch_s", None),
                                  buffer_capacity=buffer_capacity, scorer=scorer)
        for sink in sinks:
            self.model.add_sink(sink)
        self.recorder_factory = recorder_factory
        self.finish_options = dict(finish_options or {})  # e.g. analyze=False (record --no-analysis)
        self.saved: list[Path] = []  # finished recordings
        self.errors: list[str] = []  # problems to tell the user (a screen shows them, a command prints them)
        self.recorded_samples = 0  # samples in the last finished recording
        self._stop = threading.Event()
        self._final_lock = threading.Lock()
        self._finished = False
        self._finishers: list[threading.Thread] = []
        self._thread: threading.Thread | None = None
        self._starting_recording = False
        self._ended = False  # a replay handed out its last sample and the model closed its last hold

    # ---- acquisition ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """The acquisition thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self, on_stopped: Callable[[Station], None] | None = None) -> Station:
        """Pump the source on a daemon thread until ``request_stop``/``finalize``.
        ``on_stopped(station)`` runs on that thread when the loop ends for any reason."""
        if self._thread is not None:
            return self

        def body() -> None:
            try:
                self.run()
            finally:
                if on_stopped is not None:
                    on_stopped(self)

        self._thread = threading.Thread(target=body, name=f"station {self.name or self.source_name}", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        self._stop.set()

    def run(self, should_stop: Callable[[], bool] | None = None, timeout_s: float = READ_TIMEOUT_S) -> None:
        """Pump in the calling thread until a stop is requested or ``should_stop()`` is true.
        An exception from the source is shown (``model.acquisition_failed``), not raised."""
        try:
            self.source.start()
            while not self._stop.is_set() and not (should_stop is not None and should_stop()):
                self.pump(timeout_s)
        except Exception as exc:  # noqa: BLE001 - shown; the session is still finished
            message = str(exc) or type(exc).__name__
            self.errors.append(f"acquisition stopped: {message}")
            self.model.acquisition_failed(message)

    def pump(self, timeout_s: float = READ_TIMEOUT_S) -> int:
        """Read what the source has (waiting at most ``timeout_s``) and ingest it; returns the
        number of items. A replay's end closes its last hold once every sample is in."""
        src, model = self.source, self.model
        items = src.read(timeout_s)
        if items:
            model.ingest(items)
            if any(getattr(i, "kind", "") == "seek" for i in items):
                self._ended = False
        # finish only once every sample was handed out (and ingested above)
        if self.kind == "replay" and not self._ended and getattr(src, "exhausted", False):
            model.finish_stream()
            self._ended = True
        return len(items)

    @property
    def source_name(self) -> str:
        try:
            return self.source.status().port
        except Exception:  # noqa: BLE001
            return ""

    def status(self):
        return self.source.status()

    # ---- commands (any thread) ------------------------------------------------------------
    def tare(self) -> bool:
        """Zero the sensor: True when the sensor itself tared, False when the display was
        zeroed in software (a source that cannot tare)."""
        if self.source.tare():
            return True
        self.model.software_tare()
        return False

    def seek(self, delta_s: float) -> float | None:
        """Replay: move the play head; the model rebuilds from the session's start to there
        (the source marks the place in the stream, so nothing read before it is mixed in)."""
        seek = getattr(self.source, "seek", None)
        return None if seek is None else seek(delta_s)

    def toggle_pause(self) -> bool | None:
        toggle = getattr(self.source, "toggle_pause", None)
        return None if toggle is None else toggle()

    def set_speed(self, factor: float) -> float | None:
        if not hasattr(self.source, "set_speed"):
            return None
        return self.source.set_speed(self.source.speed * factor)

    # ---- recording --------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self.model.recorder is not None

    @property
    def can_record(self) -> bool:
        return self.kind == "live" and self.recorder_factory is not None

    def start_recording(self, factory: Callable | None = None):
        """Start recording (creating the journal is disk I/O: call it off a UI thread). Returns
        the recorder (the running one if already recording); raises what the recorder raises
        (``StorageError``, ``OSError``). After ``finalize`` it finishes at once what it started."""
        factory = factory or self.recorder_factory
        if factory is None:
            raise RuntimeError("this station cannot record")
        self._starting_recording = True
        try:
            rec = self.model.start_recording(factory, self.source.sensor_info)
        finally:
            self._starting_recording = False
        if self._stop.is_set() and self._finished:  # finalized while the journal was being created
            late = self.model.detach_recorder()
            if late is not None:
                self._finish(late, "stopped: quit")
        return rec

    @property
    def starting_recording(self) -> bool:
        return self._starting_recording

    def claim_recording_start(self) -> bool:
        """Mark a start as under way before handing ``start_recording`` to a worker (on the UI
        thread): a second key press handled before the worker runs must not start a second
        recording. False when a start is already under way or it is recording."""
        if self._starting_recording or self.recording:
            return False
        self._starting_recording = True
        return True

    def stop_recording(self, reason: str = "stopped: record key", wait: bool = False):
        """Stop feeding the recorder and finish its file on a thread of its own (``wait``: here).
        Returns the recorder (its ``path`` names the file), or None when not recording."""
        recorder = self.model.detach_recorder()
        if recorder is None:
            return None
        if wait:
            self._finish(recorder, reason)
            return recorder
        t = threading.Thread(target=self._finish, args=(recorder, reason), name="finish-recording", daemon=False)
        self._finishers.append(t)
        t.start()
        return recorder

    def _finish(self, recorder, reason: str) -> None:
        stats_event = getattr(self.source, "stats_event", None)
        try:
            if stats_event is not None:
                event = stats_event()
                if event is not None:
                    recorder.add(event)  # the link's counters as recording stopped
        except Exception:  # noqa: BLE001 - the counters are a courtesy
            pass
        discard = getattr(recorder, "discard", None)
        if discard is not None and not (getattr(recorder, "samples", 1) or getattr(recorder, "samples_in_memory", 0)
                                        or getattr(recorder, "markers", 1)):
            # the sensor never sent a sample and nobody marked anything (a class station without
            # its sensor): a file every command would refuse helps nobody; say so instead
            discard()
            message = "nothing recorded: no samples came from the sensor"
            self.errors.append(message)
            self.model.finished_recording(None, notice=message)
            return
        try:
            path = recorder.finish(reason=reason, **self.finish_options)
        except Exception as exc:  # noqa: BLE001 - the journal keeps the session for `recover`
            self.errors.append(str(exc))
            self.model.finished_recording(None, str(exc))
            return
        self.recorded_samples = int(getattr(recorder, "samples", 0))
        self.saved.append(Path(path))
        self.model.finished_recording(str(path))

    # ---- the end ------------------------------------------------------------------------------
    def finalize(self, reason: str = "stopped: exit") -> list[Path]:
        """Stop acquisition and the source, ingest what the source still had, finish the
        recording (and any being finished). Safe from any thread and more than once; returns
        the recordings saved."""
        with self._final_lock:
            self._stop.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join()
            if not self._finished:
                self._finished = True
                try:
                    self.source.stop()
                    drain = getattr(getattr(self.source, "reader", None), "drain", None)
                    rest = drain() if drain is not None else []
                    if rest:
                        self.model.ingest(rest)
                except Exception as exc:  # noqa: BLE001
                    self.errors.append(f"stopping the source: {exc}")
                recorder = self.model.detach_recorder()
                if recorder is not None:
                    self._finish(recorder, reason)
                self.model.close_sinks()
            for t in list(self._finishers):
                t.join()
            return list(self.saved)
