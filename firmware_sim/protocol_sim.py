"""pyserial URL handler ``sim://``: the simulator in-process.

    import serial
    serial.protocol_handler_packages.append("firmware_sim")
    port = serial.serial_for_url("sim://?scenario=demo&rate=1000&seed=1", timeout=0.05)

Query parameters: scenario, rate, seed, speed, gauge, gauge_unit, gauge_continuous,
gauge_unit_token, drop, corrupt, unplug_at, unplug_for, clock_ppm, loop, serial, replug_serial
(the serial number of the sensor found after the unplug), noise_lines, garble_at, garble_for
(gauge faults: lines in another format; a window of unreadable lines).
World time runs from the moment the port is opened, at ``speed`` x real time
(``time.monotonic``).  With ``unplug_at``, reads/writes/in_waiting raise ``OSError(EIO)`` from
then on (the handle is dead, as a real unplugged tty is); opening the same URL during the
unplug window raises ``serial.SerialException``; opening it after the window reattaches to the
same world (therapist continues, device rebooted).  Worlds are kept in a registry keyed by URL
only when ``unplug_at`` is given; otherwise every open starts a fresh simulator.
"""

from __future__ import annotations

import errno
import threading
import time
import urllib.parse

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from .session import Simulation

_PARAMS = {"scenario", "rate", "seed", "speed", "gauge", "gauge_unit", "gauge_continuous", "gauge_unit_token",
           "drop", "corrupt", "unplug_at", "unplug_for", "clock_ppm", "loop", "serial", "replug_serial",
           "noise_lines", "garble_at", "garble_for"}
_MAX_SLEEP_S = 0.05
_MAX_RX = 4 << 20


def _bool(v: str) -> bool:
    if v.lower() in ("1", "true", "yes", "on", ""):
        return True
    if v.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean, got {v!r}")


class _Entry:
    """One simulated world and its clock."""

    def __init__(self, sim: Simulation, speed: float):
        self.sim = sim
        self.speed = speed
        self.t_start = time.monotonic()
        self.lock = threading.RLock()

    def world_time(self) -> float:
        return (time.monotonic() - self.t_start) * self.speed


_registry: dict[str, _Entry] = {}
_registry_lock = threading.Lock()


def reset_registry() -> None:
    """Forget every persistent world (tests)."""
    with _registry_lock:
        _registry.clear()


