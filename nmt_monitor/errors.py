"""Errors that reach the user as one line and an exit code, never a traceback."""

from __future__ import annotations

#: Exit codes of the ``nmt-monitor`` command.
EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran but found a problem (e.g. a file it could not analyse)
EXIT_USAGE = 2  # bad arguments, or a port/file that cannot be used


class UserError(Exception):
    """A problem the user can fix: printed as ``nmt-monitor: error: <message>``."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code
