"""Console output through ``rich``: progress bars and tables on a terminal, plain text otherwise.

On a terminal a batch shows a live bar (done/total, elapsed, time left, the current file) and
tables are drawn with aligned, coloured columns. Piped or redirected, progress is one plain line
per file (a log, no carriage returns) and tables are plain aligned text that scripts can read.
Nothing here writes progress to stdout. ``rich`` is imported only when a terminal needs it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Progress of a batch of ``total`` items on ``stream`` (default stderr): ``update(n, name)``
    after each item, ``close()`` at the end. A rich bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, label: str = "", stream=None) -> None:
        self.total = max(0, int(total))
        self.done = 0
        self.label = label.strip()
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.monotonic()
        self._bar = None
        self._closed = False
        if is_terminal(self.stream):
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress as RichProgress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                TextColumn("[dim]{task.fields[name]}"),
                console=Console(file=self.stream, highlight=False), transient=False,
            )
            self._task = self._bar.add_task(self.label, total=self.total, name="")
            self._bar.start()

    def update(self, n: int = 1, name: str = "") -> None:
        self.done += n
        tail = os.path.basename(str(name))
        if self._bar is not None:
            self._bar.update(self._task, advance=n, name=tail)
            return
        prefix = f"{self.label}: " if self.label else ""
        self.stream.write(f"{prefix}{self.done}/{self.total} {time.monotonic() - self.t0:.1f} s {tail}\n")
        self.stream.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.stop()


# ---- tables -------------------------------------------------------------------------------------

def plain_table(rows: Sequence[Sequence[str]], left: int = 1, indent: str = "") -> list[str]:
    """Rows (the first is the header) as aligned text lines: the first ``left`` columns and the
    last one left-aligned, the others right-aligned."""
    from nmt_monitor.safetext import terminal_text

    rows = [[terminal_text(cell) for cell in r] for r in rows]  # names from files: never escapes
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [r[c].ljust(widths[c]) if c < left or c == len(r) - 1 else r[c].rjust(widths[c])
                 for c in range(len(r))]
        out.append(indent + "  ".join(cells).rstrip())
    return out


#: Cell words drawn in colour on a terminal.
_STYLES = {"FAIL": "bold red", "no": "red", "yes": "green", "ok": "green", "drift": "yellow",
           "over_tolerance": "bold red", "short": "yellow", "gap": "magenta"}


def rich_table(rows: Sequence[Sequence[str]], left: int = 1, title: str | None = None):
    """The same rows as a ``rich.table.Table`` (imported here: only a terminal needs it)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                  header_style="bold", pad_edge=False, show_edge=False)
    n = len(rows[0])
    for c, head in enumerate(rows[0]):
        table.add_column(head, justify="left" if c < left or c == n - 1 else "right", no_wrap=c < n - 1)
    from nmt_monitor.safetext import terminal_text

    for r in rows[1:]:
        cells = []
        for cell in r:
            cell = terminal_text(cell)  # names from files: never escapes the terminal runs
            words = [w.strip() for w in cell.split(",")]
            style = next((_STYLES[w] for w in words if w in _STYLES), None)
            cells.append(Text(cell, style=style or ""))
        table.add_row(*cells)
    return table


def print_rich(*renderables, file=None) -> None:
    from rich.console import Console

    console = Console(file=file if file is not None else sys.stdout, highlight=False)
    for r in renderables:
        console.print(r)
