"""How a hold's flags read, everywhere a person reads them: the live monitor's table, the
``analyze`` and ``grade`` tables, the report (HTML, CSV, pictures). No flags reads ``none``,
never ``ok``, ``-`` or a blank cell. (``analyze --json`` keeps a list: empty when none.)"""

from __future__ import annotations

NO_FLAGS = "none"


def flags_text(flags, sep: str = ", ") -> str:
    """``drift, short`` or ``none``."""
    return sep.join(flags) if flags else NO_FLAGS
