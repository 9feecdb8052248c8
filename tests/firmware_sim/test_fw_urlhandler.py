import errno
import time

import pytest
import serial

from firmware_sim import protocol_sim

serial.protocol_handler_packages.append("firmware_sim")


def test_sim_url_streams_after_start(parse):
    port = serial.serial_for_url("sim://?scenario=demo&rate=1000&seed=1&speed=20", timeout=0.05)
    try:
        assert port.read(100) == b""  # silent until START
        port.write(b"ID\n")
        frames, _ = parse(port.read(200))
        assert frames[0][0] == "R" and frames[0][1].startswith("OK ID proto=1 serial=SIM-0001")
        port.write(b"START\n")
        buf = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            buf += port.read(port.in_waiting or 1)
            frames, _ = parse(buf)
            if sum(k == "D" for k, _ in frames) >= 50:
                break
        d = [f for k, f in frames if k == "D"]
        assert len(d) >= 50 and d[0]["seq"] == 0 and d[0]["n"] == 10
        assert [f["seq"] for f in d] == list(range(len(d)))
    finally:
        port.close()


def test_read_timeout_respected():
    port = serial.serial_for_url("sim://?scenario=steady", timeout=0.1)
    t = time.monotonic()
    assert port.read(10) == b""
    # It waited its timeout and came back (a loaded machine may come back late, never early).
    assert 0.09 <= time.monotonic() - t < 10
    port.close()


def test_bad_url_raises():
    with pytest.raises(serial.SerialException):
        serial.serial_for_url("sim://?scenario=nope")
    with pytest.raises(serial.SerialException):
        serial.serial_for_url("sim://?bogus=1")


def test_unplug_and_reattach(parse):
    # The unplug lasts a second of real time (20 world s at 20x), so "opening fails while it is
    # unplugged" holds on a loaded machine; "rebooted" is judged from the device's counters and
    # clock, which restart from 0 (a device that had not rebooted would be past 21 s).
    protocol_sim.reset_registry()
    url = "sim://?scenario=steady&seed=3&speed=20&unplug_at=1&unplug_for=20"
    port = serial.serial_for_url(url, timeout=0.02)
    port.write(b"START\n")
    with pytest.raises(OSError) as exc:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            port.read(port.in_waiting or 1)
    assert exc.value.errno == errno.EIO
    with pytest.raises(OSError):
        port.in_waiting
    port.close()
    with pytest.raises(serial.SerialException):
        serial.serial_for_url(url, timeout=0.02)
    deadline = time.monotonic() + 10
    while True:
        try:
            port = serial.serial_for_url(url, timeout=0.02)
            break
        except serial.SerialException:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    port.write(b"START\n")
    buf = b""
    while sum(k == "D" for k, _ in parse(buf)[0]) < 3:
        buf += port.read(port.in_waiting or 1)
    d = [f for k, f in parse(buf)[0] if k == "D"]
    assert d[0]["seq"] == 0 and d[0]["first"] == 0 and d[0]["t_us"] < 21_000_000  # rebooted
    port.close()
    protocol_sim.reset_registry()


def test_gauge_over_url():
    port = serial.serial_for_url("sim://?scenario=steady&gauge=mark10&gauge_unit=lbf", timeout=0.5)
    port.write(b"?\r")
    line = port.read_until(b"\r\n")
    assert line.endswith(b" lbF\r\n")
    port.close()


def test_another_sensor_after_the_replug(parse):
    protocol_sim.reset_registry()
    url = "sim://?scenario=steady&speed=50&unplug_at=1&unplug_for=1&serial=SIM-A&replug_serial=SIM-B"

    def ident():
        port = serial.serial_for_url(url, timeout=0.02)
        try:
            port.write(b"ID\n")
            buf = b""
            while not any(k == "R" for k, _ in parse(buf)[0]):
                buf += port.read(port.in_waiting or 1)
            return next(f for k, f in parse(buf)[0] if k == "R")
        finally:
            port.close()

    seen = [ident()]
    deadline = time.monotonic() + 10
    while "serial=SIM-B" not in seen[-1]:  # unplugged (no port), then the other sensor
        assert time.monotonic() < deadline, seen
        try:
            seen.append(ident())
        except (serial.SerialException, OSError):
            seen.append("unplugged")
    assert "serial=SIM-A" in seen[0] and "unplugged" in seen
    protocol_sim.reset_registry()
