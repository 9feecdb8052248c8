"""argparse types shared by the subcommands: bad values become argparse's one-line usage errors."""

from __future__ import annotations

import argparse
import math

from nmt_monitor.units import UnitError, parse_force_n, parse_force_range_n


def force_n(text: str) -> float:
    """A force with a unit (``60N``, ``6kgf``, ``13.5lbf``; bare numbers are newtons), in N."""
    try:
        return parse_force_n(text)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def force_band_n(text: str) -> tuple[float, float]:
    """A band ``LOW..HIGH`` of forces, in N."""
    try:
        return parse_force_range_n(text)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return value


def worker_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
