"""The firmware loop of the NMT handheld sensor (device side of docs/protocol.md).

Transport-agnostic and driven by an explicit world clock: ``write(data)`` feeds host bytes
(processed at the current time), ``advance_to(world_time_s)`` runs the firmware up to that
time and returns the bytes it sent.  Nothing here reads the wall clock.
"""

from __future__ import annotations

import math
import re

import numpy as np

from . import protocol as P
from .scenarios import Scenario
from .world import World

FW_VERSION = "1.0.0"
RATE_MIN, RATE_MAX = 50, 2000
TARE_WINDOW_US = 100_000
_MAX_BATCH_SAMPLES = 100_000


def interval_for_rate(rate_hz: int) -> int:
    return int(round(1e6 / rate_hz))


def samples_per_frame(interval_us: int) -> int:
    """Version 1: one frame per 10 ms or per 78 samples, whichever fills first."""
    return min(P.MAX_SAMPLES_PER_FRAME, (P.FRAME_PERIOD_US - 1) // interval_us + 1)


class Firmware:
    """What every simulated instrument offers to a transport."""

    world: World

    def write(self, data: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def advance_to(self, world_time_s: float) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def power_cycle(self, world_time_s: float) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def note_overflow(self) -> None:
        pass

    def next_output_s(self) -> float | None:  # pragma: no cover - interface
        return None


class Device(Firmware):
    """The simulated NMT handheld sensor (protocol version 1)."""

    def __init__(self, scenario: str | Scenario = "demo", rate_hz: int = 1000, seed: int = 0, *,
                 world: World | None = None, serial: str = "SIM-0001", fw_version: str = FW_VERSION,
                 fs_n: float = 200.0, counts_per_n: float = 40000.0, clock_ppm: float = 0.0,
                 loop: bool = False, drop_frames: float = 0.0, corrupt: float = 0.0,
                 power_on_s: float = 0.0):
        rate_hz = int(rate_hz)
        if not RATE_MIN <= rate_hz <= RATE_MAX:
            raise ValueError(f"rate must be an integer {RATE_MIN}-{RATE_MAX} Hz, got {rate_hz}")
        if not (0.0 <= drop_frames <= 1.0 and 0.0 <= corrupt <= 1.0):
            raise ValueError("drop_frames and corrupt are probabilities in [0, 1]")
        self.world = world if world is not None else World(scenario, seed=seed, rate_hz=rate_hz, loop=loop)
        self.serial = serial
        self.fw_version = fw_version
        self.fs_n = fs_n
        self.counts_per_n = counts_per_n
        self.clock_ppm = float(clock_ppm)
        self.drop_frames = float(drop_frames)
        self.corrupt = float(corrupt)
        self._initial_rate = rate_hz
        self._fault_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xFA17]))
        self._zero_counts = self.world.loadcell.params.offset_counts  # factory zero balance
        self.frames_dropped = 0
        self.frames_corrupted = 0
        self._reset(power_on_s)

    # ------------------------------------------------------------------ state
    def _reset(self, world_time_s: float) -> None:
        self.boot_world_s = float(world_time_s)
        self.now = float(world_time_s)
        self.rate_hz = self._initial_rate
        self._rate_iv = interval_for_rate(self.rate_hz)
        self.streaming = False
        self.frame_seq = 0
        self.sample_counter = 0
        self.tared = False
        self.tare_offset = 0
        self._tare_done_flag = False
        self._overflow_flag = False
        self._tare_job: dict | None = None
        self._stop_pending = False
        self._blk_start: int | None = None  # device µs of the next block's first sample (None = ADC idle)
        self._blk_iv = self._rate_iv
        self._inbuf = bytearray()
        self._discarding = False
        self._out = bytearray()

    def power_cycle(self, world_time_s: float) -> None:
        """Unplug/replug: everything restarts from power-up; the world goes on."""
        self._reset(world_time_s)

    def note_overflow(self) -> None:
        self._overflow_flag = True

    # ------------------------------------------------------------------ clocks
    def device_us(self, world_time_s: float) -> float:
        return (world_time_s - self.boot_world_s) * 1e6 * (1.0 + self.clock_ppm * 1e-6)

    def world_s(self, device_us):
        return self.boot_world_s + np.asarray(device_us, dtype=np.float64) / 1e6 / (1.0 + self.clock_ppm * 1e-6)

    @property
    def _active(self) -> bool:
        return self.streaming or self._tare_job is not None

    def _block_started(self) -> bool:
        return self._blk_start is not None and self._blk_start <= self.device_us(self.now)

    def _activate(self) -> None:
        if self._blk_start is None:
            self._blk_start = int(math.ceil(self.device_us(self.now)))
            self._blk_iv = self._rate_iv

    # ------------------------------------------------------------------ host -> device
    def write(self, data: bytes, world_time_s: float | None = None) -> None:
        """Host bytes arriving at ``world_time_s`` (default: the current time ``now``).

        Given a time, the firmware first runs up to it; what it sent meanwhile is returned by
        the next ``advance_to``/``read``.
        """
        if world_time_s is not None and world_time_s > self.now:
            self._out += self.advance_to(world_time_s)
        for b in bytes(data):
            if b == 0x0A:
                line = bytes(self._inbuf)
                self._inbuf.clear()
                if self._discarding:
                    self._discarding = False
                    self._reply_err(line, "too_long")
                    continue
                if line.endswith(b"\r"):
                    line = line[:-1]
                self._command(line)
            elif not self._discarding:
                self._inbuf.append(b)
                if len(self._inbuf) > P.MAX_COMMAND_LEN + 1:  # +1: a trailing '\r'
                    self._discarding = True
                    self._inbuf[:] = self._inbuf[:24]

    def _reply(self, text: str) -> None:
        self._out += P.encode_reply(text)

    @staticmethod
    def _word(line: bytes) -> str:
        text = line.decode("ascii", "replace").strip()
        word = text.split()[0] if text.split() else ""
        word = re.sub(r"[^!-~]", "?", word.upper())[:24]
        return word or "?"

    def _reply_err(self, line: bytes, reason: str) -> None:
        self._reply(f"ERR {self._word(line)} reason={reason}")

    def _command(self, line: bytes) -> None:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            self._reply_err(line, "syntax")
            return
        parts = text.split()
        if not parts:
            return  # empty line: ignored
        word, args = parts[0].upper(), parts[1:]
        if word == "RATE":
            if len(args) != 1:
                self._reply_err(line, "syntax")
                return
            try:
                hz = int(args[0])
            except ValueError:
                self._reply_err(line, "range")
                return
            if not RATE_MIN <= hz <= RATE_MAX:
                self._reply_err(line, "range")
                return
            self._set_rate(hz)
            self._reply(f"OK RATE rate_hz={hz}")
            return
        if args:
            self._reply_err(line, "syntax" if word in ("ID", "START", "STOP", "TARE", "UNTARE") else "unknown")
            return
        if word == "ID":
            fs = f"{self.fs_n:g}"
            cpn = f"{self.counts_per_n:g}"
            self._reply(f"OK ID proto={P.PROTO_VERSION} serial={self.serial} fw={self.fw_version} fs_n={fs} "
                        f"rate_hz={self.rate_hz} counts_per_n={cpn} streaming={int(self.streaming)}")
        elif word == "START":
            self._stop_pending = False
            if not self.streaming:
                self.streaming = True
                self._activate()
            self._reply("OK START")
        elif word == "STOP":
            if self.streaming:
                if self._block_started():
                    self._stop_pending = True  # the frame being sampled is still sent
                else:
                    self.streaming = False
                    if not self._active:
                        self._blk_start = None
            self._reply("OK STOP")
        elif word == "TARE":
            if self._tare_job is not None:
                self._reply("ERR TARE reason=busy")
                return
            need = max(1, int(round(TARE_WINDOW_US / self._rate_iv)))
            self._tare_job = {"after_us": self.device_us(self.now), "need": need, "vals": []}
            self._activate()
        elif word == "UNTARE":
            if self._tare_job is not None:
                self._tare_job = None
                self._reply("ERR TARE reason=cancelled")
                if not self._active:
                    self._blk_start = None
            self.tared = False
            self.tare_offset = 0
            self._tare_done_flag = False
            self._reply("OK UNTARE")
        else:
            self._reply_err(line, "unknown")

    def _set_rate(self, hz: int) -> None:
        self.rate_hz = hz
        self._rate_iv = interval_for_rate(hz)
        if self._blk_start is not None and not self._block_started():
            self._blk_iv = self._rate_iv  # the next frame has not begun: it uses the new rate

    # ------------------------------------------------------------------ device -> host
    def next_output_s(self) -> float | None:
        """World time at which the firmware next has something to send (None: nothing scheduled)."""
        if self._out:
            return self.now
        if self._blk_start is None:
            return None
        last = self._blk_start + (samples_per_frame(self._blk_iv) - 1) * self._blk_iv
        return float(self.world_s(last))

    def read(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def advance_to(self, world_time_s: float) -> bytes:
        """Run the firmware up to ``world_time_s``; return every byte sent since the last call."""
        if world_time_s < self.now:
            world_time_s = self.now
        dev_now = self.device_us(world_time_s)
        while self._blk_start is not None:
            iv = self._blk_iv
            n = samples_per_frame(iv)
            last = self._blk_start + (n - 1) * iv
            if last > dev_now:
                break
            k = int((dev_now - last) // (n * iv)) + 1
            if self._stop_pending or self._blk_iv != self._rate_iv:
                k = 1
            elif self._tare_job is not None and not self.streaming:
                k = min(k, max(1, math.ceil((self._tare_job["need"] - len(self._tare_job["vals"])) / n)))
            k = max(1, min(k, _MAX_BATCH_SAMPLES // n))
            times_us = self._blk_start + np.arange(k * n, dtype=np.int64) * iv
            world_t = self.world_s(times_us)
            if self.streaming:
                self.world.start_scenario(float(world_t[0]))
            raw = self.world.counts(world_t)
            for j in range(k):
                self._block(int(times_us[j * n]), iv, raw[j * n:(j + 1) * n])
                if not self._active:
                    break
            if self._active:
                self._blk_start = int(times_us[-1]) + iv
                self._blk_iv = self._rate_iv
            else:
                self._blk_start = None
        self.now = float(world_time_s)
        return self.read()

    def _block(self, start_us: int, iv: int, raw: np.ndarray) -> None:
        job = self._tare_job
        if self.streaming:
            if self.tared:
                counts = raw.astype(np.int64) - self.tare_offset
            else:
                counts = raw.astype(np.int64)
            status = 0
            rel = raw.astype(np.int64) - int(self._zero_counts)
            fs_counts = self.fs_n * self.counts_per_n
            if (np.any(raw >= P.COUNTS_MAX) or np.any(raw <= P.COUNTS_MIN) or np.any(np.abs(rel) > fs_counts)
                    or np.any(counts > P.COUNTS_MAX) or np.any(counts < P.COUNTS_MIN)):
                status |= P.SATURATED
            if self.tared:
                status |= P.TARED
            if self._tare_done_flag:
                status |= P.TARE_DONE
                self._tare_done_flag = False
            if self._overflow_flag:
                status |= P.OVERFLOW
                self._overflow_flag = False
            frame = P.encode_data_frame(self.frame_seq, self.sample_counter, start_us, iv, status, counts)
            self.frame_seq = (self.frame_seq + 1) & 0xFFFFFFFF
            self.sample_counter = (self.sample_counter + raw.size) & 0xFFFFFFFF
            self._emit_data(frame)
        if job is not None and start_us >= job["after_us"]:
            take = job["need"] - len(job["vals"])
            job["vals"].extend(raw[:take].tolist())
            if len(job["vals"]) >= job["need"]:
                self.tare_offset = int(round(float(np.mean(job["vals"]))))
                self.tared = True
                self._tare_done_flag = True
                self._tare_job = None
                self._reply(f"OK TARE offset={self.tare_offset}")
        if self._stop_pending:
            self._stop_pending = False
            self.streaming = False

    def _emit_data(self, frame: bytes) -> None:
        rng = self._fault_rng
        if self.drop_frames and rng.random() < self.drop_frames:
            self.frames_dropped += 1
            return
        if self.corrupt and rng.random() < self.corrupt:
            b = bytearray(frame)
            i = int(rng.integers(len(b)))
            b[i] ^= int(rng.integers(1, 256))
            frame = bytes(b)
            self.frames_corrupted += 1
        self._out += frame


__all__ = ["Device", "Firmware", "interval_for_rate", "samples_per_frame", "RATE_MIN", "RATE_MAX", "FW_VERSION"]
