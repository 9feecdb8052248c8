"""Regression tests: repeated timestamps, stale data after a link loss, the blind-mode bell,
recorder I/O off the model lock, the end of a replay, the setup form, the exit code."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import Digits

from nmt_monitor.acquisition import LinkEvent, SampleBlock
from nmt_monitor.storage import SessionMetadata
from nmt_monitor.tui import MemorySource, MockClock, MonitorApp, ReplaySource
from nmt_monitor.tui.model import SessionModel

from .helpers import run, screen_text, settle, wait_until, widget_text
from .synth import EPOCH, blocks, connected, hold_trace

META = SessionMetadata(client="client 07", tolerance_N=60.0, target_band_N=(30.0, 45.0), target_hold_s=10.0)
SIZE = (100, 30)


class FakeRecorder:
    """Records what it is given; ``add`` waits on ``gate`` (a slow disk) when one is set."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.items: list = []
        self.marks: list[tuple[str, str]] = []
        self.path = Path("/nonexistent/fake.h5")
        self.journal_path = Path("/nonexistent/fake.journal")
        self.bytes_written = 0
        self.in_memory = False
        self.finished = None

    def clock(self) -> float:
        return 0.0

    def add(self, item) -> None:
        if self.gate is not None:
            self.gate.wait()
        self.items.append(item)

    def tick(self) -> None:
        pass

    def mark(self, kind, text="", host_time_s=None) -> None:
        self.marks.append((kind, text))

    def set_sensor(self, info) -> None:
        pass

    def finish(self, reason="stopped", **kw):
        self.finished = reason
        return self.path


def block_at(times, force=40.0) -> SampleBlock:
    t = np.asarray(times, float)
    n = t.size
    return SampleBlock(host_time_s=t + EPOCH, device_time_s=t.copy(), seq=np.arange(n, dtype=np.int64),
                       counts=None, force_n=np.full(n, force), saturated=np.zeros(n, bool))


# ------------------------------------------------------------------ 1. repeated timestamps

def test_repeated_timestamps_are_analysed_and_recorded():
    # readings of one USB burst share a stamp (kept: time as loggers write it); a host clock
    # stepping back holds at the latest time instead of dropping the sample
    m = SessionModel(META, clock=MockClock(), time_origin=EPOCH)
    rec = FakeRecorder()
    m.start_recording(lambda meta: rec)
    m.ingest([connected(), block_at([2.4]), block_at([2.5, 2.5, 2.6]), block_at([2.55, 2.7, 2.7, 2.8])])
    assert m.block_errors == 0 and m.samples == 8
    t, _ = m.buffer.last()
    assert np.all(np.diff(t) >= 0)
    assert np.allclose(t, [2.4, 2.5, 2.5, 2.6, 2.6, 2.7, 2.7, 2.8], atol=1e-5)  # float32 buffer
    writer = m.detach_recorder()
    writer.finish()
    recorded = [x for x in rec.items if isinstance(x, SampleBlock)]
    assert sum(len(b) for b in recorded) == 8  # every sample went to the recorder, unchanged
    assert recorded[1].host_time_s.tolist() == (np.array([2.5, 2.5, 2.6]) + EPOCH).tolist()


def test_one_bad_block_does_not_stop_ingest(monkeypatch):
    m = SessionModel(META, clock=MockClock(), time_origin=EPOCH)
    real = m.engine.feed
    calls = []

    def flaky(t, f):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("boom")
        return real(t, f)

    monkeypatch.setattr(m.engine, "feed", flaky)
    m.ingest([connected(), block_at([1.0]), block_at([1.1]), block_at([1.2])])
    assert m.block_errors == 1 and len(calls) == 3
    assert any("boom" in n for n in m.snapshot().notices)


class ExplodingSource(MemorySource):
    def read(self, timeout):
        items = super().read(timeout)
        if not items and self.exhausted:
            raise RuntimeError("reader thread crashed")
        return items


