"""The sensor link thread: open a pyserial URL, identify the sensor, read, reconnect.

``SensorReader(url).start()`` connects (raising ``UserError`` with a one-line message if the
port does not exist, is busy, or nothing on it answers like a sensor), then reads in chunks on
a daemon thread with a short timeout and hands the bytes to the protocol's ``Link``
(``links.NmtLink`` or ``links.GaugeLink``, like pyserial's ``ReaderThread`` and ``Protocol``),
which decodes and calibrates; ``SampleBlock``s and ``LinkEvent``s are queued, in order, for the
consumer (``get()``). The thread keeps the statistics and watches the link:

- no bytes for a second (``Link.stall_limit_s``): the link re-arms the device (``START``, ``CB``);
- bytes but no samples for a second (``Link.silence_limit_s``): a ``warning`` event
  (``code: no_readings``) and the state ``no readings``, until samples come back (an ``info``
  event, ``code: readings_resumed``);
- an unplug (``SerialException`` or a plain ``OSError``): the port is reopened every 0.2 s,
  the sensor identified again and checked against the one before (serial number) *before*
  streaming resumes; a new segment starts either way, and a different sensor (or one that
  cannot be identified) is reported as a ``warning`` (``code: sensor_changed`` /
  ``identity_unknown``). Nothing is ever interpolated.

Every block read from the port is queued before the thread looks at a stop request, so
``stop()`` followed by ``drain()`` hands out everything that was read.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import queue
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import serial

from nmt_monitor.acquisition.blocks import LinkEvent, LinkStats, SampleBlock
from nmt_monitor.acquisition.gauge import unit_token_to_newtons
from nmt_monitor.acquisition.links import (
    NMT_ID_TIMEOUT_S,
    READ_CHUNK_BYTES,
    GaugeLink,
    Link,
    NmtLink,
    SensorInfo,
    describe_sensor,
)
from nmt_monitor.calibration import DEFAULT_MAX_AGE_DAYS
from nmt_monitor.errors import UserError

__all__ = ["SensorReader", "SensorInfo", "describe_sensor", "open_port", "register_simulator", "list_ports"]

log = logging.getLogger("nmt_monitor.link")

#: Each read returns after this long with everything that arrived (or at once when a full
#: chunk is waiting). It bounds the latency a read adds, batches the ~100 frames/s of a fast
#: link into ~50 decode calls/s, and lets the thread notice a stop request (pitfall 5).
#: ``in_waiting`` is not used to size reads: for socket:// it is 0 or 1, not a byte count.
READ_TIMEOUT_S = 0.02
RECONNECT_INTERVAL_S = 0.2
GAUGE_RECONNECT_ID_S = 2.0


def _raw_fd(port) -> int | None:
    """The file descriptor to read a port's bytes from directly: a POSIX serial port or
    pty, or a ``socket://`` link (raw TCP); None for anything else (``sim://``, rfc2217, ...)."""
    if os.name != "posix":
        return None
    from serial.urlhandler import protocol_socket

    if type(port) is not serial.Serial and not isinstance(port, protocol_socket.Serial):
        return None
    try:
        return port.fileno()
    except Exception:  # noqa: BLE001 - closed: let read() say so
        return None


