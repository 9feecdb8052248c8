"""Commercial force gauges, simulated: their ASCII line formats and request commands.

Compression (pushing on a trigger point) is reported as a POSITIVE force by every gauge here;
tension would be negative.  Lines end in CR LF, except Imada (CR only).

- mark10: ``?`` + CR -> ``4.285 N`` / ``-18.78 lbF``; ``N`` ``LB``/``LBF`` ``KG`` ``G`` ``OZ`` ``MN``
  ``KN`` switch units (no reply), ``Z`` zeroes, ``RS`` answers the serial number (a line of its
  own, e.g. ``3141592``; ``*10`` when it has none), anything else -> ``*10``.
  ``continuous=True`` auto-transmits at ``rate_hz`` from power-up.
- wagner: FDX/FDIX style.  ``?`` or ``C?`` -> one reading ``- 23.02 lbf`` / ``+ 23.02 lbf``
  (sign, space, value, space, unit); ``C.5`` ... ``C100`` set 0.5-100 points/s, ``CB`` begins
  continuous output, ``CE`` ends it; continuous mode is lost on a power cycle.  Unknown commands
  are ignored.  ``unit_token`` overrides the printed unit (e.g. ``fgf``, an unknown token).
- imada: DS2/DST style.  ``D`` + CR -> ``+012.34NT`` (sign, zero-padded value, unit letter
  O=lbf K=kgf N=N, mode T=real time / P=peak, then a judgement letter L/O/H when limits are
  set); ``N`` ``K`` ``O`` set the unit, ``T`` ``P`` the mode, ``Z`` zeroes (each answered ``R``);
  unknown commands -> ``E``.
- plain: an HX711-style sketch: a bare number per line, continuously at ``rate_hz``, in ``unit``.

Faults: ``drop_frames`` and ``corrupt`` (one flipped byte) per reading line; ``noise_lines``:
after a reading, with this probability, a line in another format (``3.2 N`` on a bare-number
gauge, ``3.2`` on the others: electrical noise a DIY sketch picks up, a stray debug print);
``garble=(at_s, for_s)``: in that window of world time every reading line is replaced by
printable junk of its length (bytes arrive, no reading can be read).
"""

from __future__ import annotations

import numpy as np

from .device import Firmware
from .scenarios import Scenario
from .world import World

N_PER = {"N": 1.0, "kgf": 9.80665, "lbf": 4.4482216, "g": 9.80665e-3, "ozf": 0.27801385,
         "mN": 1e-3, "kN": 1e3}
GAUGES = ("mark10", "wagner", "imada", "plain")
GAUGE_UNITS = ("N", "kgf", "lbf", "g")
_UNIT_ALIASES = {"n": "N", "kgf": "kgf", "kg": "kgf", "lbf": "lbf", "lb": "lbf", "g": "g", "gf": "g",
                 "ozf": "ozf", "oz": "ozf", "mn": "mN", "kn": "kN"}

_MARK10_UNITS = {"N": ("N", 3), "lbf": ("lbF", 2), "kgf": ("kgF", 3), "g": ("gF", 0), "ozf": ("ozF", 1),
                 "mN": ("mN", 0), "kN": ("kN", 5)}
_MARK10_CMDS = {"N": "N", "LB": "lbf", "LBF": "lbf", "KG": "kgf", "KGF": "kgf", "G": "g", "GF": "g",
                "OZ": "ozf", "OZF": "ozf", "MN": "mN", "KN": "kN"}
_WAGNER_UNITS = {"N": "N", "lbf": "lbf", "kgf": "kgf", "g": "gf", "ozf": "ozf", "mN": "mN", "kN": "kN"}
_IMADA_UNITS = {"lbf": "O", "kgf": "K", "N": "N"}
_IMADA_FMT = {"N": "{:06.2f}", "kgf": "{:06.3f}", "lbf": "{:06.3f}"}
_PLAIN_DECIMALS = {"N": 3, "kgf": 4, "lbf": 3, "g": 1, "ozf": 2, "mN": 0, "kN": 5}


def normalise_unit(unit: str) -> str:
    u = _UNIT_ALIASES.get(str(unit).strip().lower())
    if u is None:
        raise ValueError(f"unknown gauge unit {unit!r}: use one of {', '.join(GAUGE_UNITS)}")
    return u