def test_dead_acquisition_worker_is_shown():
    t, f = hold_trace(level_n=40.0, hold_s=3.0)
    src = ExplodingSource([[connected()] + blocks(t, f)])
    app = MonitorApp(src, metadata=META, clock=MockClock(), bell=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.model.acquisition_error, what="worker death")
            await settle(pilot, app)
            assert "ACQUISITION STOPPED" in widget_text(app, "#title")
            alert = widget_text(app, "#alert")
            assert "acquisition stopped" in alert and "reader thread crashed" in alert
            assert app.query_one("#force", Digits).value == "--.-"
            await pilot.press("q")
            await wait_until(pilot, lambda: not app.is_running, what="quit")

    run(go())


# ------------------------------------------------------------------------ 2. stale data

def test_unplug_blanks_the_readout_and_outranks_over_tolerance():
    clock = MockClock()
    t, f = hold_trace(level_n=40.0, hold_s=8.0, after_s=0.0, release_s=0.01)
    cut = int(np.searchsorted(t, 8.0))  # mid-hold
    t_over = np.arange(0, 1.0, 0.005)
    over = blocks(t_over + 20.0, np.full(t_over.size, 70.0))
    batches = [
        [connected()] + blocks(t[:cut], f[:cut]),
        [LinkEvent("disconnected", EPOCH + t[cut], {"reason": "EIO"})],
        [LinkEvent("reconnected", EPOCH + 19.0, {})] + over,
        [LinkEvent("disconnected", EPOCH + 21.0, {"reason": "EIO"})],
        [LinkEvent("fatal", EPOCH + 22.0, {"message": "port vanished"})],
    ]
    src = MemorySource(batches, auto=False)
    app = MonitorApp(src, metadata=META, clock=clock, bell=False)

    def alert_line():
        return widget_text(app, "#alert")

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            src.step()
            await wait_until(pilot, lambda: src.handed_out == 1 and app.model.samples == cut)
            await settle(pilot, app)
            assert app.query_one("#force", Digits).value != "--.-"
            assert "INTERRUPTED" not in screen_text(app)
            clock.advance(0.6)  # no new sample for 0.6 s by the app's clock
            await settle(pilot, app)
            assert app.query_one("#force", Digits).value == "--.-"
            assert "INTERRUPTED" in screen_text(app) and "no data from the sensor" in alert_line()
            src.step()  # unplugged
            await wait_until(pilot, lambda: app.model.link_state == "reconnecting")
            await settle(pilot, app)
            assert "disconnected" in alert_line()
            src.step()  # back, and over the tolerance
            await wait_until(pilot, lambda: app.model.over_tolerance)
            await settle(pilot, app)
            assert "OVER TOLERANCE" in alert_line()
            src.step()  # unplugged while over: the link alert comes first
            await wait_until(pilot, lambda: app.model.link_state == "reconnecting")
            await settle(pilot, app)
            assert app.model.over_tolerance and "disconnected" in alert_line()
            assert app.query_one("#force", Digits).value == "--.-"
            src.step()
            await wait_until(pilot, lambda: app.model.link_state == "failed")
            await settle(pilot, app)
            assert "sensor link failed: port vanished" in alert_line()
            assert "SENSOR LINK FAILED" in widget_text(app, "#title")

    run(go())


# ----------------------------------------------------------------------- 3. blind bell

def test_blind_mode_withholds_the_drift_bell_and_reveals_after_the_hold():
    clock = MockClock()
    t, f = hold_trace(level_n=40.0, hold_s=14.0, drift_pct=-25.0, rate_hz=200.0)
    src = ReplaySource(t, f, clock=clock, start_epoch_s=EPOCH)
    app = MonitorApp(src, metadata=META, clock=clock, bell=True, feedback="blind")
    bells = []
    app.bell = lambda: bells.append(1)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            clock.advance(15.0)  # 12 s into the hold: drifted
            await wait_until(pilot, lambda: app.model.drift_seq >= 1, what="drift warning")
            await settle(pilot, app)
            assert app.model.hold is not None
            assert not bells and "DRIFT" not in screen_text(app)
            clock.advance(10.0)
            await wait_until(pilot, lambda: len(app.model.holds) == 1, what="hold ended")
            await settle(pilot, app)
            line = widget_text(app, "#alert")
            assert "last hold drifted" in line and f"{app.model.holds[0].drift_pct:+.1f} %" in line
            assert not bells

    run(go())


