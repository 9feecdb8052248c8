"""The sensor link: open a pyserial URL, identify the sensor, read on a thread, reconnect.

``SensorReader(url).start()`` connects (raising ``UserError`` with a one-line message if the
port does not exist, is busy, or nothing on it answers like a sensor), then reads in chunks on
a daemon thread with a short timeout, decodes, calibrates, and queues ``SampleBlock``s and
``LinkEvent``s for the consumer (``get()``). After an unplug (``SerialException`` or a plain
``OSError``) it reopens the port every 0.2 s, repeats the handshake, re-sends ``START`` (or
re-arms a gauge), and reports the gap; nothing is ever interpolated.
"""

from __future__ import annotations

import dataclasses
import errno
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import serial

from nmt_monitor.acquisition.blocks import LinkEvent, LinkStats, SampleBlock
from nmt_monitor.acquisition.gauge import GaugeLineDecoder, unit_token_to_newtons
from nmt_monitor.acquisition.nmt_protocol import FrameDecoder, encode_command, parse_reply
from nmt_monitor.acquisition.nmt_stream import NmtSampleAssembler
from nmt_monitor.calibration import (
    DEFAULT_MAX_AGE_DAYS,
    CalibrationError,
    CalibrationRecord,
    find_calibration,
)
from nmt_monitor.errors import UserError

#: Each read returns after this long with everything that arrived (or at once when a full
#: chunk is waiting). It bounds the latency a read adds, batches the ~100 frames/s of a fast
#: link into ~50 decode calls/s, and lets the thread notice a stop request (pitfall 5).
#: ``in_waiting`` is not used to size reads: for socket:// it is 0 or 1, not a byte count.
READ_TIMEOUT_S = 0.02
READ_CHUNK_BYTES = 65536
RECONNECT_INTERVAL_S = 0.2
NMT_ID_TIMEOUT_S = 1.0
STALL_REARM_S = 1.0  # no data for this long while streaming: re-send START / re-arm the gauge
GAUGE_POLL_TIMEOUT_S = 0.25
GAUGE_MAX_POLL_HZ = 1000.0


def register_simulator() -> None:
    """Make ``sim://`` URLs open the in-process firmware simulator."""
    if "firmware_sim" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("firmware_sim")


def open_port(url: str, baudrate: int = 115200) -> serial.SerialBase:
    """Open a pyserial URL, turning failures into one-line ``UserError``s (exit code 2)."""
    register_simulator()
    try:
        port = serial.serial_for_url(
            url, baudrate=baudrate, timeout=READ_TIMEOUT_S, write_timeout=1.0, do_not_open=True
        )
        if hasattr(port, "exclusive") and url.startswith("/dev/"):
            port.exclusive = True  # a second program on the same port would steal our bytes
        port.open()
    except (serial.SerialException, OSError, ValueError) as exc:
        raise UserError(f"cannot open port {url}: {_describe_open_error(exc)}") from None
    return port


def _describe_open_error(exc: Exception) -> str:
    text = str(exc)
    err = getattr(exc, "errno", None)
    if err == errno.ENOENT or "No such file" in text or "could not open port" in text and "[Errno 2]" in text:
        return "no such device (is the sensor plugged in? 'nmt-monitor ports' lists the ports)"
    if err in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text or "Resource busy" in text:
        return "the port is busy (another program has it open; close it and try again)"
    if err == errno.EACCES or "Permission denied" in text:
        return "permission denied (add yourself to the 'dialout' group, or run with access to the port)"
    if "Connection refused" in text:
        return "connection refused (is the device or simulator listening?)"
    if "invalid URL" in text or "expected" in text:
        return f"not a valid port or URL ({text})"
    return text.splitlines()[0] if text else type(exc).__name__


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
    calibration: CalibrationRecord | None = None


