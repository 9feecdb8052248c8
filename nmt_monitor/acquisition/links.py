"""One strategy per protocol: what to send, how to decode, who is on the other end.

The reader thread (``reader.SensorReader``) owns the port: it opens and closes it, reads in
chunks with a short timeout, queues what comes out, keeps the statistics, notices stalls and
silences, and reconnects. Everything that depends on the protocol lives here, in a ``Link``,
the way pyserial's ``serial.threaded.ReaderThread`` hands bytes to a ``Protocol``:

- ``identify(port, deadline)``: the handshake; who is there (serial number, rate, unit),
  nothing streamed yet. ``None`` if nothing answered like this protocol.
- ``start(port)``: begin streaming (``START``, a first poll).
- ``data_received(data, host_time_s)``: bytes in, ``SampleBlock`` s out (events by ``emit``).
- ``after_data`` / ``idle``: polled gauges ask for the next reading.
- ``rearm(port)``: no bytes for a while: make the device talk again.
- ``command(port, text)``, ``stop(port)``: user commands; ``STOP`` before closing.
- ``same_sensor(old, new)``: after a reconnect, is it the sensor we had (None: cannot tell)?

``NmtLink`` speaks our own binary protocol (docs/protocol.md); ``GaugeLink`` the ASCII lines of
commercial gauges and DIY load cells, with the plausibility rules that protect readings from
line noise (``gauge.GaugeLineDecoder``: exact format of the surrounding lines, leaps confirmed
by the next line; here: the gauge's capacity). Diagnostics go to the ``nmt_monitor.link``
logger at debug (traffic) and info (state) level.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nmt_monitor.acquisition.blocks import LinkEvent, SampleBlock
from nmt_monitor.acquisition.gauge import _LINE, _REPLY_LINE, CONFIRM_LINES, MAX_PLAUSIBLE_N, GaugeLineDecoder
from nmt_monitor.acquisition.nmt_protocol import FrameDecoder, encode_command, parse_reply
from nmt_monitor.acquisition.nmt_stream import NmtSampleAssembler
from nmt_monitor.calibration import (
    DEFAULT_MAX_AGE_DAYS,
    CalibrationError,
    CalibrationRecord,
    find_calibration,
)
from nmt_monitor.errors import UserError

log = logging.getLogger("nmt_monitor.link")

READ_CHUNK_BYTES = 65536
NMT_ID_TIMEOUT_S = 1.0
GAUGE_POLL_TIMEOUT_S = 0.25
GAUGE_MAX_POLL_HZ = 1000.0
#: A link that delivers bytes but no samples for this long says so (a slow gauge: 4 readings).
SILENCE_S = 1.0
IDENTITY_PROBE_S = 0.3
_IDENTITY = re.compile(rb"[!-~][ -~]{2,47}")

Emit = Callable[[LinkEvent], None]


@dataclass
class SensorInfo:
    protocol: str  # "nmt" or "gauge"
    serial_number: str = ""
    firmware: str = ""
    full_scale_n: float = 0.0
    rate_hz: float = 0.0
    counts_per_n: float = 0.0
    gauge_mode: str = ""  # "continuous" or "polled"
    gauge_unit: str = ""  # unit the gauge reports in
    gauge_format: str = ""  # what its lines look like, e.g. "12.345 N"
    calibration: CalibrationRecord | None = None


def describe_sensor(info: SensorInfo) -> dict:
    """JSON-able description of a connected sensor (for events, logs and session metadata)."""
    if info.calibration is None:
        calibration = "nominal (no record)" if info.protocol == "nmt" else "gauge units"
    else:
        calibration = str(info.calibration.path or info.calibration.serial)
    return {
        "protocol": info.protocol,
        "serial_number": info.serial_number,
        "firmware": info.firmware,
        "full_scale_n": info.full_scale_n,
        "rate_hz": info.rate_hz,
        "gauge_mode": info.gauge_mode,
        "gauge_unit": info.gauge_unit,
        "gauge_format": info.gauge_format,
        "calibration": calibration,
    }


class Link:
    """Base class of the protocol strategies; see the module docstring."""

    protocol = ""

    def __init__(self, url: str, clock: Callable[[], float] = time.time, emit: Emit | None = None) -> None:
        self.url = url
        self.clock = clock
        self.emit: Emit = emit or (lambda event: None)
        self.streaming_wanted = True  # False after the user sends STOP: no automatic re-arm

    # The handshake and the stream.
    def identify(self, port, deadline: float) -> SensorInfo | None:  # pragma: no cover - interface
        raise NotImplementedError

    def start(self, port) -> None:
        pass

    def data_received(self, data: bytes, host_time_s: float) -> list[SampleBlock]:  # pragma: no cover
        raise NotImplementedError

    def after_data(self, port, now: float) -> None:
        pass

    def idle(self, port, now: float) -> None:
        pass

    def rearm(self, port) -> bool:
        """Try to make a stalled device talk again; False if nothing can be sent."""
        return False

    def stall_limit_s(self) -> float:
        return 1.0

    def silence_limit_s(self) -> float:
        return SILENCE_S

    def command(self, port, text: str) -> None:
        self.emit(LinkEvent("warning", self.clock(), {"message": f"{text} is not supported by this sensor"}))

    def stop(self, port) -> None:
        pass

    def new_segment(self) -> None:
        pass

    def counters(self) -> dict:
        return {}

    def same_sensor(self, old: SensorInfo, new: SensorInfo) -> bool | None:
        """Whether ``new`` (after a reconnect) is the sensor ``old``; None when it cannot be told."""
        if not new.serial_number or not old.serial_number:
            return None
        return new.serial_number == old.serial_number

    def _write(self, port, data: bytes, what: str = "") -> None:
        port.write(data)
        log.debug("%s: sent %r%s", self.url, data, f" ({what})" if what else "")

    def _read(self, port) -> bytes:
        return port.read(READ_CHUNK_BYTES)

    def _read_reply(self, port) -> bytes:
        """For a command's reply: what is there, or the first byte to arrive (within the read
        timeout), so the handshake does not wait out the timeout on every read."""
        return port.read(max(1, port.in_waiting))


# --------------------------------------------------------------------------- own protocol


class NmtLink(Link):
    """Our handheld sensor: binary frames, ``ID``/``RATE``/``START``/``STOP``/``TARE``."""

    protocol = "nmt"

    def __init__(self, url: str, clock=time.time, emit: Emit | None = None, *, rate_hz: int | None = None,
                 calibration_dir=None, max_calibration_age_days: int = DEFAULT_MAX_AGE_DAYS) -> None:
        super().__init__(url, clock, emit)
        self.rate_hz = rate_hz
        self.calibration_dir = calibration_dir
        self.max_calibration_age_days = max_calibration_age_days
        self.decoder = FrameDecoder()
        self.assembler: NmtSampleAssembler | None = None
        self.pending_commands: list[str] = []  # sent by the reader thread with the user's
        self._calibration_checked_for: str | None = None

    def identify(self, port, deadline: float) -> SensorInfo | None:
        decoder = FrameDecoder()
        port.reset_input_buffer()
        self._write(port, encode_command("ID"))
        fields = None
        resent = time.monotonic()
        while time.monotonic() < deadline:
            data = self._read_reply(port)
            if not data:
                if time.monotonic() - resent > 0.4:
                    self._write(port, encode_command("ID"), "no reply yet")
                    resent = time.monotonic()
                continue
            for text in decoder.feed(data).replies:
                log.debug("%s: reply %r", self.url, text)
                ok, command, f = parse_reply(text)
                if ok and command == "ID":
                    fields = f
                    break
            if fields is not None:
                break
        if fields is None:
            return None
        info = SensorInfo(
            protocol="nmt",
            serial_number=fields.get("serial", ""),
            firmware=fields.get("fw", ""),
            full_scale_n=_float(fields.get("fs_n"), 200.0),
            rate_hz=_float(fields.get("rate_hz"), 0.0),
            counts_per_n=_float(fields.get("counts_per_n"), 0.0),
        )
        log.info("%s: NMT sensor %r (firmware %s, full scale %g N, %g Hz)", self.url, info.serial_number,
                 info.firmware, info.full_scale_n, info.rate_hz)
        if self.rate_hz is not None and int(self.rate_hz) != int(info.rate_hz):
            reply = self._command_reply(port, decoder, f"RATE {int(self.rate_hz)}", deadline + 1.0)
            ok, _, f = parse_reply(reply or "")
            if not ok:
                raise UserError(f"sensor on {self.url} refused rate {self.rate_hz} Hz ({reply or 'no reply'}); "
                                "use 50-2000")
            info.rate_hz = _float(f.get("rate_hz"), float(self.rate_hz))
        self._set_calibration(info)
        return info

    def _command_reply(self, port, decoder: FrameDecoder, command: str, deadline: float) -> str | None:
        self._write(port, encode_command(command))
        word = command.split()[0].upper()
        while time.monotonic() < deadline:
            data = self._read_reply(port)
            if data:
                for text in decoder.feed(data).replies:
                    log.debug("%s: reply %r", self.url, text)
                    if len(text.split()) > 1 and text.split()[1].upper() == word:
                        return text
        return None

    def _set_calibration(self, info: SensorInfo) -> None:
        try:
            record = find_calibration(info.serial_number, self.calibration_dir)
        except CalibrationError as exc:
            raise UserError(str(exc)) from None
        info.calibration = record
        tell = self._calibration_checked_for != info.serial_number  # once per sensor, not per reconnect
        self._calibration_checked_for = info.serial_number
        if record is None:
            gain = 1.0 / info.counts_per_n if info.counts_per_n > 0 else 1.0
            if tell:
                self.emit(LinkEvent("warning", self.clock(), {"message": (
                    f"no calibration record for sensor {info.serial_number!r}; using its nominal "
                    f"{info.counts_per_n:g} counts/N and no zero offset: tare before measuring, "
                    "and run 'nmt-monitor calibrate'")}))

            def convert(counts, tared, gain=gain):
                return gain * counts.astype(np.float64)

        else:
            age = record.age_days()
            if tell and age > self.max_calibration_age_days:
                self.emit(LinkEvent("warning", self.clock(), {
                    "message": f"calibration of {info.serial_number} is {age} days old "
                               f"(limit {self.max_calibration_age_days}); recalibrate soon"}))
            convert = record.counts_to_newtons
            log.info("%s: calibration %s", self.url, record.path or record.serial)
        if self.assembler is None:
            self.assembler = NmtSampleAssembler(convert, info.full_scale_n)
        else:
            self.assembler.counts_to_newtons = convert
            self.assembler.full_scale_n = info.full_scale_n

    def start(self, port) -> None:
        self.decoder.reset()  # bytes of the handshake are done with: data starts after START
        self._write(port, encode_command("START"))

    def data_received(self, data: bytes, host_time_s: float) -> list[SampleBlock]:
        frames = self.decoder.feed(data)
        blocks, events = self.assembler.assemble(frames, host_time_s)
        if self.rate_hz is not None and any(e.kind == "device_reset" for e in events):
            # The device restarted without the port noticing (e.g. a brown-out): it is back
            # at its default rate.
            self.pending_commands.append(f"RATE {int(self.rate_hz)}")
        for event in events:
            if event.kind in ("gap", "device_reset"):
                log.debug("%s: %s %s", self.url, event.kind, event.detail)
            self.emit(event)
        for text in frames.replies:
            log.debug("%s: reply %r", self.url, text)
            self.emit(LinkEvent("reply", host_time_s, {"text": text}))
        return blocks

    def rearm(self, port) -> bool:
        self._write(port, encode_command("START"), "re-arm")
        return True

    def command(self, port, text: str) -> None:
        words = text.split()
        word = words[0].upper() if words else ""
        if word in ("STOP", "START"):
            self.streaming_wanted = word == "START"
        self._write(port, encode_command(text))

    def stop(self, port) -> None:
        self._write(port, encode_command("STOP"))

    def new_segment(self) -> None:
        if self.assembler is not None:
            self.assembler.new_segment()

    def counters(self) -> dict:
        c, a = self.decoder.counters, self.assembler
        out = {"bytes_in": c.bytes_in, "bytes_skipped": c.bytes_skipped, "crc_failures": c.crc_failures}
        if a is not None:
            out.update(frames=a.frames, frames_lost=a.frames_lost, samples_lost=a.samples_lost,
                       saturated_samples=a.saturated_samples)
        return out


# --------------------------------------------------------------------------- gauges


class GaugeLink(Link):
    """A commercial gauge or DIY load cell sending ASCII readings, one per line."""

    protocol = "gauge"

    def __init__(self, url: str, clock=time.time, emit: Emit | None = None, *, bare_unit: str = "N",
                 compression_negative: bool = False, capacity_n: float | None = None) -> None:
        super().__init__(url, clock, emit)
        self.bare_unit = bare_unit
        # Gauges report compression with either sign (a setting on the gauge); we use positive.
        self.sign = -1.0 if compression_negative else 1.0
        self.capacity_n = float(capacity_n) if capacity_n else MAX_PLAUSIBLE_N
        self.decoder = GaugeLineDecoder(bare_unit)
        self.poll: bytes | None = None
        self.rearm_command: bytes | None = None
        self.segment = 0
        self._seq = 0
        self._last_time = -np.inf
        self._interval_s = 0.01
        self._last_poll = 0.0
        self._warned_units: set[str] = set()
        self._counts = {"bytes_in": 0, "bytes_skipped": 0, "gauge_errors": 0, "unknown_units": 0, "frames": 0,
                        "lines_rejected": 0, "format_changes": 0}
        self.info: SensorInfo | None = None

    # ---- the handshake ---------------------------------------------------------------

    def identify(self, port, deadline: float) -> SensorInfo | None:
        decoder = GaugeLineDecoder(self.bare_unit)
        unknown_units: set[str] = set()

        def listen(seconds: float, enough: int = 1 << 30) -> tuple[int, str | None]:
            end = min(time.monotonic() + seconds, deadline)
            got, unit = 0, None
            while time.monotonic() < end and got < enough:
                data = self._read(port)
                if data:
                    readings = decoder.feed(data)
                    got += readings.lines
                    unit = readings.unit or unit
                    unknown_units.update(readings.unknown_unit_tokens)
            return got, unit

        mode = poll = rearm = None
        previous = self.info
        attempts = ["continuous", "armed", b"?\r", b"D\r"]
        if previous is not None:  # a reconnect: what worked before is tried first
            first = previous.gauge_mode if previous.gauge_mode == "continuous" and not self.rearm_command else (
                "armed" if previous.gauge_mode == "continuous" else self.poll)
            attempts.remove(first)
            attempts.insert(0, first)
        for attempt in attempts:
            if attempt == "continuous":
                # A gauge that speaks unprompted is in continuous mode (any reading will do: a
                # slow one may send only one in the time we listen).
                got, unit = listen(0.6, enough=CONFIRM_LINES)
                if got >= 1:
                    mode = "continuous"
            elif attempt == "armed":
                for arm in (b"C100\r\n", b"CB\r\n"):
                    self._write(port, arm, "arm a Wagner-style gauge")
                got, unit = listen(0.5, enough=CONFIRM_LINES)
                if got >= 1:
                    mode, rearm = "continuous", b"CB\r\n"
            else:
                self._write(port, attempt, "poll")
                got, unit = listen(0.3, enough=1)
                if got >= 1:
                    mode, poll = "polled", attempt
                    # Two more readings: the format is never taken from one line.
                    for _ in range(CONFIRM_LINES - 1):
                        self._write(port, attempt, "poll")
                        listen(0.3, enough=1)
            if mode is not None:
                break
        if mode is None:
            if unknown_units:
                raise UserError(
                    f"the gauge on {self.url} sends readings in {', '.join(sorted(unknown_units))}, which cannot be "
                    "converted to newtons: set the gauge to N, kgf or lbf"
                )
            return None
        serial = self._identity(port, decoder, mode)
        self.poll, self.rearm_command = poll, rearm
        if decoder.format is not None or self.decoder.format is None:
            self.decoder = decoder  # what it learned about the lines carries on into the stream
        self.decoder.restart()
        fmt = self.decoder.format
        info = SensorInfo(protocol="gauge", gauge_mode=mode, gauge_unit=unit or (self.decoder.bare_unit
                          if fmt is not None and not fmt.unit else ""), serial_number=serial,
                          gauge_format=fmt.example() if fmt is not None else "")
        log.info("%s: gauge, %s%s, lines like %r, identity %s", self.url, mode,
                 f" (polled with {poll!r})" if poll else "", info.gauge_format or "(not yet known)",
                 repr(serial) if serial else "none (the gauge reports no serial number)")
        self.info = info
        return info

    def _identity(self, port, decoder: GaugeLineDecoder, mode: str) -> str:
        """The gauge's serial number: Mark-10 (GCL2) answers ``RS``; others ignore it or answer
        an error (``*10``, ``E``), and then the gauge cannot be identified."""
        self._write(port, b"RS\r", "ask for the serial number")
        end = time.monotonic() + IDENTITY_PROBE_S
        buf = b""
        found: list[bytes] = []
        fmt = decoder.format
        reading = fmt.chunk_pattern() if fmt is not None else None
        while time.monotonic() < end:
            data = self._read(port)
            if not data:
                continue
            buf += data
            *lines, buf = re.split(rb"\r\n|\r|\n", buf)
            for line in lines:
                line = line.strip()
                if not line or _REPLY_LINE.fullmatch(line):
                    continue
                if reading is not None and reading.fullmatch(line.replace(b"- ", b"-").replace(b"+ ", b"+") + b"\n"):
                    continue  # one of its readings
                number = _LINE.fullmatch(line)
                is_number = number is not None and bool(number.group(2) or number.group(4))
                # Serial numbers are text, or digits only (then at least 4 of them).
                if _IDENTITY.fullmatch(line) and (not is_number or (line.isdigit() and len(line) >= 4)):
                    found.append(line)
            if found and mode == "polled":
                break
        if len(set(found)) == 1:
            serial = found[0].decode("ascii", errors="replace")
            log.debug("%s: identity reply %r", self.url, serial)
            return serial
        if found:
            log.debug("%s: ambiguous identity replies %r", self.url, found)
        return ""

    def same_sensor(self, old: SensorInfo, new: SensorInfo) -> bool | None:
        if not new.serial_number or not old.serial_number:
            return None
        return new.serial_number == old.serial_number

    # ---- the stream ------------------------------------------------------------------

    def start(self, port) -> None:
        self._last_time = -np.inf
        if self.poll:
            self._write(port, self.poll, "first poll; later polls are not logged")
            self._last_poll = time.monotonic()

    def after_data(self, port, now: float) -> None:
        if self.poll and now - self._last_poll >= 1.0 / GAUGE_MAX_POLL_HZ:
            port.write(self.poll)
            self._last_poll = now

    def idle(self, port, now: float) -> None:
        if self.poll and now - self._last_poll > GAUGE_POLL_TIMEOUT_S:
            port.write(self.poll)  # the reply was lost: ask again
            self._last_poll = now

    def rearm(self, port) -> bool:
        if self.poll:
            return False  # idle() polls again anyway
        if self.rearm_command:
            self._write(port, self.rearm_command, "re-arm")
            return True
        return False  # nothing we could send would make it talk

    def stall_limit_s(self) -> float:
        # A slow continuous gauge (a reading every few seconds) is not a stalled one.
        return max(1.0, 3.0 * self._interval_s)

    def silence_limit_s(self) -> float:
        return max(SILENCE_S, 4.0 * self._interval_s)

    def command(self, port, text: str) -> None:
        self.emit(LinkEvent("warning", self.clock(),
                            {"message": f"{text} is not supported by this gauge; zero it on the gauge"}))

    def new_segment(self) -> None:
        self.segment += 1

    def counters(self) -> dict:
        return dict(self._counts)

    def data_received(self, data: bytes, host_time_s: float) -> list[SampleBlock]:
        readings = self.decoder.feed(data)
        force = readings.force_n * self.sign
        rejected = readings.malformed_lines
        if force.size and not np.all(np.abs(force) <= self.capacity_n):
            within = np.abs(force) <= self.capacity_n
            rejected += int((~within).sum())
            force = force[within]
        c = self._counts
        c["bytes_in"] += len(data)
        c["bytes_skipped"] += readings.bytes_skipped
        c["gauge_errors"] += readings.error_replies
        c["unknown_units"] += readings.unknown_units
        c["lines_rejected"] += rejected
        blocks = []
        k = force.size
        if k:
            # Lines in one chunk arrived together: spread them back over the interval they
            # were sent in (estimated), never before the previous reading.
            if np.isfinite(self._last_time):
                gap = host_time_s - self._last_time
                self._interval_s = 0.8 * self._interval_s + 0.2 * max(gap / k, 1e-4)
            # Strictly increasing even if the host clock steps back: then the readings are
            # laid out after the previous one at the estimated interval.
            start = max(host_time_s - (k - 1) * self._interval_s, self._last_time + 1e-6)
            end = max(host_time_s, start + (k - 1) * self._interval_s)
            t = np.linspace(start, end, k) if k > 1 else np.array([start])
            self._last_time = float(t[-1])
            seq = np.arange(self._seq, self._seq + k, dtype=np.int64)
            self._seq += k
            c["frames"] += k
            blocks.append(SampleBlock(host_time_s=t, device_time_s=np.full(k, np.nan), seq=seq, counts=None,
                                      force_n=force, saturated=np.zeros(k, bool), segment=self.segment))
        change = readings.format_change
        if change is not None:
            old, new = change
            if self.info is not None:
                self.info.gauge_format = new
                self.info.gauge_unit = readings.unit or self.info.gauge_unit
            if old:
                c["format_changes"] += 1
                log.info("%s: gauge lines changed format: %r -> %r", self.url, old, new)
                self.emit(LinkEvent("warning", host_time_s, {
                    "code": "format_changed", "from": old, "to": new, "unit": readings.unit or "",
                    "message": f"the gauge's lines changed format from '{old}' to '{new}' "
                               f"(now read in {readings.unit or 'an unknown unit'})"}))
            else:
                log.info("%s: gauge lines look like %r", self.url, new)
        new_units = set(readings.unknown_unit_tokens) - self._warned_units
        if new_units:  # once per unit token, not once per read
            self._warned_units |= new_units
            self.emit(LinkEvent("warning", host_time_s, {
                "message": f"gauge sent readings in unit(s) {sorted(new_units)} that cannot be converted "
                           "to newtons: they are dropped (set the gauge to N, kgf or lbf)"}))
        return blocks


def _float(text: str | None, default: float) -> float:
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default