def test_full_mode_still_rings_for_drift():
    clock = MockClock()
    t, f = hold_trace(level_n=40.0, hold_s=14.0, drift_pct=-25.0, rate_hz=200.0)
    src = ReplaySource(t, f, clock=clock, start_epoch_s=EPOCH)
    app = MonitorApp(src, metadata=META, clock=clock, bell=True)
    bells = []
    app.bell = lambda: bells.append(1)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            clock.advance(15.0)
            await wait_until(pilot, lambda: app.model.drift_seq >= 1, what="drift warning")
            await settle(pilot, app)
            assert bells

    run(go())


# ------------------------------------------------------------ 4. recorder I/O off the lock

def test_slow_recorder_does_not_block_ingest_or_snapshot():
    gate = threading.Event()
    rec = FakeRecorder(gate)
    m = SessionModel(META, clock=MockClock(), time_origin=EPOCH)
    m.start_recording(lambda meta: rec)
    t, f = hold_trace(level_n=40.0, hold_s=3.0)
    items = [connected()] + blocks(t, f)
    worker = threading.Thread(target=m.ingest, args=(items,))
    worker.start()
    worker.join(5.0)
    assert not worker.is_alive(), "ingest waited for the disk"
    frame = m.snapshot()  # does not wait either
    assert frame.samples == t.size and frame.recording.active and frame.rec_pending > 0
    assert m.mark("discomfort")
    assert rec.items == [] or len(rec.items) <= 1  # the writer is stuck in add()
    gate.set()
    writer = m.detach_recorder()
    writer.finish(reason="done")  # drains everything first, in order
    assert rec.finished == "done"
    assert rec.items == items and rec.marks == [("discomfort", "")]


# ---------------------------------------------------------------------- 5. replay end

class RacingReplay(ReplaySource):
    """The play head reaches the end right after a read that handed out part of the data."""

    def read(self, timeout):
        items = super().read(timeout)
        if items and not getattr(self, "_jumped", False):
            self._jumped = True
            self.clock.advance(1000.0)
        return items


def test_replay_finishes_only_after_the_last_sample():
    clock = MockClock()
    t, f = hold_trace(level_n=40.0, hold_s=12.0, rate_hz=200.0, after_s=0.0, release_s=0.01)
    keep = t < 10.0  # ends in the middle of a hold: finish_stream closes it
    t, f = t[keep], f[keep]
    src = RacingReplay(t, f, clock=clock, start_epoch_s=EPOCH)
    clock.advance(1.0)
    app = MonitorApp(src, metadata=META, clock=clock, bell=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.model.samples == t.size and len(app.model.holds) == 1,
                             what="the whole replay and its last hold")
            assert app.model.block_errors == 0 and not app.errors
            assert any(w.group == "acquire" and w.is_running for w in app.workers)

    run(go())


def test_seek_back_clears_a_replayed_disconnect():
    m = SessionModel(META, clock=MockClock(), time_origin=EPOCH)
    m.ingest([LinkEvent("seek", EPOCH, {}), block_at([1.0]), LinkEvent("disconnected", EPOCH + 1.5, {})])
    assert m.link_state == "reconnecting"
    m.ingest([LinkEvent("seek", EPOCH, {}), block_at([0.5])])
    assert m.link_state == "streaming"


@pytest.mark.parametrize("unit", ["kgf", "lbf"])
def test_tolerance_line_stays_in_kgf_and_lbf(unit):
    t, f = hold_trace(level_n=40.0, hold_s=3.0)
    src = MemorySource([[connected()] + blocks(t, f)])
    app = MonitorApp(src, metadata=META, clock=MockClock(), bell=False, unit=unit)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.model.samples == t.size)
            await settle(pilot, app)
            lines = widget_text(app, "#force-label").splitlines()
            tol = next(line for line in lines if line.startswith("tol  "))
            assert any(line.startswith("band ") for line in lines)
            assert f"{app.units.fmt(60.0, unit=False)}" in tol

    run(go())