def read_arrived(port) -> bytes:
    """Everything that has arrived, as soon as anything has (at most ``READ_TIMEOUT_S`` of
    waiting). pyserial's ``read(n)`` waits out its whole timeout unless n bytes come, which
    adds up to 20 ms to every sample on screen; on a serial port or a TCP link we wait for the
    descriptor and take what is there (a frame every 10 ms at 1 kHz). Other ports: ``read``.
    Twice the reads and blocks of 20 ms slices: ``stream`` at 2 kHz would take 4.7-5.0 % of a
    core against 3.1 %, the live monitor 21.6 % against 14-17 % (docs/performance.md)."""
    fd = _raw_fd(port)
    if fd is None:
        return port.read(READ_CHUNK_BYTES)
    ready, _, _ = select.select([fd], [], [], READ_TIMEOUT_S)
    if not ready:
        return b""
    try:
        data = os.read(fd, READ_CHUNK_BYTES)
    except BlockingIOError:
        return b""
    if not data:  # readable with nothing to read: the device or the connection is gone
        raise serial.SerialException("the port reports data but returned none (device disconnected?)")
    return data


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
        gauge_capacity_n: float | None = None,
        low_latency: bool = False,
    ) -> None:
        if protocol not in ("auto", "nmt", "gauge"):
            raise UserError(f"unknown protocol {protocol!r}: use auto, nmt or gauge")
        if unit_token_to_newtons(bare_unit)[0] is None:
            raise UserError(f"unknown unit {bare_unit!r} for --gauge-unit: use N, kgf, gf, lbf or ozf")
        if gauge_capacity_n is not None and not 0 < gauge_capacity_n < float("inf"):
            raise UserError(f"gauge capacity {gauge_capacity_n!r} N: give a positive force")
        self.url = url
        self.protocol = protocol
        #: hand bytes on as soon as they arrive (read_arrived): about twice the reads and
        #: blocks, so only the class view (its alert latency is its binding bar) asks for it
        self.low_latency = bool(low_latency)
        self.rate_hz = rate_hz
        self.baudrate = baudrate
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        self.info: SensorInfo | None = None
        self._queue: queue.SimpleQueue[SampleBlock | LinkEvent] = queue.SimpleQueue()
        self._links: dict[str, Link] = {
            "nmt": NmtLink(url, clock, self._queue.put, rate_hz=rate_hz, calibration_dir=calibration_dir,
                           max_calibration_age_days=max_calibration_age_days),
            "gauge": GaugeLink(url, clock, self._queue.put, bare_unit=bare_unit,
                               compression_negative=gauge_compression_negative, capacity_n=gauge_capacity_n),
        }
        self.link: Link | None = None
        self._stats = LinkStats(port=url)
        self._stats_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._port: serial.SerialBase | None = None
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._rate_window: deque[tuple[float, int]] = deque()
        self._rate_window_samples = 0
        self._last_bytes = 0.0
        self._last_rearm = 0.0
        self._last_sample = 0.0
        self._bytes_since_sample = 0
        self._silent = False

    # ---- public API -------------------------------------------------------------------

    def start(self) -> SensorReader:
        """Connect and identify the sensor (raises ``UserError``), then read on a thread."""
        port = open_port(self.url, self.baudrate)
        try:
            self.link, self.info = self._identify(port)
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
        also when it is in the middle of a reconnect (a socket connect can take 5 s). Blocks
        it has read are queued before it stops: ``drain()`` hands them out.
        """
        self._stop.set()
        port = self._port
        if port is not None and hasattr(port, "cancel_read"):
            try:
                port.cancel_read()  # the read in progress returns now, with what it has
            except Exception:  # noqa: BLE001 - best effort: the read times out soon anyway
                pass
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
            if self.link is not None:
                self.link.stop(port)
        except (serial.SerialException, OSError):
            pass
        try:
            port.close()
        except Exception:  # noqa: BLE001 - the port may be gone already; closing is best effort
            pass
        log.debug("%s: port closed", self.url)

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

    @property
    def failed(self) -> bool:
        """The reading thread stopped on an unexpected error (a ``fatal`` event says which)."""
        return self._thread is not None and not self._thread.is_alive() and not self._stop.is_set()

    # ---- the handshake ------------------------------------------------------------------

    def _identify(self, port) -> tuple[Link, SensorInfo]:
        """Which link answers on ``port``, and who it is (streaming has not started)."""
        deadline = time.monotonic() + self.connect_timeout_s
        if self.protocol in ("auto", "nmt"):
            nmt = self._links["nmt"]
            info = nmt.identify(port, deadline if self.protocol == "nmt" else time.monotonic() + NMT_ID_TIMEOUT_S)
            if info is not None:
                return nmt, info
            if self.protocol == "nmt":
                raise UserError(f"no NMT sensor answered on {self.url} (no reply to ID); check the port and --protocol")
        gauge = self._links["gauge"]
        info = gauge.identify(port, deadline)
        if info is not None:
            return gauge, info
        raise UserError(
            f"no sensor answered on {self.url}: neither an NMT sensor (ID) nor a force gauge "
            "(continuous lines, '?', 'D' or 'CB' requests); check the port, baud rate and --protocol"
        )

    # ---- the reading thread -----------------------------------------------------------

    def _run(self) -> None:
        try:
            self._begin_streaming()
            while not self._stop.is_set():
                port = self._port
                try:
                    self._send_pending_commands(port)
                    data = read_arrived(port) if self.low_latency else port.read(READ_CHUNK_BYTES)
                    now = time.monotonic()
                    if data:
                        self._process(data, self.clock())
                        self.link.after_data(port, now)
                    else:
                        self._update_rate(0)
                        self.link.idle(port, now)
                        self._maybe_rearm(port, now)
                    self._watch_silence(len(data), now)
                except (serial.SerialException, OSError) as exc:
                    self._reconnect(str(exc) or type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - reported to the consumer instead of dying silently
            log.debug("%s: reading thread failed", self.url, exc_info=True)
            with self._stats_lock:
                self._stats.state = "failed"
                self._stats.rate_hz = 0.0
            self._queue.put(LinkEvent("fatal", self.clock(), {"message": f"{type(exc).__name__}: {exc}"}))
        finally:
            self._close_port()

    def _begin_streaming(self) -> None:
        """Announce the sensor, then start it: what it sends from now on is the session."""
        info = self.info
        with self._stats_lock:
            self._stats.protocol = info.protocol
            self._stats.serial_number = info.serial_number
            self._stats.state = "streaming"
        self._queue.put(LinkEvent("connected", self.clock(), describe_sensor(info)))
        now = time.monotonic()
        self._last_bytes = self._last_sample = self._last_rearm = now
        self._bytes_since_sample = 0
        self._silent = False
        self.link.start(self._port)

    def _send_pending_commands(self, port) -> None:
        pending = getattr(self.link, "pending_commands", None)
        while pending:
            self.link.command(port, pending.pop(0))
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            self.link.command(port, command)

    def _maybe_rearm(self, port, now: float) -> None:
        stall_s = self.link.stall_limit_s()
        if now - max(self._last_bytes, self._last_rearm) > stall_s and self.link.streaming_wanted:
            self._last_rearm = now
            if self.link.rearm(port):
                log.info("%s: no data for %.1f s: re-armed", self.url, stall_s)
                self._queue.put(LinkEvent("warning", self.clock(),
                                          {"message": f"no data for {stall_s:.0f} s: re-armed the sensor"}))

    def _watch_silence(self, n_bytes: int, now: float) -> None:
        """Bytes that arrive but make no samples (noise, a format we cannot read) are not a
        working link: say so after ``silence_limit_s``, and again when samples come back."""
        if n_bytes:
            self._last_bytes = now
            self._bytes_since_sample += n_bytes
        if self._silent or not self._bytes_since_sample:
            return
        limit = self.link.silence_limit_s()
        silent_s = now - self._last_sample
        if silent_s >= limit and now - self._last_bytes < limit:
            self._silent = True
            with self._stats_lock:
                if self._stats.state == "streaming":
                    self._stats.state = "no readings"
                skipped = self._stats.bytes_skipped
            message = (f"bytes arrive but no readings for {silent_s:.1f} s ({self._bytes_since_sample} bytes, "
                       f"{skipped} skipped in all): line noise, or a format or unit the monitor cannot read")
            log.info("%s: %s", self.url, message)
            self._queue.put(LinkEvent("warning", self.clock(), {"code": "no_readings", "message": message,
                                                                "seconds": round(silent_s, 3),
                                                                "bytes": self._bytes_since_sample}))

    def _process(self, data: bytes, host_time_s: float) -> None:
        blocks = self.link.data_received(data, host_time_s)
        n_new = sum(len(b) for b in blocks)
        for block in blocks:
            self._queue.put(block)
        counters = self.link.counters()
        with self._stats_lock:
            for name, value in counters.items():
                setattr(self._stats, name, value)
        if n_new:
            now = time.monotonic()
            if self._silent:
                self._silent = False
                silent_s = now - self._last_sample
                with self._stats_lock:
                    if self._stats.state == "no readings":
                        self._stats.state = "streaming"
                log.info("%s: readings are back after %.1f s", self.url, silent_s)
                self._queue.put(LinkEvent("info", host_time_s, {
                    "code": "readings_resumed", "seconds": round(silent_s, 3),
                    "message": f"readings are back after {silent_s:.1f} s without"}))
            self._last_sample = now
            self._bytes_since_sample = 0
        self._update_rate(n_new)

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
        """Reopen the port every RECONNECT_INTERVAL_S until the sensor answers or stop(); check
        who answered before streaming resumes."""
        lost_at = self.clock()
        log.info("%s: disconnected (%s); reconnecting", self.url, reason)
        with self._stats_lock:
            self._stats.state = "reconnecting"
            self._stats.rate_hz = 0.0
        self._queue.put(LinkEvent("disconnected", lost_at, {"reason": reason}))
        old, self._port = self._port, None
        _close_quietly(old)
        link = self.link
        last_problem = None
        attempts = 0
        while not self._stop.is_set():
            attempts += 1
            try:
                port = open_port(self.url, self.baudrate)
            except UserError as exc:
                if attempts == 1 or str(exc) != last_problem:
                    log.debug("%s: reopening failed: %s", self.url, exc)
                    last_problem = str(exc)
                self._stop.wait(RECONNECT_INTERVAL_S)
                continue
            if self._stop.is_set():
                _close_quietly(port)
                return
            problem = None
            timeout = NMT_ID_TIMEOUT_S if link.protocol == "nmt" else GAUGE_RECONNECT_ID_S
            try:
                info = link.identify(port, time.monotonic() + timeout)
            except UserError as exc:  # it answered, but cannot be used (e.g. refused the rate)
                info, problem = None, str(exc)
            except (serial.SerialException, OSError) as exc:
                info = None
                log.debug("%s: lost the port while identifying: %s", self.url, exc)
            if info is None or self._stop.is_set():
                _close_quietly(port)
                if problem and problem != last_problem:
                    self._queue.put(LinkEvent("warning", self.clock(), {"message": f"reconnecting: {problem}"}))
                    last_problem = problem
                self._stop.wait(RECONNECT_INTERVAL_S)
                continue
            previous = self.info
            same = link.same_sensor(previous, info)
            self.info = info
            self._port = port
            link.new_segment()
            with self._stats_lock:
                self._stats.reconnects += 1
            now = self.clock()
            log.info("%s: reconnected after %.2f s (%d attempts); %s", self.url, now - lost_at, attempts,
                     {True: f"same sensor {info.serial_number!r}", None: "identity cannot be checked",
                      False: f"a different sensor {info.serial_number!r} (was {previous.serial_number!r})"}[same])
            self._queue.put(LinkEvent("reconnected", now, {
                "disconnected_at_s": lost_at, "reason": reason, "serial_number": info.serial_number,
                "same_sensor": same}))
            if same is False:
                self._queue.put(LinkEvent("warning", now, {
                    "code": "sensor_changed", "previous_serial": previous.serial_number,
                    "serial_number": info.serial_number,
                    "message": f"a different sensor answered after the reconnect: {info.serial_number!r} "
                               f"(was {previous.serial_number!r}); its samples start a new segment"}))
            elif same is None:
                what = "the gauge reports no serial number" if link.protocol == "gauge" else "no serial number"
                self._queue.put(LinkEvent("warning", now, {
                    "code": "identity_unknown",
                    "message": f"reconnected, but cannot check it is the same sensor ({what}); "
                               "its samples start a new segment"}))
            self._begin_streaming()
            return


def _close_quietly(port) -> None:
    if port is None:
        return
    try:
        port.close()
    except Exception:  # noqa: BLE001 - the port is gone; closing is best effort
        pass


def list_ports() -> list[tuple[str, str, str]]:
    """(device, description, hardware id) for every serial port the OS knows."""
    from serial.tools import list_ports as lp

    return [(p.device, p.description, p.hwid) for p in sorted(lp.comports(), key=lambda p: p.device)]
