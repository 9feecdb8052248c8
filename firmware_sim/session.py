"""A simulated instrument on a cable: the world, the firmware (NMT device or a gauge), the
fault schedule (unplug) and the default rates.  Transports (pty, TCP, sim://) drive it with
world time; nothing here reads the wall clock.
"""

from __future__ import annotations

import copy

from .device import Device, Firmware
from .gauges import GAUGES, Gauge
from .scenarios import Scenario
from .world import World

DEFAULT_GAUGE_RATE = {"mark10": 10.0, "wagner": 10.0, "imada": 10.0, "plain": 80.0}


class Simulation:
    def __init__(self, scenario: str | Scenario = "demo", rate_hz: float | None = None, seed: int = 0, *,
                 gauge: str | None = None, gauge_unit: str = "N", gauge_continuous: bool = False,
                 gauge_unit_token: str | None = None, drop_frames: float = 0.0, corrupt: float = 0.0,
                 unplug_at: float | None = None, unplug_for: float = 0.0, clock_ppm: float = 0.0,
                 loop: bool = False, serial: str = "SIM-0001", replug_serial: str | None = None,
                 noise_lines: float = 0.0, garble_at: float | None = None, garble_for: float = 1.0):
        if gauge is not None and gauge not in GAUGES:
            raise ValueError(f"unknown gauge {gauge!r}: use one of {', '.join(GAUGES)}")
        if unplug_at is not None and (unplug_at < 0 or unplug_for < 0):
            raise ValueError("unplug_at and unplug_for must not be negative")
        if rate_hz is None:
            rate_hz = 1000 if gauge is None else DEFAULT_GAUGE_RATE[gauge]
        self.rate_hz = rate_hz
        if gauge is None:
            if float(rate_hz) != int(rate_hz):
                raise ValueError(f"rate must be an integer 50-2000 Hz, got {rate_hz}")
            self.world = World(scenario, seed=seed, rate_hz=max(int(rate_hz), 50), loop=loop)
            self.firmware: Firmware = Device(world=self.world, rate_hz=int(rate_hz), seed=seed, serial=serial,
                                             clock_ppm=clock_ppm, drop_frames=drop_frames, corrupt=corrupt)
        else:
            self.world = World(scenario, seed=seed, rate_hz=max(float(rate_hz), 200.0), loop=loop)
            garble = None if garble_at is None else (float(garble_at), float(garble_for))
            self.firmware = Gauge(gauge, world=self.world, seed=seed, unit=gauge_unit, rate_hz=float(rate_hz),
                                  continuous=gauge_continuous, unit_token=gauge_unit_token,
                                  clock_ppm=clock_ppm, drop_frames=drop_frames, corrupt=corrupt,
                                  serial=serial, noise_lines=noise_lines, garble=garble)
        if gauge is None and (noise_lines or garble_at is not None):
            raise ValueError("noise_lines and garble_at are gauge faults (give a gauge)")
        self.unplug_at = unplug_at
        self.unplug_for = float(unplug_for)
        self.replug_serial = replug_serial  # another sensor is plugged in after the unplug
        self.generation = 0  # +1 at every replug: handles from before are dead
        self.unplugged = False
        self._unplug_done = unplug_at is None
        self._pending = bytearray()
        self.now = 0.0

    @property
    def ground_truth(self) -> dict:
        truth = copy.deepcopy(self.world.ground_truth)
        truth["rate_hz"] = float(self.rate_hz)
        return truth

    @property
    def replug_at(self) -> float | None:
        return None if self.unplug_at is None else self.unplug_at + self.unplug_for

    def is_unplugged(self, world_time_s: float) -> bool:
        self._update(world_time_s)
        return self.unplugged

    def _update(self, t: float) -> None:
        if self._unplug_done:
            return
        if not self.unplugged and t >= self.unplug_at:
            self._pending += self.firmware.advance_to(self.unplug_at)
            self._pending.clear()  # whatever was in flight is lost with the cable
            self.unplugged = True
        if self.unplugged and t >= self.replug_at:
            if self.replug_serial is not None:
                self.firmware.serial = self.replug_serial
            self.firmware.power_cycle(self.replug_at)
            self.generation += 1
            self.unplugged = False
            self._unplug_done = True

    def advance_to(self, world_time_s: float) -> bytes:
        """Bytes the instrument sent up to ``world_time_s`` (nothing while unplugged)."""
        t = max(world_time_s, self.now)
        self._update(t)
        if not self.unplugged:
            self._pending += self.firmware.advance_to(t)
        self.now = t
        out = bytes(self._pending)
        self._pending.clear()
        return out

    def write(self, data: bytes, world_time_s: float) -> None:
        t = max(world_time_s, self.now)
        self._update(t)
        if self.unplugged:
            return
        self._pending += self.firmware.advance_to(t)
        self.now = t
        self.firmware.write(data)

    def next_event_s(self) -> float | None:
        """World time of the next output or unplug/replug transition."""
        candidates = []
        if not self._unplug_done:
            candidates.append(self.replug_at if self.unplugged else self.unplug_at)
        if self._pending:
            candidates.append(self.now)
        if not self.unplugged:
            nxt = self.firmware.next_output_s()
            if nxt is not None:
                candidates.append(nxt)
        return min(candidates) if candidates else None

    def note_overflow(self) -> None:
        self.firmware.note_overflow()