class SensorReader:
    """A sensor link on a background thread; see the module docstring."""

    def __init__(
        self,
        url: str,
        protocol: str = "auto",
        rate_hz: int | None = None,
        calibration_dir: Path | None = None,
        bare_unit: str = "N",
        gauge_compression_negative: bool = False,
        baudrate: int = 115200,
        max_calibration_age_days: int = DEFAULT_MAX_AGE_DAYS,
        clock: Callable[[], float] = time.time,
        connect_timeout_s: float = 3.0,
    ) -> None:
        if protocol not in ("auto", "nmt", "gauge"):
            raise UserError(f"unknown protocol {protocol!r}: use auto, nmt or gauge")
        if unit_token_to_newtons(bare_unit)[0] is None:
            raise UserError(f"unknown unit {bare_unit!r} for --gauge-unit: use N, kgf, gf, lbf or ozf")
        self.url = url
        self.protocol = protocol
        self.rate_hz = rate_hz
        self.calibration_dir = calibration_dir
        self.bare_unit = bare_unit
        # Gauges report compression with either sign (a setting on the gauge); we use positive.
        self.gauge_sign = -1.0 if gauge_compression_negative else 1.0
        self.baudrate = baudrate
        self.max_calibration_age_days = max_calibration_age_days
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        self.info: SensorInfo | None = None
        self._queue: queue.SimpleQueue[SampleBlock | LinkEvent] = queue.SimpleQueue()
        self._stats = LinkStats(port=url)
        self._stats_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._port: serial.SerialBase | None = None
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._rate_window: deque[tuple[float, int]] = deque()
        self._frame_decoder = FrameDecoder()
        self._assembler: NmtSampleAssembler | None = None
        self._gauge_decoder: GaugeLineDecoder | None = None
        self._gauge_seq = 0
        self._gauge_last_time = -np.inf
        self._gauge_interval_s = 0.01
        self._last_data_time = 0.0
        self._last_poll_time = 0.0
        self._rate_window_samples = 0
        self._streaming_wanted = True  # False after the user sends STOP: no automatic re-arm
        self._warned_units: set[str] = set()

    # ---- public API -------------------------------------------------------------------

    def start(self) -> SensorReader:
        """Connect and identify the sensor (raises ``UserError``), then read on a thread."""
        port = open_port(self.url, self.baudrate)
        try:
            self.info = self._handshake(port, first=True)
        except UserError:
            port.close()
            raise
        except (serial.SerialException, OSError) as exc:
            port.close()
            raise UserError(f"lost port {self.url} while identifying the sensor: {exc}") from None
        self._port = port
        self._thread = threading.Thread(target=self._run, name=f"sensor-reader {self.url}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop streaming and close the port; safe to call more than once.

        The reading thread owns the port and closes it on its way out (after sending STOP),
        also when it is in the middle of a reconnect (a socket connect can take 5 s).
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        else:
            self._close_port()
        with self._stats_lock:
            self._stats.state = "stopped"
            self._stats.rate_hz = 0.0

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        try:
            if self.info and self.info.protocol == "nmt":
                port.write(encode_command("STOP"))
        except (serial.SerialException, OSError):
            pass
        try:
            port.close()
        except Exception:  # noqa: BLE001 - the port may be gone already; closing is best effort
            pass

    def __enter__(self) -> SensorReader:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def get(self, timeout: float | None = None) -> SampleBlock | LinkEvent | None:
        """The next block or event, waiting up to ``timeout`` seconds; None if none came."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> list[SampleBlock | LinkEvent]:
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def stats(self) -> LinkStats:
        with self._stats_lock:
            return dataclasses.replace(self._stats)

    def send_command(self, command: str) -> None:
        """Queue a protocol command (``TARE``, ``UNTARE``, ``RATE 500``) for the sensor."""
        self._commands.put(command)

    def tare(self) -> None:
        self.send_command("TARE")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- handshake --------------------------------------------------------------------

    def _handshake(self, port: serial.SerialBase, first: bool) -> SensorInfo:
        deadline = time.monotonic() + self.connect_timeout_s
        if self.protocol in ("auto", "nmt"):
            info = self._try_nmt(port, deadline if self.protocol == "nmt" else time.monotonic() + NMT_ID_TIMEOUT_S)
            if info is not None:
                return info
            if self.protocol == "nmt":
                raise UserError(f"no NMT sensor answered on {self.url} (no reply to ID); check the port and --protocol")
        info = self._try_gauge(port, deadline)
        if info is not None:
            return info
        raise UserError(
            f"no sensor answered on {self.url}: neither an NMT sensor (ID) nor a force gauge "
            "(continuous lines, '?', 'D' or 'CB' requests); check the port, baud rate and --protocol"
        )

    def _try_nmt(self, port: serial.SerialBase, deadline: float) -> SensorInfo | None:
        decoder = FrameDecoder()
        port.reset_input_buffer()
        port.write(encode_command("ID"))
        fields = None
        resent = time.monotonic()
        while time.monotonic() < deadline:
            data = port.read(READ_CHUNK_BYTES)
            if not data:
                if time.monotonic() - resent > 0.4:
                    port.write(encode_command("ID"))
                    resent = time.monotonic()
                continue
            decoded = decoder.feed(data)
            for text in decoded.replies:
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
        if self.rate_hz is not None and int(self.rate_hz) != int(info.rate_hz):
            reply = self._command_reply(port, decoder, f"RATE {int(self.rate_hz)}", deadline + 1.0)
            ok, _, f = parse_reply(reply or "")
            if not ok:
                raise UserError(f"sensor on {self.url} refused rate {self.rate_hz} Hz ({reply or 'no reply'}); use 50-2000")
            info.rate_hz = _float(f.get("rate_hz"), float(self.rate_hz))
        self._set_calibration(info)
        port.write(encode_command("START"))
        # Bytes of the handshake are done with: streaming data starts after START.
        self._frame_decoder.reset()
        return info

    def _command_reply(self, port, decoder: FrameDecoder, command: str, deadline: float) -> str | None:
        port.write(encode_command(command))
        word = command.split()[0].upper()
        while time.monotonic() < deadline:
            data = port.read(READ_CHUNK_BYTES)
            if data:
                for text in decoder.feed(data).replies:
                    if len(text.split()) > 1 and text.split()[1].upper() == word:
                        return text
        return None

    def _set_calibration(self, info: SensorInfo) -> None:
        try:
            record = find_calibration(info.serial_number, self.calibration_dir)
        except CalibrationError as exc:
            raise UserError(str(exc)) from None
        info.calibration = record
        if record is None:
            gain = 1.0 / info.counts_per_n if info.counts_per_n > 0 else 1.0
            message = (
                f"no calibration record for sensor {info.serial_number!r}; using its nominal "
                f"{info.counts_per_n:g} counts/N and no zero offset: tare before measuring, "
                "and run 'nmt-monitor calibrate'"
            )
            self._queue.put(LinkEvent("warning", self.clock(), {"message": message}))

            def convert(counts, tared, gain=gain):
                return gain * counts.astype(np.float64)

        else:
            age = record.age_days()
            if age > self.max_calibration_age_days:
                self._queue.put(
                    LinkEvent(
                        "warning",
                        self.clock(),
                        {"message": f"calibration of {info.serial_number} is {age} days old "
                                    f"(limit {self.max_calibration_age_days}); recalibrate soon"},
                    )
                )
            convert = record.counts_to_newtons
        if self._assembler is None:
            self._assembler = NmtSampleAssembler(convert, info.full_scale_n)
        else:
            self._assembler.counts_to_newtons = convert
            self._assembler.full_scale_n = info.full_scale_n

    def _try_gauge(self, port: serial.SerialBase, deadline: float) -> SensorInfo | None:
        decoder = GaugeLineDecoder(self.bare_unit)
        unknown_units: set[str] = set()

        def listen(seconds: float) -> tuple[int, str | None]:
            end = min(time.monotonic() + seconds, deadline)
            got, unit = 0, None
            while time.monotonic() < end:
                data = port.read(READ_CHUNK_BYTES)
                if data:
                    readings = decoder.feed(data)
                    got += readings.force_n.size
                    unit = readings.unit or unit
                    unknown_units.update(readings.unknown_unit_tokens)
            return got, unit

        # A gauge that speaks unprompted is in continuous mode (any reading will do: a slow
        # one may send only one in the time we listen).
        got, unit = listen(0.6)
        if got >= 1:
            return self._gauge_info("continuous", None, None, unit)
        for arm in (b"C100\r\n", b"CB\r\n"):
            port.write(arm)
        got, unit = listen(0.5)
        if got >= 1:
            return self._gauge_info("continuous", None, b"CB\r\n", unit)
        for poll in (b"?\r", b"D\r"):
            port.write(poll)
            got, unit = listen(0.3)
            if got >= 1:
                return self._gauge_info("polled", poll, None, unit)
        if unknown_units:
            raise UserError(
                f"the gauge on {self.url} sends readings in {', '.join(sorted(unknown_units))}, which cannot be "
                "converted to newtons: set the gauge to N, kgf or lbf"
            )
        return None

    def _gauge_info(self, mode: str, poll: bytes | None, rearm: bytes | None, unit: str | None) -> SensorInfo:
        self._gauge_poll = poll
        self._gauge_rearm = rearm
        self._gauge_decoder = GaugeLineDecoder(self.bare_unit)
        return SensorInfo(protocol="gauge", gauge_mode=mode, gauge_unit=unit or "")

    # ---- the reading thread -----------------------------------------------------------

    def _run(self) -> None:
        try:
            self._announce_connected()
            self._last_data_time = time.monotonic()
            if self.info.protocol == "gauge" and self._gauge_poll:
                self._poll()
            while not self._stop.is_set():
                port = self._port
                try:
                    self._send_pending_commands(port)
                    data = port.read(READ_CHUNK_BYTES)
                except (serial.SerialException, OSError) as exc:
                    self._reconnect(str(exc))
                    continue
                now = time.monotonic()
                if data:
                    self._last_data_time = now
                    self._process(data, self.clock())
                    if self.info.protocol == "gauge" and self._gauge_poll:
                        self._poll()
                else:
                    self._update_rate(0)
                    self._maybe_rearm(port, now)
        except Exception as exc:  # noqa: BLE001 - reported to the consumer instead of dying silently
            with self._stats_lock:
                self._stats.state = "failed"
                self._stats.rate_hz = 0.0
            self._queue.put(LinkEvent("fatal", self.clock(), {"message": f"{type(exc).__name__}: {exc}"}))
        finally:
            self._close_port()

    @property
    def failed(self) -> bool:
        """The reading thread stopped on an unexpected error (a ``fatal`` event says which)."""
        return self._thread is not None and not self._thread.is_alive() and not self._stop.is_set()

    def _announce_connected(self) -> None:
        info = self.info
        with self._stats_lock:
            self._stats.protocol = info.protocol
            self._stats.serial_number = info.serial_number
            self._stats.state = "streaming"
        self._queue.put(LinkEvent("connected", self.clock(), describe_sensor(info)))

    def _send_pending_commands(self, port) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            if self.info and self.info.protocol == "nmt":
                word = command.split()[0].upper() if command.split() else ""
                if word in ("STOP", "START"):
                    self._streaming_wanted = word == "START"
                port.write(encode_command(command))
            else:
                self._queue.put(LinkEvent("warning", self.clock(), {"message": f"{command} is not supported by this gauge; zero it on the gauge"}))

    def _poll(self) -> None:
        now = time.monotonic()
        if now - self._last_poll_time < 1.0 / GAUGE_MAX_POLL_HZ:
            return
        try:
            self._port.write(self._gauge_poll)
        except (serial.SerialException, OSError):
            return
        self._last_poll_time = now

    def _maybe_rearm(self, port, now: float) -> None:
        info = self.info
        if info.protocol == "gauge" and self._gauge_poll and now - self._last_poll_time > GAUGE_POLL_TIMEOUT_S:
            self._poll()
            return
        # A slow continuous gauge (a reading every few seconds) is not a stalled one.
        stall_s = max(STALL_REARM_S, 3.0 * self._gauge_interval_s) if info.protocol == "gauge" else STALL_REARM_S
        if now - self._last_data_time > stall_s and self._streaming_wanted:
            self._last_data_time = now
            if info.protocol == "nmt":
                rearm = encode_command("START")
            elif self._gauge_rearm:
                rearm = self._gauge_rearm
            else:
                return  # nothing we could send would make it talk
            try:
                port.write(rearm)
            except (serial.SerialException, OSError) as exc:
                self._reconnect(str(exc))
                return
            self._queue.put(LinkEvent("warning", self.clock(),
                                      {"message": f"no data for {stall_s:.0f} s: re-armed the sensor"}))

    def _process(self, data: bytes, host_time_s: float) -> None:
        if self.info.protocol == "nmt":
            frames = self._frame_decoder.feed(data)
            blocks, events = self._assembler.assemble(frames, host_time_s)
            if self.rate_hz is not None and any(e.kind == "device_reset" for e in events):
                # The device restarted without the port noticing (e.g. a brown-out): it is back
                # at its default rate.
                self._commands.put(f"RATE {int(self.rate_hz)}")
            for text in frames.replies:
                events.append(LinkEvent("reply", host_time_s, {"text": text}))
            c = self._frame_decoder.counters
            a = self._assembler
            with self._stats_lock:
                s = self._stats
                s.bytes_in, s.bytes_skipped, s.crc_failures = c.bytes_in, c.bytes_skipped, c.crc_failures
                s.frames, s.frames_lost, s.samples_lost = a.frames, a.frames_lost, a.samples_lost
                s.saturated_samples = a.saturated_samples
        else:
            readings = self._gauge_decoder.feed(data)
            blocks, events = [], []
            k = readings.force_n.size
            if k:
                # Lines in one chunk arrived together: spread them back over the interval they
                # were sent in (estimated), never before the previous reading.
                if np.isfinite(self._gauge_last_time):
                    gap = host_time_s - self._gauge_last_time
                    self._gauge_interval_s = 0.8 * self._gauge_interval_s + 0.2 * max(gap / k, 1e-4)
                # Strictly increasing even if the host clock steps back: then the readings are
                # laid out after the previous one at the estimated interval.
                start = max(host_time_s - (k - 1) * self._gauge_interval_s, self._gauge_last_time + 1e-6)
                end = max(host_time_s, start + (k - 1) * self._gauge_interval_s)
                t = np.linspace(start, end, k) if k > 1 else np.array([start])
                self._gauge_last_time = float(t[-1])
                seq = np.arange(self._gauge_seq, self._gauge_seq + k, dtype=np.int64)
                self._gauge_seq += k
                blocks.append(
                    SampleBlock(
                        host_time_s=t,
                        device_time_s=np.full(k, np.nan),
                        seq=seq,
                        counts=None,
                        force_n=readings.force_n * self.gauge_sign,
                        saturated=np.zeros(k, bool),
                        segment=self._stats.reconnects,
                    )
                )
            new_units = set(readings.unknown_unit_tokens) - self._warned_units
            if new_units:  # once per unit token, not once per read
                self._warned_units |= new_units
                events.append(LinkEvent("warning", host_time_s, {
                    "message": f"gauge sent readings in unit(s) {sorted(new_units)} that cannot be converted "
                               "to newtons: they are dropped (set the gauge to N, kgf or lbf)"}))
            with self._stats_lock:
                s = self._stats
                s.bytes_in += len(data)
                s.bytes_skipped += readings.bytes_skipped
                s.gauge_errors += readings.error_replies
                s.unknown_units += readings.unknown_units
                s.frames += k
        n_new = sum(len(b) for b in blocks)
        self._update_rate(n_new)
        for event in events:
            self._queue.put(event)
        for block in blocks:
            self._queue.put(block)

    def _update_rate(self, n_new: int) -> None:
        """Achieved sample rate over the last ~2 s (running sum over a window of arrivals)."""
        now = time.monotonic()
        window = self._rate_window
        window.append((now, n_new))
        self._rate_window_samples += n_new
        while len(window) > 1 and window[0][0] < now - 2.0:
            self._rate_window_samples -= window.popleft()[1]
        with self._stats_lock:
            self._stats.samples += n_new
            span = now - window[0][0]
            if span > 0.2:
                # Samples that arrived after the window's first arrival, over the time since it.
                self._stats.rate_hz = (self._rate_window_samples - window[0][1]) / span

    def _reconnect(self, reason: str) -> None:
        """Reopen the port every RECONNECT_INTERVAL_S until the sensor answers or stop()."""
        lost_at = self.clock()
        with self._stats_lock:
            self._stats.state = "reconnecting"
            self._stats.rate_hz = 0.0
        self._queue.put(LinkEvent("disconnected", lost_at, {"reason": reason}))
        old, self._port = self._port, None
        _close_quietly(old)
        last_problem = None
        while not self._stop.is_set():
            try:
                port = open_port(self.url, self.baudrate)
            except UserError:
                self._stop.wait(RECONNECT_INTERVAL_S)
                continue
            if self._stop.is_set():
                _close_quietly(port)
                return
            problem = None
            try:
                if self.info.protocol == "nmt":
                    info = self._try_nmt(port, time.monotonic() + NMT_ID_TIMEOUT_S)
                else:
                    info = self._try_gauge(port, time.monotonic() + 2.0)
            except UserError as exc:  # it answered, but cannot be used (e.g. refused the rate)
                info, problem = None, str(exc)
            except (serial.SerialException, OSError):
                info = None
            if info is None or self._stop.is_set():
                _close_quietly(port)
                if problem and problem != last_problem:
                    self._queue.put(LinkEvent("warning", self.clock(), {"message": f"reconnecting: {problem}"}))
                    last_problem = problem
                self._stop.wait(RECONNECT_INTERVAL_S)
                continue
            previous_serial = self.info.serial_number
            self.info = info
            self._port = port
            if self._assembler is not None:
                self._assembler.new_segment()
            self._gauge_last_time = -np.inf
            self._last_data_time = time.monotonic()
            with self._stats_lock:
                self._stats.reconnects += 1
            self._queue.put(
                LinkEvent("reconnected", self.clock(), {"disconnected_at_s": lost_at, "reason": reason})
            )
            if info.serial_number != previous_serial:
                self._queue.put(LinkEvent("warning", self.clock(), {
                    "message": f"a different sensor answered after the reconnect: {info.serial_number!r} "
                               f"(was {previous_serial!r})"}))
            self._announce_connected()
            if info.protocol == "gauge" and self._gauge_poll:
                self._poll()
            return


def _close_quietly(port) -> None:
    if port is None:
        return
    try:
        port.close()
    except Exception:  # noqa: BLE001 - the port is gone; closing is best effort
        pass


def _float(text: str | None, default: float) -> float:
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default


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
        "calibration": calibration,
    }


def list_ports() -> list[tuple[str, str, str]]:
    """(device, description, hardware id) for every serial port the OS knows."""
    from serial.tools import list_ports as lp

    return [(p.device, p.description, p.hwid) for p in sorted(lp.comports(), key=lambda p: p.device)]
