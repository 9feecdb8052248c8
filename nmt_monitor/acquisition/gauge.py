"""ASCII output of commercial force gauges and algometers, one reading per line.

Accepted line shapes (CR, LF or CR/LF terminated; leading/trailing blanks ignored):

- ``4.285 N``, ``-18.78 lbF``, ``0.52 kgF``  (Mark-10 / Omega: value, space, unit)
- ``- 23.02 lbf``, ``+ 1.50 N``             (Wagner: sign, space, value, unit)
- ``+012.34NT``, ``-001.20KTO``             (Imada: sign, value, unit letter O/K/N, mode T/P, judgement)
- ``12.5``                                 (a bare number: DIY load cells; unit from the caller)
- ``*10``                                   (an error reply: counted, no reading)

Everything is converted to newtons, compression positive.

ASCII lines carry no checksum, so line noise merges or truncates lines into plausible
numbers (``43142.276 N``, ``4.2``, ``85 N``). A line is accepted only in the *exact format*
of the gauge's lines around it: the same unit token, separator and number of decimals, the
same sign convention and zero padding. That format is never taken from one line: it is the
one that a robust majority of the recent lines share (``CONFIRM_LINES`` agreeing lines, more
than half of the last ``WINDOW_LINES``), and it stays until another format wins such a
majority, so a burst of garbage does not unseat it and the first good line after the burst is
read again. A change of format (the user switched the gauge from N to lbF) is reported in
``GaugeReadings.format_change``; the lines of the new format that confirmed it are passed on
then, in order.

Within the format, a reading that leaps from the previous one (more than doubles it, falls
below a quarter of it, or crosses zero, by more than the noise floor) is held back until the next line says which was
right: if the next reading is nearer the leap, both are passed on (a fast press, one line
late); if it is nearer the level before, the leap was a damaged line and is dropped. A
merged line (``5`` + ``50.330 N`` = ``550.330 N``) is dropped that way. The caller applies
the gauge's capacity.

A chunk of lines all in the current format is checked with one regular expression and
converted with C-level splitting (millions of lines per second); lines that differ are
handled one by one.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from nmt_monitor.units import NEWTONS_PER_KGF, NEWTONS_PER_LBF, UNIT_TO_NEWTONS

MAX_LINE_BYTES = 128
#: A reading beyond this is line noise, not a force a hand can apply (and keeps inf/nan out).
MAX_PLAUSIBLE_N = 1e5
#: A format is adopted when this many recent lines share it ...
CONFIRM_LINES = 3
#: ... and they are more than half of the last WINDOW_LINES lines.
WINDOW_LINES = 9
#: Recent readings whose size sets the noise floor of the leap test (5 % of the largest).
MAGNITUDE_LINES = 64
LEAP_FLOOR_FRACTION = 0.05
#: ... and at least this many steps of the gauge's resolution ...
LEAP_FLOOR_STEPS = 20
#: ... and this many times the typical change from one reading to the next (the noise).
LEAP_FLOOR_NOISE = 8.0
_NOISE_WEIGHT = 0.05  # of each new reading in the running mean of |change|
_MAX_CACHED_TOKENS = 64

_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_LINE = re.compile(rb"([-+]?) ?(\d*)(\.?)(\d*)( *)([A-Za-z]*)")
_REPLY_LINE = re.compile(rb"\*\d+|[ER]")  # Mark-10 error codes; Imada's E (error) and R (done)
_IMADA_UNIT = re.compile(r"([onk])([tp])([lohe]?)")
_IMADA_TOKEN = re.compile(rb"[ONKonk][TPtp]([LOHEloh e]?)")
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


@dataclass(frozen=True)
class LineFormat:
    """The exact shape of a gauge's reading lines.

    ``unit``: the unit token as sent (Imada: unit and mode letters, ``NT``); ``sep``: what
    separates number and unit; ``decimals``: digits after the point (-1: no point);
    ``pad``: width of a zero-padded integer part (Imada ``012.34``), 0 if not padded;
    ``sign``: ``explicit`` (every line signed), ``minus`` (only negatives) or ``any``;
    ``judgement``: an optional Imada judgement letter may follow the unit; ``bare_point``:
    numbers may start with the point (``.5``).
    """

    unit: bytes
    sep: bytes
    decimals: int
    pad: int = 0
    sign: str = "minus"
    judgement: bool = False
    bare_point: bool = False  # ``.5``: no digit before the point

    @property
    def key(self) -> tuple[bytes, bytes, int]:
        return (self.unit, self.sep, self.decimals)

    def example(self) -> str:
        """What a line looks like, for messages: ``12.345 N``, ``+012.34NT``, ``12.3``."""
        whole = "0" * self.pad if self.pad else "12"
        number = whole + ("." + "3456789012"[: self.decimals] if self.decimals >= 0 else "")
        sign = "+" if self.sign == "explicit" else ""
        return f"{sign}{number}{self.sep.decode()}{self.unit.decode('ascii', 'replace')}"

    def chunk_pattern(self) -> re.Pattern:
        """Matches a run of whole lines (``\\n``-terminated) in exactly this format."""
        sign = {"explicit": rb"[-+]", "minus": rb"-?", "any": rb"[-+]?"}[self.sign]
        if self.pad:
            whole = rb"\d{%d}" % self.pad
        elif self.decimals >= 0 and self.bare_point:
            whole = rb"(?:0|[1-9]\d*)?"
        else:
            whole = rb"(?:0|[1-9]\d*)"
        frac = rb"\.\d{%d}" % self.decimals if self.decimals >= 0 else b""
        tail = re.escape(self.sep + self.unit) + (rb"[LOHEloh]?" if self.judgement else b"")
        return re.compile(rb"(?:" + sign + whole + frac + tail + rb"\n)+")


@dataclass
class GaugeReadings:
    force_n: np.ndarray  # float64, one per accepted reading
    unit: str | None  # canonical unit of the current format ("N", "lbf", ...)
    error_replies: int = 0
    unknown_units: int = 0
    malformed_lines: int = 0  # lines rejected: garbage, another format, implausible
    bytes_skipped: int = 0
    unknown_unit_tokens: tuple[str, ...] = ()
    lines: int = 0  # lines that looked like readings in a known unit (accepted or not)
    format_change: tuple[str, str] | None = None  # (old, new) example lines; old "" at the first format


@dataclass
class _Parsed:
    key: tuple[bytes, bytes, int]
    value: float  # in the gauge's unit, signed
    whole: bytes  # integer digits as sent
    sign: bytes  # b"", b"-" or b"+"
    judged: bool  # an Imada judgement letter followed the unit
    length: int  # bytes of the line, with its terminator
    line_no: int


@dataclass
class _Acc:
    """What one ``feed`` call found."""

    values: list = field(default_factory=list)  # arrays and floats, in order
    errors: int = 0
    unknown: int = 0
    malformed: int = 0
    skipped: int = 0
    tokens: list = field(default_factory=list)
    lines: int = 0
    change: tuple[str, str] | None = None


class GaugeLineDecoder:
    """Incremental gauge line decoder; ``bare_unit`` is the unit of bare numbers (default N)."""

    def __init__(self, bare_unit: str = "N") -> None:
        factor, canonical = unit_token_to_newtons(bare_unit)
        if factor is None:
            raise ValueError(f"unknown unit {bare_unit!r} for bare gauge numbers")
        self.bare_factor = factor
        self.bare_unit = canonical
        self._partial = b""
        self._unit_cache: dict[bytes, tuple[float | None, str]] = {}
        self.format: LineFormat | None = None
        self._pattern: re.Pattern | None = None
        self._factor: float | None = None
        self._canonical: str | None = None
        self._window: deque = deque()  # keys of the last WINDOW_LINES lines (None: not a reading)
        self._votes: dict = {}
        self._candidates: deque[_Parsed] = deque()  # recent lines not in the current format
        self._held: _Parsed | None = None  # a reading too large to accept without the next line
        self._mags: deque[tuple[int, float]] = deque()  # (lines, largest |value|) of recent readings
        self._mag_lines = 0
        self._floor_cache: float | None = None
        self._prev = 0.0  # the last reading accepted, in the gauge's unit
        self._noise = 0.0  # running mean of |change| between accepted readings
        self._line_no = 0
        self._last_accepted_no = 0

    # ---- public -----------------------------------------------------------------------

    def restart(self) -> None:
        """Forget half-read and unconfirmed lines (a new connection); keep the learned format."""
        self._partial = b""
        self._held = None
        self._candidates.clear()

    def feed(self, data: bytes) -> GaugeReadings:
        text = self._partial + bytes(data) if self._partial else bytes(data)
        last = max(text.rfind(b"\n"), text.rfind(b"\r"))
        acc = _Acc()
        if last < 0:
            self._partial = text
            if len(text) > MAX_LINE_BYTES:  # no line end in sight: garbage
                acc.skipped, acc.malformed = len(text), 1
                self._partial = b""
                self._vote(None)
            return self._result(acc)
        self._partial = text[last + 1:]
        if len(self._partial) > MAX_LINE_BYTES:
            acc.skipped += len(self._partial)
            acc.malformed += 1
            self._partial = b""
        body = text[: last + 1]
        if b"\r" in body:
            body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b" " in body:
            body = body.replace(b"- ", b"-").replace(b"+ ", b"+")  # Wagner's sign, space, value
        if b"\n\n" in body or body[:1] == b"\n":
            body = b"\n".join(line for line in body.split(b"\n") if line) + b"\n"
            if body == b"\n":
                return self._result(acc)
        pos, size = 0, len(body)
        while pos < size:
            if self._pattern is not None and self._held is None:
                m = self._pattern.match(body, pos)
                if m is not None:
                    end = m.end()
                    pos = self._fast(body, pos, end, acc)
                    if pos == end:
                        continue
                    # A reading leaps from the one before: that line is judged on its own.
            end = body.find(b"\n", pos)
            self._line(body[pos:end], acc)
            pos = end + 1
        return self._result(acc)

    # ---- the fast path: a run of lines in the current format ---------------------------

    def _fast(self, body: bytes, pos: int, end: int, acc: _Acc) -> int:
        """Accept the lines of ``body[pos:end]`` (all in the current format) up to the first
        that leaps from the one before; return where the rest begins."""
        values = np.array(body[pos:end].translate(None, _LETTERS).split(), dtype=np.float64)
        n = values.size
        prev = np.empty(n)
        prev[0] = self._prev
        prev[1:] = values[:-1]
        floor = self._floor()
        size, before = np.abs(values), np.abs(prev)
        change = np.abs(values - prev)
        leaps = (size > 2.0 * before + floor) | (size < 0.25 * before - floor) | (
            (values * prev < 0) & (change > 2.0 * floor))
        if leaps.any():
            n = int(leaps.argmax())
            if n == 0:
                return pos
            values, change, size = values[:n], change[:n], size[:n]
            stop = pos
            for _ in range(n):
                stop = body.index(b"\n", stop) + 1
        else:
            stop = end
        self._line_no += n
        self._last_accepted_no = self._line_no
        acc.lines += n
        acc.values.append(values * self._factor)
        self._prev = float(values[-1])
        self._noise += (1.0 - (1.0 - _NOISE_WEIGHT) ** n) * (float(change.sum()) / n - self._noise)
        self._note_magnitude(n, float(size.max()))
        key = self.format.key
        if n >= WINDOW_LINES:
            self._window = deque([key] * WINDOW_LINES)
            self._votes = {key: WINDOW_LINES}
            self._expire_candidates(acc)
        else:
            for _ in range(n):
                self._vote(key, acc)
        return stop

    # ---- one line at a time ------------------------------------------------------------

    def _line(self, line: bytes, acc: _Acc) -> None:
        line = line.strip()
        if not line:
            return
        length = len(line) + 1
        if _REPLY_LINE.fullmatch(line):
            acc.errors += 1
            return
        m = _LINE.fullmatch(line)
        if m is None or not (m.group(2) or m.group(4)) or (m.group(4) and not m.group(3)):
            self._line_no += 1
            acc.malformed += 1
            acc.skipped += length
            self._vote(None, acc)
            return
        sign, whole, dot, frac, sep, token = m.groups()
        judged = False
        if token and not sep:
            t = _IMADA_TOKEN.fullmatch(token)
            if t is not None and t.group(1):
                token, judged = token[:2], True
        key = (token, sep, len(frac) if dot else -1)
        value = float(whole + dot + frac if whole or frac else b"0")
        if sign == b"-":
            value = -value
        self._line_no += 1
        known = not token or self._unit(token)[0] is not None
        acc.lines += known
        parsed = _Parsed(key, value, whole, sign, judged, length, self._line_no)
        self._vote(key, acc)
        fmt = self.format
        if fmt is not None and key == fmt.key:
            self._in_format(parsed, acc)
            return
        if not known:
            acc.unknown += 1
            acc.tokens.append(token.decode("ascii", errors="replace"))
        self._candidates.append(parsed)
        if self._votes.get(key, 0) >= max(CONFIRM_LINES, len(self._window) // 2 + 1):
            self._adopt(key, acc)

    def _in_format(self, p: _Parsed, acc: _Acc) -> None:
        if not self._shape_ok(p, self.format):
            acc.malformed += 1
            acc.skipped += p.length
            return
        if self._factor is None:  # a unit we cannot convert: counted, reported by the caller
            acc.unknown += 1
            acc.tokens.append(p.key[0].decode("ascii", errors="replace"))
            return
        held = self._held
        if held is not None:
            self._held = None
            if abs(p.value - held.value) <= abs(p.value - self._prev):
                self._accept_one(held, acc)  # the force really moved there
            else:
                acc.malformed += 1  # a lone outlier: a damaged line
                acc.skipped += held.length
        if self._leaps(p.value):
            self._held = p
            return
        self._accept_one(p, acc)

    def _leaps(self, value: float) -> bool:
        """More than doubles, falls below a quarter, or crosses zero, beyond the noise floor."""
        prev, floor = self._prev, self._floor()
        size, before = abs(value), abs(prev)
        return (size > 2.0 * before + floor or size < 0.25 * before - floor
                or (value * prev < 0 and abs(value - prev) > 2.0 * floor))

    def _shape_ok(self, p: _Parsed, fmt: LineFormat) -> bool:
        if fmt.pad:
            if len(p.whole) != fmt.pad:
                return False
        elif len(p.whole) > 1 and p.whole[:1] == b"0":
            return False  # a leading zero in an unpadded format: a damaged line
        elif not p.whole and not fmt.bare_point:
            return False
        if fmt.sign == "explicit" and not p.sign:
            return False
        if fmt.sign == "minus" and p.sign == b"+":
            return False
        if p.judged and not fmt.judgement:
            return False
        return True

    def _adopt(self, key, acc: _Acc) -> None:
        """``key`` won a majority of the recent lines: it is the gauge's format from now on."""
        lines = [p for p in self._candidates if p.key == key]
        signed = [bool(p.sign) for p in lines]
        pad = 0
        widths = {len(p.whole) for p in lines}
        if len(widths) == 1 and min(widths) > 1 and any(p.whole[:1] == b"0" for p in lines):
            pad = widths.pop()
        plus = any(p.sign == b"+" for p in lines)
        if all(signed) and plus:
            sign = "explicit"  # Wagner, Imada: every reading signed
        elif plus:
            sign = "any"
        else:
            sign = "minus"  # Mark-10, DIY: only negatives signed (all-negative lines say no more)
        judgement = bool(_IMADA_TOKEN.fullmatch(key[0])) and not key[1]
        bare_point = key[2] >= 0 and any(not p.whole for p in lines)
        old = self.format
        fmt = LineFormat(unit=key[0], sep=key[1], decimals=key[2], pad=pad, sign=sign, judgement=judgement,
                         bare_point=bare_point)
        self.format = fmt
        self._pattern = fmt.chunk_pattern()
        if key[0]:
            self._factor, self._canonical = self._unit(key[0])
        else:
            self._factor, self._canonical = self.bare_factor, self.bare_unit
        acc.change = (acc.change[0] if acc.change else (old.example() if old else ""), fmt.example())
        if self._factor is None:
            self._pattern = None  # nothing to read in it: every line is counted one by one
        self._held = None
        # The lines that confirmed it, since the last reading accepted, are readings too.
        release = [p for p in lines if p.line_no > self._last_accepted_no and self._shape_ok(p, fmt)]
        self._candidates = deque(p for p in self._candidates if p.key != key)
        self._mags.clear()
        self._mag_lines = 0
        if release and self._factor is not None:
            sizes = sorted(abs(p.value) for p in release)
            median = sizes[len(sizes) // 2]
            self._note_magnitude(1, median)
            self._prev = median
            self._noise = 0.0
            for p in release:  # only a gross outlier is dropped here: these lines are past
                if abs(p.value) <= 10.0 * median + self._floor():
                    self._accept_one(p, acc)
                else:
                    acc.malformed += 1
                    acc.skipped += p.length
        elif self._factor is None:
            acc.unknown += len(release)
            acc.tokens.extend(p.key[0].decode("ascii", errors="replace") for p in release)

    # ---- bookkeeping ---------------------------------------------------------------------

    def _accept_one(self, p: _Parsed, acc: _Acc) -> None:
        acc.values.append(p.value * self._factor)
        self._last_accepted_no = p.line_no
        self._noise += _NOISE_WEIGHT * (abs(p.value - self._prev) - self._noise)
        self._prev = p.value
        self._note_magnitude(1, abs(p.value))

    def _floor(self) -> float:
        """How far a reading may move from the previous one without being a leap, beyond
        doubling (in the gauge's unit): the noise floor."""
        floor = self._floor_cache
        if floor is None:
            step = 10.0 ** -self.format.decimals if self.format.decimals > 0 else 1.0
            largest = max(m for _, m in self._mags) if self._mags else 0.0
            floor = self._floor_cache = max(LEAP_FLOOR_STEPS * step, LEAP_FLOOR_FRACTION * largest,
                                            LEAP_FLOOR_NOISE * self._noise)
        return floor

    def _note_magnitude(self, n: int, largest: float) -> None:
        self._floor_cache = None
        self._mags.append((n, largest))
        self._mag_lines += n
        while len(self._mags) > 1 and self._mag_lines - self._mags[0][0] >= MAGNITUDE_LINES:
            self._mag_lines -= self._mags.popleft()[0]

    def _vote(self, key, acc: _Acc | None = None) -> None:
        window = self._window
        window.append(key)
        self._votes[key] = self._votes.get(key, 0) + 1
        if len(window) > WINDOW_LINES:
            old = window.popleft()
            self._votes[old] -= 1
            if not self._votes[old]:
                del self._votes[old]
        if self._candidates and acc is not None:
            self._expire_candidates(acc)

    def _expire_candidates(self, acc: _Acc) -> None:
        """Lines that left the window without their format winning: rejected for good."""
        oldest = self._line_no - WINDOW_LINES
        cands = self._candidates
        while cands and cands[0].line_no <= oldest:
            p = cands.popleft()
            acc.malformed += 1
            acc.skipped += p.length

    def _unit(self, token: bytes) -> tuple[float | None, str]:
        cached = self._unit_cache.get(token)
        if cached is None:
            cached = unit_token_to_newtons(token.decode("ascii", errors="replace"))
            if len(self._unit_cache) >= _MAX_CACHED_TOKENS:  # garbage tokens: keep memory flat
                self._unit_cache.clear()
            self._unit_cache[token] = cached
        return cached

    def _result(self, acc: _Acc) -> GaugeReadings:
        values = acc.values
        if not values:
            force = np.empty(0)
        elif len(values) == 1 and isinstance(values[0], np.ndarray):
            force = values[0]
        else:
            force = np.concatenate([np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in values])
        if force.size and not np.all(np.abs(force) <= MAX_PLAUSIBLE_N):
            bad = ~(np.abs(force) <= MAX_PLAUSIBLE_N)  # also catches nan and inf
            force = force[~bad]
            acc.malformed += int(bad.sum())
        return GaugeReadings(
            force_n=force,
            unit=self._canonical,
            error_replies=acc.errors,
            unknown_units=acc.unknown,
            malformed_lines=acc.malformed,
            bytes_skipped=acc.skipped,
            unknown_unit_tokens=tuple(acc.tokens),
            lines=acc.lines,
            format_change=acc.change,
        )
