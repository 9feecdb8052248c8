"""Diagnostics through ``logging``: ``-v``/``-vv`` on stderr, ``--log-file FILE`` with timestamps.

Library modules log to loggers under ``nmt_monitor`` (the sensor link to ``nmt_monitor.link``:
what was sent, received, re-armed, reconnected). Without ``-v`` nothing from ``logging`` reaches
stderr: the commands print their own one-line warnings and errors.
"""

from __future__ import annotations

import logging
import platform
import sys
from collections.abc import Sequence

from nmt_monitor.errors import UserError

ROOT = "nmt_monitor"
_HANDLER_TAG = "_nmt_monitor_cli"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest and Textual replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(verbose: int = 0, log_file: str | None = None, argv: Sequence[str] = ()) -> logging.Logger:
    """Set up the ``nmt_monitor`` logger for one command run (idempotent: earlier handlers that
    this function added are removed first)."""
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            logger.removeHandler(handler)
            handler.close()
    verbose = int(verbose or 0)
    stderr_level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else None
    levels = []
    if stderr_level is not None:
        h = _StderrHandler()
        h.setLevel(stderr_level)
        h.setFormatter(logging.Formatter("nmt-monitor: %(levelname)s %(name)s: %(message)s"))
        setattr(h, _HANDLER_TAG, True)
        logger.addHandler(h)
        levels.append(stderr_level)
    if log_file:
        try:
            fh = logging.FileHandler(log_file, encoding="utf-8", delay=False)
        except OSError as exc:
            raise UserError(f"--log-file {log_file}: cannot write ({exc.strerror or exc})") from None
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s [%(threadName)s] "
                                          "%(message)s", datefmt="%Y-%m-%d %H:%M:%S"))
        setattr(fh, _HANDLER_TAG, True)
        logger.addHandler(fh)
        levels.append(logging.DEBUG)
    if not levels:
        # Nothing asked for: keep logging's last-resort handler off stderr.
        nh = logging.NullHandler()
        setattr(nh, _HANDLER_TAG, True)
        logger.addHandler(nh)
        logger.setLevel(logging.NOTSET)
    else:
        logger.setLevel(min(levels))
    if levels:
        from nmt_monitor import __version__

        logger.info("nmt-monitor %s, Python %s on %s; arguments: %s", __version__, platform.python_version(),
                    platform.platform(), " ".join(argv))
    return logger
