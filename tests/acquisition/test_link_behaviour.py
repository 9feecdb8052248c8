"""What a user of the link sees when the sensor is replaced, cannot be identified, or sends
bytes that make no readings. Judged from the data (segments, sequence numbers, events);
the deadlines in ``collect`` are only safety nets."""

import logging
import os

import numpy as np
import pytest

from firmware_sim import protocol_sim
from nmt_monitor.acquisition import SensorReader, concat_blocks
from tests.acquisition.test_end_to_end_pty import collect, n_samples


@pytest.fixture(autouse=True)
def fresh_simulators():
    protocol_sim.reset_registry()
    yield
    protocol_sim.reset_registry()


def events_of(events, kind, code=None):
    return [e for e in events if e.kind == kind and (code is None or e.detail.get("code") == code)]


def after_reconnect(min_samples):
    def done(blocks, events):
        return bool(events_of(events, "reconnected")) and n_samples([b for b in blocks if b.segment > 0]) >= min_samples
    return done


@pytest.mark.slow  # real time (the simulator's clock)
def test_another_sensor_after_an_unplug_starts_a_new_segment_with_a_warning(caplog):
    url = "sim://?scenario=steady&rate=200&speed=4&unplug_at=1&unplug_for=1&serial=SIM-0001&replug_serial=SIM-0002"
    caplog.set_level(logging.DEBUG, logger="nmt_monitor.link")
    with SensorReader(url) as reader:
        blocks, events = collect(reader, after_reconnect(100))
        info = reader.info
    (back,) = events_of(events, "reconnected")
    assert back.detail["same_sensor"] is False and back.detail["serial_number"] == "SIM-0002"
    (changed,) = events_of(events, "warning", "sensor_changed")
    assert changed.detail["previous_serial"] == "SIM-0001" and "SIM-0002" in changed.detail["message"]
    assert info.serial_number == "SIM-0002"
    # Never a silent splice: the other sensor's samples are a segment of their own, in order.
    first, second = concat_blocks([b for b in blocks if b.segment == 0]), concat_blocks([b for b in blocks if b.segment == 1])
    assert len(first) and len(second) >= 100
    assert np.all(np.diff(first.seq) == 1) and np.all(np.diff(second.seq) == 1)
    assert second.seq[0] == 0  # its own counters, from its power-up
    assert second.host_time_s[0] > first.host_time_s[-1]
    # The diagnostics a user can send (nmt-monitor -v / --log-file): what was sent, the
    # replies, the reconnect and who answered.
    log = caplog.text
    for fragment in ("sent b'ID\\n'", "sent b'START\\n'", "reply 'OK ID proto=1 serial=SIM-0001",
                     "disconnected", "reconnected after", "a different sensor 'SIM-0002' (was 'SIM-0001')"):
        assert fragment in log, fragment


@pytest.mark.slow  # real time (the simulator's clock)
def test_the_same_sensor_after_an_unplug_resumes_without_a_warning():
    url = "sim://?scenario=steady&rate=200&speed=4&unplug_at=1&unplug_for=1"
    with SensorReader(url) as reader:
        blocks, events = collect(reader, after_reconnect(100))
    (back,) = events_of(events, "reconnected")
    assert back.detail["same_sensor"] is True and back.detail["serial_number"] == "SIM-0001"
    assert not events_of(events, "warning", "sensor_changed") and not events_of(events, "warning", "identity_unknown")


@pytest.mark.slow  # real time (the simulator's clock)
def test_a_mark10_is_identified_by_its_serial_number_and_checked_after_an_unplug():
    # Continuous output: the serial number's reply comes among the readings.
    url = ("sim://?scenario=steady&gauge=mark10&gauge_continuous=1&rate=20&speed=4&unplug_at=4&unplug_for=1"
           "&serial=3141592&replug_serial=2718281")
    with SensorReader(url, protocol="gauge") as reader:
        first_serial = reader.info.serial_number
        blocks, events = collect(reader, after_reconnect(5))
    assert first_serial == "3141592"
    (back,) = events_of(events, "reconnected")
    assert back.detail["same_sensor"] is False and back.detail["serial_number"] == "2718281"
    assert events_of(events, "warning", "sensor_changed")
    assert {b.segment for b in blocks} == {0, 1}


