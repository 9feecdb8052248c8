"""The reader thread's life: stopping mid-reconnect, user STOP, failures, bad options."""

import time

import pytest

from nmt_monitor.acquisition import LinkEvent, SampleBlock, SensorReader
from nmt_monitor.errors import UserError
from tests.acquisition.test_end_to_end_pty import collect, n_samples


def test_stop_during_a_reconnect_closes_everything():
    reader = SensorReader("sim://?scenario=steady&rate=200&unplug_at=0.3&unplug_for=30").start()
    collect(reader, lambda b, e: any(ev.kind == "disconnected" for ev in e), deadline_s=15)
    assert reader.stats().state == "reconnecting"
    reader.stop()
    assert not reader.running
    assert reader.stats().state == "stopped"
    assert not any(isinstance(i, LinkEvent) and i.kind == "reconnected" for i in reader.drain())


@pytest.mark.slow
def test_a_user_stop_is_not_undone_by_the_stall_re_arm():
    with SensorReader("sim://?scenario=steady&rate=200") as reader:
        collect(reader, lambda b, e: n_samples(b) >= 100)
        reader.send_command("STOP")
        collect(reader, lambda b, e: any(ev.kind == "reply" and "STOP" in ev.detail["text"] for ev in e))
        reader.drain()
        # Watch for longer than the 1 s stall limit: nothing may start streaming again.
        blocks, events = collect(reader, lambda b, e: False, deadline_s=1.6)
    assert n_samples(blocks) <= 2 * 200 * 0.02  # at most what was in flight with the reply
    assert not any(e.kind == "warning" and "re-armed" in e.detail.get("message", "") for e in events)


def test_an_unexpected_error_on_the_thread_is_reported_not_swallowed(monkeypatch):
    reader = SensorReader("sim://?scenario=steady&rate=200")

    def broken(data, host_time_s):
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr(reader, "_process", broken)
    reader.start()
    _, events = collect(reader, lambda b, e: any(ev.kind == "fatal" for ev in e), deadline_s=10)
    fatal = [e for e in events if e.kind == "fatal"]
    assert fatal and "decoder exploded" in fatal[0].detail["message"]
    deadline = time.monotonic() + 5
    while reader.running and time.monotonic() < deadline:
        reader.get(timeout=0.05)
    assert reader.failed and reader.stats().state == "failed"
    reader.stop()


def test_unknown_unit_for_bare_numbers_is_a_user_error():
    with pytest.raises(UserError, match="furlong"):
        SensorReader("sim://", bare_unit="furlong")


def _gauge_link(**kwargs):
    from nmt_monitor.acquisition.links import GaugeLink

    events = []
    return GaugeLink("test://", emit=events.append, **kwargs), events


def test_gauge_reading_times_stay_strictly_increasing_when_the_host_clock_steps_back():
    link, _ = _gauge_link()  # driven directly: its line handling, no port
    times = []
    for host_time_s, chunk in [(100.0, b"1 N\r\n2 N\r\n3 N\r\n"), (99.0, b"4 N\r\n5 N\r\n6 N\r\n"),
                               (99.0, b"7 N\r\n")]:
        times += [t for block in link.data_received(chunk, host_time_s) for t in block.host_time_s.tolist()]
    assert len(times) == 7
    assert all(b > a for a, b in zip(times, times[1:])), times


def test_a_gauge_that_reports_compression_as_negative_can_be_flipped():
    link, _ = _gauge_link(compression_negative=True)
    (block,) = link.data_received(b"-12.50 N\r\n-13.00 N\r\n-13.50 N\r\n", 100.0)
    assert block.force_n.tolist() == [12.5, 13.0, 13.5]
