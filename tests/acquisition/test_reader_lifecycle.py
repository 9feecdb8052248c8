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