# ---------------------------------------------------------------------- 6. smaller ones

@pytest.mark.parametrize("field, value, message", [
    ("target", "-5N..40N", "below"),
    ("tolerance", "1e309", ""),
    ("tolerance", "inf", ""),
    ("hold_time", "inf", "hold time"),
    ("hold_time", "1e309", "hold time"),
    ("tip_area", "1e-300", "tip area"),
])
def test_setup_form_rejects_out_of_range_values(field, value, message):
    from nmt_monitor.tui.screens import SetupScreen

    src = MemorySource([[connected()]])
    app = MonitorApp(src, metadata=META, clock=MockClock(), bell=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen) and app.screen.query("#in-target"))
            app.screen.query_one(f"#in-{field}").value = value
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, SetupScreen)
            error = str(app.screen.query_one("#setup-error").render())
            assert "⚠" in error and message in error
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, SetupScreen))
            assert app.model.metadata.tolerance_N == 60.0 and app.model.metadata.target_hold_s == 10.0

    run(go())


def test_setup_form_warns_when_the_band_is_above_tolerance():
    from nmt_monitor.tui.screens import SetupScreen

    src = MemorySource([[connected()]])
    app = MonitorApp(src, metadata=META, clock=MockClock(), bell=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen) and app.screen.query("#in-target"))
            app.screen.query_one("#in-target").value = "50N..70N"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, SetupScreen)
            assert "above the tolerance" in str(app.screen.query_one("#setup-error").render())
            await pilot.press("ctrl+s")  # again: saved as asked
            await wait_until(pilot, lambda: not isinstance(app.screen, SetupScreen))
            assert app.model.metadata.target_band_N == (50.0, 70.0)

    run(go())


def test_status_bar_keeps_the_recording_at_80_columns_and_shows_in_memory():
    t, f = hold_trace(level_n=40.0, hold_s=3.0)
    rec = FakeRecorder()
    rec.path = Path("/tmp/recordings/2024-05-01_120000_client-07.h5")
    rec.bytes_written = 2_500_000
    src = MemorySource([[connected()] + blocks(t, f)], port="/dev/serial/by-id/usb-FTDI_very_long_name-if00")
    app = MonitorApp(src, metadata=META, clock=MockClock(), bell=False, recorder_factory=lambda meta: rec,
                     record=True)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.model.recorder is not None and app.model.samples == t.size)
            await settle(pilot, app)
            status = widget_text(app, "#status")
            assert "● REC" in status and "2.5 MB" in status and ".h5" in status, status
            rec.in_memory = True
            app.model.recorder_warning("cannot write the journal (No space left on device)")
            await settle(pilot, app)
            status = widget_text(app, "#status")
            assert "IN MEMORY" in status and "2.5 MB" in status, status
            assert "RECORDING IN MEMORY" in widget_text(app, "#title")

    run(go())


def test_alert_line_during_tolerance_hysteresis():
    from nmt_monitor.tui.model import Units, Visibility
    from nmt_monitor.tui.widgets import render_alert

    m = SessionModel(META, clock=MockClock(), time_origin=EPOCH)
    frame = m.snapshot()
    from dataclasses import replace

    over = replace(frame, over_tolerance=True, force_n=58.5)
    text, cls = render_alert(over, Units("N"), Visibility(), 100)
    assert cls == "over" and "58.5 N >" not in text.plain
    assert "STILL OVER TOLERANCE" in text.plain and "below 57.0 N" in text.plain
    text, _ = render_alert(replace(over, force_n=65.0), Units("N"), Visibility(), 100)
    assert "65.0 N > 60.0 N" in text.plain


def test_sigterm_exits_143():
    t, f = hold_trace(level_n=40.0, hold_s=3.0)
    app = MonitorApp(MemorySource([[connected()] + blocks(t, f)]), metadata=META, clock=MockClock(), bell=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.model.samples == t.size)
            app.hangup("SIGTERM", 3.0, 143)
            await wait_until(pilot, lambda: not app.is_running, what="exit")

    run(go())
    assert app.return_code == 143
