"""What a command over many files (``analyze``, ``grade``) says about the files it skipped."""

from __future__ import annotations

import argparse
import sys

from nmt_monitor.errors import EXIT_FAILURE, EXIT_USAGE

#: The exit codes of a command over many files (analyze, grade), for --help and the README.
BATCH_EXIT_CODES = """exit codes:
  0  every file was used
  1  some files were skipped (each named on stderr, one line); the output covers the others
  2  nothing usable (no file could be read), or bad arguments / a missing path"""


class BatchHelpFormatter(argparse.HelpFormatter):
    """Wraps the description as usual and keeps the exit-code table's lines."""

    def _fill_text(self, text, width, indent):
        if text.startswith("exit codes:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def report_skipped(skipped, total: int, used: int, verb: str) -> int:
    """Name each skipped file on stderr (one line each) and return the batch exit code."""
    for s in skipped:
        print(f"nmt-monitor: error: {s.message}", file=sys.stderr)
    if not skipped:
        return 0
    if not used:
        if total > 1:
            print(f"nmt-monitor: none of the {total} files could be {verb}", file=sys.stderr)
        return EXIT_USAGE
    print(f"nmt-monitor: {verb} {used} of {total} files; skipped {len(skipped)} (named above)", file=sys.stderr)
    return EXIT_FAILURE