class Gauge(Firmware):
    """A commercial gauge talking ASCII.  Same clocked interface as ``Device``."""

    def __init__(self, kind: str = "mark10", scenario: str | Scenario = "demo", seed: int = 0, *,
                 world: World | None = None, unit: str = "N", rate_hz: float = 10.0,
                 continuous: bool = False, unit_token: str | None = None, limits_n: tuple | None = None,
                 noise_n: float = 0.01, clock_ppm: float = 0.0, loop: bool = False,
                 drop_frames: float = 0.0, corrupt: float = 0.0, power_on_s: float = 0.0,
                 serial: str = "", noise_lines: float = 0.0, garble: tuple[float, float] | None = None):
        if kind not in GAUGES:
            raise ValueError(f"unknown gauge {kind!r}: use one of {', '.join(GAUGES)}")
        self.kind = kind
        self.world = world if world is not None else World(scenario, seed=seed, rate_hz=max(rate_hz, 200.0),
                                                           loop=loop)
        self._initial_unit = normalise_unit(unit)
        if kind == "imada" and self._initial_unit not in _IMADA_UNITS:
            raise ValueError(f"imada gauges show N, kgf or lbf, not {unit!r}")
        if not 0 < rate_hz <= 5000:
            raise ValueError(f"gauge rate must be in (0, 5000] Hz, got {rate_hz}")
        self._initial_rate = float(rate_hz)
        self._initial_continuous = bool(continuous) or kind == "plain"
        self.unit_token = unit_token
        self.limits_n = limits_n
        self.noise_n = float(noise_n)
        self.clock_ppm = float(clock_ppm)
        self.drop_frames = float(drop_frames)
        self.corrupt = float(corrupt)
        self.serial = str(serial)
        if not 0.0 <= noise_lines <= 1.0:
            raise ValueError("noise_lines is a probability in [0, 1]")
        self.noise_lines = float(noise_lines)
        self.garble = garble
        self.noise_lines_sent = 0
        self.lines_garbled = 0
        self._rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6A06]))
        self.lines_dropped = 0
        self.lines_corrupted = 0
        self._reset(power_on_s)

    def _reset(self, world_time_s: float) -> None:
        self.boot_world_s = float(world_time_s)
        self.now = float(world_time_s)
        self.unit = self._initial_unit
        self.rate_hz = self._initial_rate if self.kind != "wagner" else min(self._initial_rate, 100.0)
        self.continuous = self._initial_continuous if self.kind != "wagner" else False
        self.mode = "T"
        self.zero_n = 0.0
        self.peak_n = 0.0
        self._next_k = 0
        self._cont_start = self.now
        self._inbuf = bytearray()
        self._out = bytearray()

    def power_cycle(self, world_time_s: float) -> None:
        self._reset(world_time_s)

    # ---------------------------------------------------------------- readings
    def _forces(self, world_t: np.ndarray, sent: bool = True) -> np.ndarray:
        if sent:
            self.world.start_scenario(float(world_t[0]))  # scenario t=0: the first reading sent
        f = self.world.force(world_t)
        if self.noise_n:
            f = f + self._rng.normal(0.0, self.noise_n, size=f.size)
        f = f - self.zero_n
        if f.size:
            self.peak_n = max(self.peak_n, float(f.max()))
        return f

    def format_reading(self, force_n: float) -> bytes:
        kind, unit = self.kind, self.unit
        v = force_n / N_PER[unit]
        if kind == "mark10":
            token, dec = _MARK10_UNITS[unit]
            return f"{v:.{dec}f} {self.unit_token or token}\r\n".encode()
        if kind == "wagner":
            sign = "-" if v < 0 else "+"
            return f"{sign} {abs(v):.2f} {self.unit_token or _WAGNER_UNITS[unit]}\r\n".encode()
        if kind == "imada":
            if self.mode == "P":
                v = self.peak_n / N_PER[unit]
            sign = "-" if v < 0 else "+"
            judge = ""
            if self.limits_n is not None:
                lo, hi = self.limits_n
                fn = v * N_PER[unit]
                judge = "L" if fn < lo else ("H" if fn > hi else "O")
            return f"{sign}{_IMADA_FMT[unit].format(abs(v))}{_IMADA_UNITS[unit]}{self.mode}{judge}\r".encode()
        return f"{v:.{_PLAIN_DECIMALS[unit]}f}\r\n".encode()

    def _emit_reading(self, line: bytes, at_s: float | None = None) -> None:
        if self.drop_frames and self._rng.random() < self.drop_frames:
            self.lines_dropped += 1
            return
        t = self.now if at_s is None else at_s
        if self.garble is not None and self.garble[0] <= t < self.garble[0] + self.garble[1]:
            end = line[len(line.rstrip(b"\r\n")):]
            junk = self._rng.integers(0x21, 0x7F, len(line) - len(end), dtype=np.uint8).tobytes()
            self._out += junk.translate(bytes.maketrans(b"0123456789", b"OlZEhSGTBq")) + end
            self.lines_garbled += 1
            return
        if self.corrupt and self._rng.random() < self.corrupt:
            b = bytearray(line)
            i = int(self._rng.integers(len(b)))
            b[i] ^= int(self._rng.integers(1, 256))
            line = bytes(b)
            self.lines_corrupted += 1
        self._out += line
        if self.noise_lines and self._rng.random() < self.noise_lines:
            value = float(self._rng.uniform(0.0, 9.9))
            noise = f"{value:.1f} N" if self.kind == "plain" else f"{value:.1f}"
            self._out += noise.encode() + (b"\r" if self.kind == "imada" else b"\r\n")
            self.noise_lines_sent += 1

    def _one_reading(self) -> None:
        self._emit_reading(self.format_reading(float(self._forces(np.array([self.now]))[0])))

    # ---------------------------------------------------------------- commands
    def write(self, data: bytes) -> None:
        for b in bytes(data):
            if b in (0x0D, 0x0A):
                line = bytes(self._inbuf).strip()
                self._inbuf.clear()
                if line:
                    self._command(line.decode("ascii", "replace").upper())
            elif len(self._inbuf) < 64:
                self._inbuf.append(b)

    def _start_continuous(self) -> None:
        self.continuous = True
        self._cont_start = self.now
        self._next_k = 0

    def _command(self, cmd: str) -> None:
        kind = self.kind
        if kind == "mark10":
            if cmd == "?":
                self._one_reading()
            elif cmd in _MARK10_CMDS:
                self.unit = _MARK10_CMDS[cmd]
            elif cmd == "Z":
                self.zero_n += float(self._forces(np.array([self.now]), sent=False)[0])
            elif cmd == "RS":
                self._out += (self.serial.encode() + b"\r\n") if self.serial else b"*10\r\n"
            else:
                self._out += b"*10\r\n"
        elif kind == "wagner":
            if cmd in ("?", "C?"):
                self._one_reading()
            elif cmd == "CB":
                self._start_continuous()
            elif cmd == "CE":
                self.continuous = False
            elif cmd.startswith("C"):
                try:
                    hz = float(cmd[1:])
                except ValueError:
                    return
                if 0.5 <= hz <= 100.0:
                    self.rate_hz = hz
                    if self.continuous:
                        self._start_continuous()
        elif kind == "imada":
            if cmd == "D":
                self._one_reading()
            elif cmd in ("N", "K", "O"):
                self.unit = {"N": "N", "K": "kgf", "O": "lbf"}[cmd]
                self._out += b"R\r"
            elif cmd in ("T", "P"):
                self.mode = cmd
                self._out += b"R\r"
            elif cmd == "Z":
                self.zero_n += float(self._forces(np.array([self.now]), sent=False)[0])
                self.peak_n = 0.0
                self._out += b"R\r"
            else:
                self._out += b"E\r"
        # plain: commands are ignored

    # ---------------------------------------------------------------- clock
    def advance_to(self, world_time_s: float) -> bytes:
        world_time_s = max(world_time_s, self.now)
        if self.continuous:
            period = 1.0 / self.rate_hz / (1.0 + self.clock_ppm * 1e-6)
            last_k = int(np.floor((world_time_s - self._cont_start) / period + 1e-9))
            if last_k >= self._next_k:
                ks = np.arange(self._next_k, last_k + 1)
                times = self._cont_start + ks * period
                forces = self._forces(times)
                for f, t in zip(forces.tolist(), times.tolist()):
                    self._emit_reading(self.format_reading(f), t)
                self._next_k = last_k + 1
        self.now = float(world_time_s)
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_output_s(self) -> float | None:
        if self._out:
            return self.now
        if not self.continuous:
            return None
        period = 1.0 / self.rate_hz / (1.0 + self.clock_ppm * 1e-6)
        return self._cont_start + self._next_k * period

    def read(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out


__all__ = ["Gauge", "GAUGES", "GAUGE_UNITS", "N_PER", "normalise_unit"]
