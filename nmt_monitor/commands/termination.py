"""SIGTERM and SIGHUP as an exception, so a command that writes files cleans up on the way out.

The default action of both is to end the process at once: ``finally`` blocks do not run and a
temporary ``.partial`` file stays behind. Inside ``stop_on_termination()`` they raise
``Terminated`` instead, which unwinds like Ctrl-C (the writers remove their partial files);
the command catches it, says one line and exits with 128 + the signal number.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM, SIGHUP). A BaseException, like KeyboardInterrupt:
    ``except Exception`` clean-up paths let it through."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextmanager
def stop_on_termination(signals: tuple[str, ...] = ("SIGTERM", "SIGHUP")):
    def handler(signum, frame):  # noqa: ARG001
        raise Terminated(signum)

    previous = {}
    for name in signals:
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
