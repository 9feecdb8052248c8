"""Force units and parsing of forces typed by users (``60N``, ``6kg``, ``13.5lbf``)."""

from __future__ import annotations

import math
import re

NEWTONS_PER_KGF = 9.80665
NEWTONS_PER_LBF = 4.4482216152605
NEWTONS_PER_OZF = 0.27801385095378125
NEWTONS_PER_GF = NEWTONS_PER_KGF / 1000.0

#: Unit spellings (lower case) and how many newtons one of them is.
UNIT_TO_NEWTONS: dict[str, float] = {
    "n": 1.0,
    "newton": 1.0,
    "newtons": 1.0,
    "mn": 1e-3,
    "kn": 1e3,
    "kg": NEWTONS_PER_KGF,
    "kgf": NEWTONS_PER_KGF,
    "g": NEWTONS_PER_GF,
    "gf": NEWTONS_PER_GF,
    "lb": NEWTONS_PER_LBF,
    "lbf": NEWTONS_PER_LBF,
    "lbs": NEWTONS_PER_LBF,
    "oz": NEWTONS_PER_OZF,
    "ozf": NEWTONS_PER_OZF,
}

#: No hand or sensor comes near this; larger numbers are typing mistakes (or inf).
MAX_FORCE_N = 1e5

_FORCE_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*$")


class UnitError(ValueError):
    """A force or unit the user typed could not be understood."""


def newtons_per_unit(unit: str) -> float:
    """Newtons in one ``unit`` (case-insensitive: ``N``, ``kgf``, ``lbF`` ...)."""
    try:
        return UNIT_TO_NEWTONS[unit.strip().lower()]
    except KeyError:
        known = ", ".join(sorted({"N", "kgf", "kg", "lbf", "ozf", "gf"}))
        raise UnitError(f"unknown force unit {unit!r} (use one of {known})") from None


def parse_force_n(text: str) -> float:
    """Parse a force with an optional unit into newtons; a bare number is newtons.

    >>> parse_force_n("60N"), parse_force_n("6kg"), round(parse_force_n("13.5lbf"), 3)
    (60.0, 58.8399, 60.051)
    """
    value, unit = _split_force(text)
    return value * newtons_per_unit(unit or "N")


def _split_force(text: str) -> tuple[float, str]:
    match = _FORCE_RE.match(text)
    if not match:
        raise UnitError(f"cannot read force {text!r}: write a number with a unit, e.g. 60N, 6kgf, 13.5lbf")
    value = float(match.group(1))
    if not math.isfinite(value) or abs(value) > MAX_FORCE_N:
        raise UnitError(f"force {text!r} is out of range")
    return value, match.group(2)


def parse_force_range_n(text: str) -> tuple[float, float]:
    """Parse a band ``40N..60N`` into (low, high) newtons.

    A unit written only once applies to both ends: ``30..45lbf`` is 30 lbf to 45 lbf.
    """
    parts = text.split("..")
    if len(parts) != 2:
        raise UnitError(f"cannot read force range {text!r}: write LOW..HIGH, e.g. 40N..60N")
    (low_value, low_unit), (high_value, high_unit) = _split_force(parts[0]), _split_force(parts[1])
    low_unit = low_unit or high_unit or "N"
    high_unit = high_unit or low_unit
    low = low_value * newtons_per_unit(low_unit)
    high = high_value * newtons_per_unit(high_unit)
    if low < 0:
        raise UnitError(f"force range {text!r} starts below zero: pressure is 0 or more")
    if not low < high:
        raise UnitError(f"force range {text!r} is empty: LOW must be below HIGH")
    return low, high
