"""ASCII output of commercial force gauges and algometers, one reading per line.

Accepted line shapes (CR, LF or CR/LF terminated; leading/trailing blanks ignored):

- ``4.285 N``, ``-18.78 lbF``, ``0.52 kgF``  (Mark-10 / Omega: value, space, unit)
- ``- 23.02 lbf``, ``+ 1.50 N``             (Wagner: sign, space, value, unit)
- ``+012.34NT``, ``-001.20KTO``             (Imada: sign, value, unit letter O/K/N, mode T/P, judgement)
- ``12.5``                                 (a bare number: DIY load cells; unit from the caller)
- ``*10``                                   (an error reply: counted, no reading)

Everything is converted to newtons, compression positive. Lines in a unit we cannot convert
(e.g. ``fgf``), peak-mode readings (Imada ``P``) and malformed lines give no reading; they are
counted so the user is told. A whole chunk of uniform lines is checked with one regular
expression and converted with C-level splitting; mixed chunks fall back to a line-by-line parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from nmt_monitor.units import NEWTONS_PER_KGF, NEWTONS_PER_LBF, UNIT_TO_NEWTONS

MAX_LINE_BYTES = 128
#: A reading beyond this is line noise, not a force a hand can apply (and keeps inf/nan out).
MAX_PLAUSIBLE_N = 1e5
_MAX_CACHED_TOKENS = 64

_NUMBER = rb"(?:\d+\.?\d*|\.\d+)"
# A chunk of uniform "value unit" lines (after the Wagner sign-space is closed up).
_CHUNK_VALUE_UNIT = re.compile(rb"(?:[-+]?" + _NUMBER + rb" [A-Za-z]+\n)+")
_CHUNK_BARE = re.compile(rb"(?:[-+]?" + _NUMBER + rb"\n)+")
_GLUED_FIRST = re.compile(rb"[-+]?" + _NUMBER + rb"([A-Za-z]+)\n")
_LINE = re.compile(rb"\s*([-+]?)\s*(" + _NUMBER + rb")\s*([A-Za-z]*)\s*")
_ERROR_LINE = re.compile(rb"\s*\*\d+\s*")
_IMADA_UNIT = re.compile(r"([onk])([tp])([lohe]?)")
_IMADA_LETTER = {"o": NEWTONS_PER_LBF, "k": NEWTONS_PER_KGF, "n": 1.0}

#: Unit tokens as users know them, for metadata ("lbF" -> "lbf").
_CANONICAL = {"n": "N", "mn": "mN", "kn": "kN", "kg": "kgf", "kgf": "kgf", "g": "gf", "gf": "gf",
              "lb": "lbf", "lbf": "lbf", "lbs": "lbf", "oz": "ozf", "ozf": "ozf", "newton": "N", "newtons": "N"}


def unit_token_to_newtons(token: str) -> tuple[float | None, str]:
    """(newtons per unit or None if unknown/unusable, canonical unit name) for a gauge unit token."""
    t = token.lower()
    if t in UNIT_TO_NEWTONS:
        return UNIT_TO_NEWTONS[t], _CANONICAL.get(t, token)
    m = _IMADA_UNIT.fullmatch(t)
    if m:
        name = {"o": "lbf", "k": "kgf", "n": "N"}[m.group(1)]
        if m.group(2) == "p":  # peak-hold reading: not the live force
            return None, name + " (peak mode)"
        return _IMADA_LETTER[m.group(1)], name
    return None, token


@dataclass
class GaugeReadings:
    force_n: np.ndarray  # float64, one per accepted reading
    unit: str | None  # canonical unit of the last reading ("N", "lbf", ...)
    error_replies: int = 0
    unknown_units: int = 0
    malformed_lines: int = 0
    bytes_skipped: int = 0
    unknown_unit_tokens: tuple[str, ...] = ()


class GaugeLineDecoder:
    """Incremental gauge line decoder; ``bare_unit`` is the unit of bare numbers (default N)."""

    def __init__(self, bare_unit: str = "N") -> None:
        factor, canonical = unit_token_to_newtons(bare_unit)
        if factor is None:
            raise ValueError(f"unknown unit {bare_unit!r} for bare gauge numbers")
        self.bare_factor = factor
        self.bare_unit = canonical
        self._pending = b""
        self._unit_cache: dict[bytes, tuple[float | None, str]] = {}
        self._glued_chunk: dict[bytes, re.Pattern] = {}
        # Once lines have carried a unit, a bare number is a damaged line, not a reading in
        # ``bare_unit`` (12.5 after lbF lines would be read as 12.5 N instead of 55.6 N).
        self._seen_unit = False

    def _unit(self, token: bytes) -> tuple[float | None, str]:
        cached = self._unit_cache.get(token)
        if cached is None:
            cached = unit_token_to_newtons(token.decode("ascii", errors="replace"))
            if len(self._unit_cache) >= _MAX_CACHED_TOKENS:  # garbage tokens: keep memory flat
                self._unit_cache.clear()
            self._unit_cache[token] = cached
        return cached

    def feed(self, data: bytes) -> GaugeReadings:
        text = self._pending + bytes(data)
        last = max(text.rfind(b"\n"), text.rfind(b"\r"))
        skipped = 0
        if last < 0:
            self._pending = text
            if len(self._pending) > MAX_LINE_BYTES:  # no line end in sight: garbage
                skipped = len(self._pending)
                self._pending = b""
            return GaugeReadings(np.empty(0), None, bytes_skipped=skipped, malformed_lines=1 if skipped else 0)
        self._pending = text[last + 1 :]
        body = text[: last + 1].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        body = body.replace(b"- ", b"-").replace(b"+ ", b"+")
        if b"\n\n" in body or body.startswith(b"\n"):
            body = b"\n".join(line for line in body.split(b"\n") if line) + b"\n"
        if body == b"\n":
            return GaugeReadings(np.empty(0), None)
        readings = self._fast_path(body)
        if readings is None:
            readings = self._slow_path(body)
        if readings.force_n.size and not np.all(np.abs(readings.force_n) <= MAX_PLAUSIBLE_N):
            bad = ~(np.abs(readings.force_n) <= MAX_PLAUSIBLE_N)  # also catches nan and inf
            readings.force_n = readings.force_n[~bad]
            readings.malformed_lines += int(bad.sum())
        return readings

    def _fast_path(self, body: bytes) -> GaugeReadings | None:
        if _CHUNK_BARE.fullmatch(body) and not self._seen_unit:
            values = np.array(body.split(), dtype=np.float64)
            return GaugeReadings(values * self.bare_factor, self.bare_unit)
        if not _CHUNK_VALUE_UNIT.fullmatch(body):
            return self._fast_path_glued(body)
        tokens = body.split()
        units = tokens[1::2]
        unit_set = set(units)
        if len(unit_set) != 1:
            return None
        factor, canonical = self._unit(units[0])
        if factor is None:
            return None
        self._seen_unit = True
        values = np.array(tokens[0::2], dtype=np.float64)
        return GaugeReadings(values * factor, canonical)

    def _fast_path_glued(self, body: bytes) -> GaugeReadings | None:
        """Uniform lines with the unit glued on (Imada ``+012.34NT``)."""
        first = _GLUED_FIRST.match(body)
        if first is None:
            return None
        suffix = first.group(1)
        pattern = self._glued_chunk.get(suffix)
        if pattern is None:
            pattern = re.compile(rb"(?:[-+]?" + _NUMBER + re.escape(suffix) + rb"\n)+")
            self._glued_chunk[suffix] = pattern
        if not pattern.fullmatch(body):
            return None
        factor, canonical = self._unit(suffix)
        if factor is None:
            return None
        self._seen_unit = True
        values = np.array(body.replace(suffix + b"\n", b"\n").split(), dtype=np.float64)
        return GaugeReadings(values * factor, canonical)

    def _slow_path(self, body: bytes) -> GaugeReadings:
        values: list[float] = []
        unit = None
        errors = unknown = malformed = skipped = 0
        unknown_tokens: list[str] = []
        for line in body.split(b"\n"):
            if not line:
                continue
            m = _LINE.fullmatch(line)
            if m is None:
                if _ERROR_LINE.fullmatch(line):
                    errors += 1
                else:
                    malformed += 1
                    skipped += len(line) + 1
                continue
            sign, number, token = m.groups()
            if token:
                factor, canonical = self._unit(token)
                if factor is None:
                    unknown += 1
                    unknown_tokens.append(token.decode("ascii", errors="replace"))
                    continue
                self._seen_unit = True
            elif self._seen_unit:
                malformed += 1
                skipped += len(line) + 1
                continue
            else:
                factor, canonical = self.bare_factor, self.bare_unit
            value = float(number) * factor
            values.append(-value if sign == b"-" else value)
            unit = canonical
        return GaugeReadings(
            np.asarray(values, dtype=np.float64),
            unit,
            error_replies=errors,
            unknown_units=unknown,
            malformed_lines=malformed,
            bytes_skipped=skipped,
            unknown_unit_tokens=tuple(unknown_tokens),
        )
