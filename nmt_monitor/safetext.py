"""Text from users and files is shown and written as text, never run as something else.

- Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and tab or carriage
  return, which some strip first) as a formula: CSV injection (OWASP). ``spreadsheet_cell``
  prefixes such *text* with a single quote, as OWASP recommends; numbers are left alone, so
  ``-1.5`` in a numeric column stays a number.
- matplotlib parses ``$...$`` in labels as mathtext (a bad expression is an exception):
  ``figure_text`` escapes ``$``; figures also pass ``usetex=False``.
- Textual parses ``[...]`` as markup: user text goes through ``rich.markup.escape`` or ``Text``
  (in nmt_monitor.tui).
- A terminal runs control characters (ESC sequences clear the screen, retitle the window,
  write to the clipboard): ``terminal_text`` shows each as ``?`` in the tables printed to it.
"""

from __future__ import annotations

import re

#: Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection), with
#: their full-width forms, which some spreadsheets normalise.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_cell(value):
    """A CSV cell that a spreadsheet shows as written: text starting like a formula gets a
    leading ``'``; numbers, None and other text are returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def spreadsheet_row(values) -> list:
    """``spreadsheet_cell`` over a row."""
    return [spreadsheet_cell(v) for v in values]


def figure_text(text) -> str:
    """Text for a matplotlib label or title, shown literally: every ``$`` escaped, so nothing
    is mathtext (matplotlib shows ``\\$`` as ``$``)."""
    return str(text).replace("$", r"\$")


#: C0 and C1 control characters and DEL (a terminal acts on them; tables are one line per row).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def terminal_text(text) -> str:
    """Text for a terminal, shown literally: every control character (ESC, BEL, CR, newline ...)
    becomes ``?``."""
    return _CONTROL.sub("?", str(text))
