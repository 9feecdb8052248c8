"""Ctrl-C, SIGTERM and SIGHUP as a request to stop, checked between items.

A ``KeyboardInterrupt`` raised at an arbitrary point could land between taking a block from
the reader and writing it, and that block was lost (stored as a sensor gap). While the
pipeline runs, the handlers here only set a flag; the loop sees it at the top, stops the
reader, drains what it had read and writes everything before finishing.

Before ``arm()`` (while connecting) a signal aborts at once: nothing has been read yet,
and a handshake with a silent port should not make the user wait. After the first request,
``second`` decides what another signal does: ``"ignore"`` (``record``: the file is being
finished and the journal is safe in any case) or ``"abort"`` (``stream``: a second Ctrl-C
gets out even if standard output is blocked).
"""

from __future__ import annotations

import signal
import threading

NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class StopSignals:
    def __init__(self, signals=(signal.SIGINT, signal.SIGTERM, signal.SIGHUP), second: str = "ignore") -> None:
        if second not in ("ignore", "abort"):
            raise ValueError(second)
        self.signals = tuple(signals)
        self.second = second
        self.reason: str | None = None
        self.armed = False
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def arm(self) -> None:
        self.armed = True

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        if not self.armed:
            raise KeyboardInterrupt
        if self.reason is None:
            self.reason = NAMES.get(signum, f"signal {signum}")
        elif self.second == "abort":
            raise KeyboardInterrupt

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