def parse_url(url: str) -> tuple[dict, float]:
    """``sim://?...`` -> (Simulation keyword arguments, speed).  Raises ValueError."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "sim":
        raise ValueError(f"expected a URL starting with sim://, got {url!r}")
    kw: dict = {}
    speed = 1.0
    for key, values in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items():
        if key not in _PARAMS:
            raise ValueError(f"unknown option {key!r} (known: {', '.join(sorted(_PARAMS))})")
        v = values[-1]
        try:
            if key == "scenario":
                kw["scenario"] = v
            elif key == "rate":
                kw["rate_hz"] = float(v)
            elif key == "seed":
                kw["seed"] = int(v)
            elif key == "speed":
                speed = float(v)
                if not speed > 0:
                    raise ValueError("must be positive")
            elif key == "gauge":
                kw["gauge"] = v
            elif key == "gauge_unit":
                kw["gauge_unit"] = v
            elif key == "gauge_continuous":
                kw["gauge_continuous"] = _bool(v)
            elif key == "gauge_unit_token":
                kw["gauge_unit_token"] = v
            elif key == "drop":
                kw["drop_frames"] = float(v)
            elif key == "corrupt":
                kw["corrupt"] = float(v)
            elif key == "unplug_at":
                kw["unplug_at"] = float(v)
            elif key == "unplug_for":
                kw["unplug_for"] = float(v)
            elif key == "clock_ppm":
                kw["clock_ppm"] = float(v)
            elif key == "loop":
                kw["loop"] = _bool(v)
            elif key == "serial":
                kw["serial"] = v
            elif key == "replug_serial":
                kw["replug_serial"] = v
            elif key in ("noise_lines", "garble_at", "garble_for"):
                kw[key] = float(v)
        except ValueError as exc:
            raise ValueError(f"option {key}={v!r}: {exc}") from None
    if "scenario" not in kw:
        # The built-in demo (``nmt-monitor`` with no arguments) keeps going until the user quits.
        kw.setdefault("loop", True)
    return kw, speed


class Serial(SerialBase):
    """A serial port whose other end is the simulated sensor (or gauge)."""

    def __init__(self, *args, **kwargs):
        self._entry: _Entry | None = None
        self._gen = 0
        self._rx = bytearray()
        self._cancel = threading.Event()
        super().__init__(*args, **kwargs)

    # ---------------------------------------------------------------- open / close
    def from_url(self, url: str):
        try:
            return parse_url(url)
        except ValueError as exc:
            raise SerialException(f"sim:// {exc}") from None

    def open(self):
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise SerialException("Port is already open.")
        kw, speed = self.from_url(self.portstr)
        persistent = kw.get("unplug_at") is not None
        with _registry_lock:
            entry = _registry.get(self.portstr) if persistent else None
            if entry is None:
                try:
                    entry = _Entry(Simulation(**kw), speed)
                except (ValueError, OSError) as exc:
                    raise SerialException(f"sim:// {exc}") from None
                if persistent:
                    _registry[self.portstr] = entry
        with entry.lock:
            now = entry.world_time()
            entry.sim.advance_to(now)  # whatever was sent while nobody listened is lost
            if entry.sim.unplugged:
                raise SerialException(f"could not open port {self.portstr}: device unplugged (no such device)")
            self._gen = entry.sim.generation
        self._entry = entry
        self._rx = bytearray()
        self._cancel.clear()
        self.is_open = True

    def close(self):
        self.is_open = False
        self._entry = None

    def _reconfigure_port(self):
        pass  # baud rate, parity etc. do not matter to the simulator

    # ---------------------------------------------------------------- data
    def _poll(self) -> _Entry:
        """Collect what the device has sent by now; raise EIO if it was unplugged."""
        if not self.is_open or self._entry is None:
            raise PortNotOpenError()
        entry = self._entry
        with entry.lock:
            out = entry.sim.advance_to(entry.world_time())
            if entry.sim.unplugged or entry.sim.generation != self._gen:
                raise OSError(errno.EIO, "Input/output error (simulated unplug)")
            self._rx += out
            if len(self._rx) > _MAX_RX:  # the host is not reading: the device's buffer overflows
                self._rx.clear()
                entry.sim.note_overflow()
        return entry

    def _sleep_until_data(self, deadline: float | None) -> None:
        entry = self._entry
        with entry.lock:
            nxt = entry.sim.next_event_s()
            now_w = entry.world_time()
        wait = _MAX_SLEEP_S if nxt is None else max(0.0, (nxt - now_w) / entry.speed) + 0.0005
        wait = min(wait, _MAX_SLEEP_S)
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - time.monotonic()))
        if wait > 0:
            self._cancel.wait(wait)

    @property
    def in_waiting(self) -> int:
        self._poll()
        return len(self._rx)

    def read(self, size: int = 1) -> bytes:
        self._poll()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        self._cancel.clear()
        while len(self._rx) < size:
            if self._timeout == 0 or (deadline is not None and time.monotonic() >= deadline):
                break
            if self._cancel.is_set():
                break
            self._sleep_until_data(deadline)
            self._poll()
        with self._entry.lock:
            data = bytes(self._rx[:size])
            del self._rx[:size]
        return data

    def cancel_read(self):
        self._cancel.set()

    def cancel_write(self):
        pass

    def write(self, data) -> int:
        if not self.is_open or self._entry is None:
            raise PortNotOpenError()
        entry = self._poll()
        data = bytes(memoryview(data))
        with entry.lock:
            entry.sim.write(data, entry.world_time())
        return len(data)

    def flush(self):
        self._poll()

    def reset_input_buffer(self):
        entry = self._poll()
        with entry.lock:
            self._rx.clear()

    def reset_output_buffer(self):
        if not self.is_open:
            raise PortNotOpenError()

    @property
    def out_waiting(self) -> int:
        return 0

    def _update_break_state(self):
        pass

    def _update_rts_state(self):
        pass

    def _update_dtr_state(self):
        pass

    @property
    def cts(self):
        return True

    @property
    def dsr(self):
        return True

    @property
    def ri(self):
        return False

    @property
    def cd(self):
        return True


__all__ = ["Serial", "parse_url", "reset_registry"]