@pytest.mark.slow  # real time (the simulator's clock)
def test_a_gauge_without_identity_says_so_after_an_unplug():
    url = "sim://?scenario=steady&gauge=plain&rate=80&speed=4&unplug_at=4&unplug_for=1"
    with SensorReader(url, protocol="gauge") as reader:
        assert reader.info.serial_number == ""
        blocks, events = collect(reader, after_reconnect(20))
    (back,) = events_of(events, "reconnected")
    assert back.detail["same_sensor"] is None
    (unknown,) = events_of(events, "warning", "identity_unknown")
    assert "no serial number" in unknown.detail["message"]


@pytest.mark.slow  # real time (the simulator's clock)
def test_a_diy_gauge_with_noise_lines_keeps_reading():
    # Issue 10: on a bare-number gauge, one '3.2 N' noise line used to silence it for good.
    url = "sim://?scenario=steady&gauge=plain&rate=80&speed=8&noise_lines=0.2&seed=5"
    with SensorReader(url, protocol="gauge") as reader:
        blocks, events = collect(reader, lambda b, e: n_samples(b) >= 500)
        stats = reader.stats()
    data = concat_blocks(blocks)
    assert len(data) >= 500
    assert not events_of(events, "warning", "no_readings")
    # About one noise line per five readings was sent; each was rejected, no reading was.
    assert 0.1 < stats.lines_rejected / stats.samples < 0.3
    assert data.force_n.max() < 60 and np.all(np.isfinite(data.force_n))


@pytest.mark.slow  # real time (the simulator's clock)
def test_bytes_without_readings_are_reported_and_the_link_recovers():
    url = "sim://?scenario=steady&gauge=mark10&gauge_continuous=1&rate=50&garble_at=0.8&garble_for=1.4"
    with SensorReader(url, protocol="gauge") as reader:
        blocks, events = collect(reader, lambda b, e: bool(events_of(e, "info", "readings_resumed"))
                                 and n_samples([x for x in b if x.host_time_s[0] > e[-1].host_time_s]) >= 10)
    (silent,) = events_of(events, "warning", "no_readings")
    (back,) = events_of(events, "info", "readings_resumed")
    assert silent.detail["bytes"] > 0 and "no readings" in silent.detail["message"]
    data = concat_blocks(blocks)
    before = data.host_time_s < silent.host_time_s
    after = data.host_time_s > back.host_time_s - 0.1
    assert before.sum() >= 10 and after.sum() >= 10
    # The stretch without readings is a gap in the data, about as long as the garbled window.
    gap = np.max(np.diff(data.host_time_s))
    assert 1.2 < gap < 4.0, gap


@pytest.mark.slow
def test_a_unit_switch_on_the_gauge_is_reported_and_readings_stay_in_newtons(start_sim):
    sim = start_sim("--pty", "--rate", "50", "--speed", "4", "--scenario", "steady", "--gauge", "mark10",
                    "--gauge-continuous")
    with SensorReader(sim.url, protocol="gauge") as reader:
        before, _ = collect(reader, lambda b, e: n_samples(b) >= 50)
        fd = os.open(sim.url, os.O_RDWR | os.O_NOCTTY)  # someone presses the unit key: lbF
        try:
            os.write(fd, b"LBF\r")
        finally:
            os.close(fd)
        blocks, events = collect(reader, lambda b, e: bool(events_of(e, "warning", "format_changed"))
                                 and n_samples(b) >= 100)
        info = reader.info
    (change,) = events_of(events, "warning", "format_changed")
    assert change.detail["from"].endswith(" N") and change.detail["to"].endswith(" lbF")
    assert change.detail["unit"] == "lbf" and info.gauge_unit == "lbf"
    data = concat_blocks(before + blocks)
    # Newtons throughout: no step by the factor 4.45 where the unit changed.
    steps = np.abs(np.diff(data.force_n))
    assert steps.max() < 0.2 * max(1.0, np.abs(data.force_n).max()), steps.max()
