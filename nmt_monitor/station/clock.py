"""Clocks the monitor reads time from: the system's, or a mock one that tests move by hand."""

from __future__ import annotations

import threading
import time
from typing import Callable

#: A clock is any callable returning seconds (monotonic within a session).
Clock = Callable[[], float]


def system_clock() -> float:
    return time.monotonic()


class MockClock:
    """A clock that only moves when told to: ``clock.advance(0.5)``; thread-safe."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += float(seconds)
            return self._now

    def set(self, now: float) -> None:
        with self._lock:
            self._now = float(now)
