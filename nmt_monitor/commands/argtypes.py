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


class RenamedOption(argparse.Action):
    """An option that was renamed: using it is a usage error that names the new option (hidden
    from ``--help``; it also stops argparse reading it as an abbreviation of a longer option)."""

    def __init__(self, option_strings, dest, new: str, hint: str = "", **kwargs) -> None:
        super().__init__(option_strings, argparse.SUPPRESS, nargs="?", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
        self.new = new
        self.hint = hint

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(f"{option_string} is now {self.new}{self.hint}")
