"""Pilot tests of the live monitor: keys, alerts, hold timer, recording, reconnects, snapshots."""

from __future__ import annotations

import numpy as np
import pytest
from textual.widgets import Digits

from nmt_monitor.acquisition import LinkEvent
from nmt_monitor.storage import SessionMetadata, open_session
from nmt_monitor.tui import MemorySource, MockClock, MonitorApp, ReplaySource
from nmt_monitor.station import recorder_factory
from nmt_monitor.tui.screens import HelpScreen, SetupScreen

from tests.examples import STEADY

from .helpers import assert_snapshot, run, screen_text, settle, wait_until, widget_text
from .synth import EPOCH, blocks, concat_traces, connected, hold_trace

META = SessionMetadata(client="client 07", tolerance_N=60.0, target_band_N=(30.0, 45.0), target_hold_s=10.0,
                       contact_tip="thumb", tip_area_cm2=1.0)
SIZE = (100, 30)


def session_trace():
    """A steady hold, a drifting hold, and a press over the tolerance."""
    return concat_traces(
        hold_trace(level_n=38.0, hold_s=12.0, seed=1),
        hold_trace(level_n=42.0, hold_s=11.0, drift_pct=-22.0, seed=2),
        hold_trace(level_n=68.0, hold_s=2.0, rest_s=1.0, after_s=0.5, seed=3),
    )


def make_app(batches, *, auto=True, meta=META, **kw):
    src = MemorySource(batches, auto=auto)
    app = MonitorApp(src, metadata=meta, clock=kw.pop("clock", MockClock()), bell=kw.pop("bell", False), **kw)
    return app, src


def total_samples(batches) -> int:
    return sum(len(i) for b in batches for i in b if not isinstance(i, LinkEvent))


# ------------------------------------------------------------------------------ snapshots

def test_snapshot_main_screen():
    t, f = session_trace()
    batches = [[connected()] + blocks(t, f)]
    app, src = make_app(batches)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.model.samples == total_samples(batches), what="all samples")
            await settle(pilot, app)
            assert_snapshot(app, "main_100x30")
            await pilot.resize_terminal(80, 24)
            await settle(pilot, app)
            assert_snapshot(app, "main_80x24")

    run(go())


def test_snapshot_setup_form():
    app, _ = make_app([[connected()]])

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen), what="setup form")
            await pilot.pause()
            assert_snapshot(app, "setup_form")

    run(go())


def test_snapshot_replay(tmp_path):
    clock = MockClock()
    src = ReplaySource.from_session(STEADY, clock=clock, speed=1.0)
    meta = SessionMetadata(client="client 01", tolerance_N=80.0, target_band_N=(30.0, 50.0), target_hold_s=15.0,
                           contact_tip="thumb", tip_area_cm2=1.5)
    app = MonitorApp(src, metadata=meta, clock=clock, bell=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            clock.advance(28.0)
            expected = int(np.searchsorted(src.t, 28.0 + src.t[0], side="right"))
            await wait_until(pilot, lambda: app.model.samples == expected, what="replay to 28 s")
            await pilot.press("space")  # pause
            await settle(pilot, app)
            assert "paused" in screen_text(app)
            assert_snapshot(app, "replay_paused")
            await pilot.press("right")  # seek +5 s while paused
            await wait_until(pilot, lambda: abs(app.model.snapshot().now_s - 33.0) < 0.05, what="seek")

    run(go())


# ------------------------------------------------------------------------------ behaviour

@pytest.mark.slow
def test_footer_keys_do_what_they_say(tmp_path):
    t, f = hold_trace(level_n=40.0, hold_s=8.0)
    batches = [[connected()] + blocks(t, f)]
    app, src = make_app(batches, recorder_factory=recorder_factory(tmp_path))

    async def go():
        async with app.run_test(size=(140, 30)) as pilot:
            await wait_until(pilot, lambda: app.model.samples == total_samples(batches))
            await settle(pilot, app)
            footer = widget_text(app, "Footer")
            for label in ("r Rec", "t Tare", "u Unit", "d Discomfort", "f Felt", "[ ] Target", "m Mode",
                          "s Setup", "? Help", "q Quit"):
                assert label in footer, label
            assert "Pause" not in footer  # replay keys are not offered live

            await pilot.press("u")
            assert app.units.unit == "kgf"
            await settle(pilot, app)
            assert "kgf" in screen_text(app)
            for _ in range(3):
                await pilot.press("u")
            assert app.units.unit == "N"  # N -> kgf -> lbf -> kPa -> N (tip area given)

            await pilot.press("m")
            assert app.feedback == "faded"
            await pilot.press("m")
            assert app.feedback == "blind"
            await pilot.press("m")
            assert app.feedback == "full"

            await pilot.press("right_square_bracket")
            assert app.model.metadata.target_band_N == (31.0, 46.0)
            await pilot.press("left_square_bracket", "left_square_bracket")
            assert app.model.metadata.target_band_N == (29.0, 44.0)

            await pilot.press("t")  # the memory source cannot tare: zeroed in software
            assert src.tares == 1
            await wait_until(pilot, lambda: app.model.tare_offset_n != 0.0, what="software tare")

            await pilot.press("question_mark")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
            assert "Release felt" in screen_text(app) or "release felt" in screen_text(app)
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen), what="help closed")

            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen) and app.screen.query("#in-tolerance"),
                             what="setup")
            inp = app.screen.query_one("#in-tolerance")
            inp.value = "5kgf"
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: not isinstance(app.screen, SetupScreen), what="setup closed")
            assert app.model.metadata.tolerance_N == pytest.approx(49.03325)
            assert app.model.engine.tolerance_n == pytest.approx(49.03325)

            await pilot.press("r")
            await wait_until(pilot, lambda: app.model.recorder is not None, what="recording")
            await settle(pilot, app)
            assert "● REC" in screen_text(app) and "RECORDING" in screen_text(app)
            await pilot.press("d", "f")
            await pilot.press("r")
            await wait_until(pilot, lambda: len(app.saved) == 1, what="recording finished")
            await settle(pilot, app)
            assert "not recording" in screen_text(app)
            await pilot.press("q")
            await wait_until(pilot, lambda: not app.is_running, what="quit")

    run(go())
    markers = open_session(app.saved[0], arrays=False).markers
    assert [m["kind"] for m in markers] == ["discomfort", "release_felt"]


def test_setup_form_rejects_bad_input():
    app, _ = make_app([[connected()]])

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen) and app.screen.query("#in-target"))
            app.screen.query_one("#in-target").value = "45..lots"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, SetupScreen)
            assert "⚠" in screen_text(app)
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, SetupScreen))
            assert app.model.metadata.target_band_N == (30.0, 45.0)

    run(go())


def test_scripted_over_tolerance_raises_the_alert():
    rest_t, rest_f = hold_trace(level_n=40.0, hold_s=6.0, after_s=1.0)
    t_over = np.arange(0, 3.0, 0.005)
    f_over = np.clip(40.0 + 40.0 * t_over, 0, 75.0)  # ramps through 60 N at t = 0.5 s
    t_over = t_over + rest_t[-1] + 0.005
    crossing_s = float(t_over[np.argmax(f_over > 60.0)])
    batches = [[connected()] + blocks(rest_t, rest_f), blocks(t_over, f_over)]
    app, src = make_app(batches, auto=False)
    bells = []
    app.bell = lambda: bells.append(1)
    app.use_bell = True

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            src.step()
            await wait_until(pilot, lambda: app.model.samples == total_samples(batches[:1]))
            await settle(pilot, app)
            assert "OVER TOLERANCE" not in screen_text(app) and not bells
            src.step()
            await wait_until(pilot, lambda: app.model.samples == total_samples(batches))
            await settle(pilot, app)
            text = screen_text(app)
            assert "OVER TOLERANCE" in text and "ease off" in text
            assert "alert-over" in app.query_one("#alert").classes
            assert app.query_one("#force", Digits).has_class("force-over")
            assert bells, "the terminal bell rang"
            # the engine knew within 100 ms of the crossing (data time)
            assert app.model.over_started_s - crossing_s <= 0.1

    run(go())


def test_hold_timer_advances_with_the_mock_clock():
    clock = MockClock()
    t, f = hold_trace(level_n=40.0, hold_s=15.0, rate_hz=200.0)
    src = ReplaySource(t, f, clock=clock, start_epoch_s=EPOCH)
    app = MonitorApp(src, metadata=META, clock=clock, bell=False)

    def hold_panel():
        return widget_text(app, "#hold")

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            assert "no hold" in screen_text(app)
            clock.advance(7.0)  # rest 2 s, ramp 1 s: on the plateau at 3 s
            await wait_until(pilot, lambda: app.model.snapshot().now_s >= 6.99, what="7 s of data")
            await settle(pilot, app)
            first = app.model.snapshot().hold
            assert first is not None
            assert "HOLD" in hold_panel() and "/ 10 s" in hold_panel()
            clock.advance(3.0)
            await wait_until(pilot, lambda: app.model.snapshot().now_s >= 9.99, what="10 s of data")
            await settle(pilot, app)
            second = app.model.snapshot().hold
            assert second.elapsed_s == pytest.approx(first.elapsed_s + 3.0, abs=0.02)
            assert f"{second.elapsed_s:5.1f} s" in hold_panel()
            clock.advance(4.0)  # past the 10 s target: the panel says release
            await wait_until(pilot, lambda: app.model.snapshot().now_s >= 13.99)
            await settle(pilot, app)
            assert "RELEASE" in hold_panel() and "100 %" in hold_panel()

    run(go())


def test_blind_mode_hides_force_during_hold_then_reveals():
    clock = MockClock()
    t, f = hold_trace(level_n=40.0, hold_s=8.0, rate_hz=200.0)
    src = ReplaySource(t, f, clock=clock, start_epoch_s=EPOCH)
    app = MonitorApp(src, metadata=META, clock=clock, bell=False, feedback="blind")

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            clock.advance(7.0)
            await wait_until(pilot, lambda: app.model.snapshot().hold is not None)
            await settle(pilot, app)
            assert "blind: hold in progress" in screen_text(app)
            assert app.query_one("#force", Digits).value == "--.-"
            clock.advance(10.0)
            await wait_until(pilot, lambda: len(app.model.snapshot().holds) == 1)
            await settle(pilot, app)
            assert "blind: hold" not in screen_text(app) and "last:" in screen_text(app)

    run(go())


def test_recording_is_created_and_finished_on_quit(tmp_path):
    t, f = hold_trace(level_n=40.0, hold_s=6.0)
    batches = [[connected()] + blocks(t, f)]
    app, src = make_app(batches, auto=False, recorder_factory=recorder_factory(tmp_path), record=True)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.model.recorder is not None, what="recording at start")
            journal = app.model.recorder.journal_path
            assert journal.exists()
            src.step()
            await wait_until(pilot, lambda: app.model.samples == t.size)
            await pilot.press("q")
            await wait_until(pilot, lambda: not app.is_running, timeout=20, what="quit")

    run(go())
    files = sorted(tmp_path.glob("*.h5"))
    assert len(files) == 1 and not list(tmp_path.glob("*.journal"))
    s = open_session(files[0])
    assert s.n_samples == t.size
    assert s.metadata["client"] == "client 07" and s.metadata["tolerance_N"] == 60.0
    assert len(s.holds) == 1


def test_unplug_shows_reconnecting_and_recovers():
    t, f = hold_trace(level_n=40.0, hold_s=20.0)
    n = t.size // 2
    batches = [
        [connected()] + blocks(t[:n], f[:n]),
        [LinkEvent("disconnected", EPOCH + t[n], {"reason": "EIO"})],
        [LinkEvent("reconnected", EPOCH + t[n] + 1.0, {})] + blocks(t[n + 200:], f[n + 200:], segment=1),
    ]
    app, src = make_app(batches, auto=False)

    def status_line():
        return widget_text(app, "#status")[:20]

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            src.step()
            await wait_until(pilot, lambda: app.model.samples == n)
            await settle(pilot, app)
            assert "streaming" in status_line()
            src.step()
            await wait_until(pilot, lambda: app.model.link_state == "reconnecting")
            await settle(pilot, app)
            assert "reconnecting" in status_line()
            assert "reconnecting" in widget_text(app, "#alert")
            src.step()
            await wait_until(pilot, lambda: app.model.link_state == "streaming" and src.exhausted)
            await settle(pilot, app)
            assert "streaming" in status_line()

    run(go())


@pytest.mark.slow
def test_real_simulator_unplug_and_reconnect():
    from nmt_monitor.acquisition import SensorReader
    from nmt_monitor.tui import ReaderSource

    reader = SensorReader("sim://?scenario=steady&rate=500&seed=11&unplug_at=1.0&unplug_for=1.0")
    app = MonitorApp(ReaderSource(reader), metadata=META, bell=False)
    seen = []

    def state_on_screen():
        line = widget_text(app, "#status")[:20]  # the state comes first
        for s in ("reconnecting", "streaming"):
            if s in line and (not seen or seen[-1] != s):
                seen.append(s)
        return seen

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "reconnecting" in state_on_screen(), timeout=10, what="reconnecting")
            await wait_until(pilot, lambda: state_on_screen()[-1] == "streaming" and reader.stats().reconnects == 1,
                             timeout=10, what="reconnected")
            await pilot.press("q")
            await wait_until(pilot, lambda: not app.is_running, timeout=10)

    try:
        run(go())
    finally:
        reader.stop()
    assert seen[-2:] == ["reconnecting", "streaming"]


def test_unfinished_sessions_are_offered_for_recovery(tmp_path):
    from nmt_monitor.storage import Recorder
    from nmt_monitor.tui.screens import RecoveryScreen

    t, f = hold_trace(level_n=30.0, hold_s=5.0)
    crashed = Recorder(tmp_path, SessionMetadata(client="crashed"))
    for b in blocks(t, f):
        crashed.add(b)
    crashed.close()  # as after a crash: the journal stays
    assert len(list(tmp_path.glob("*.journal"))) == 1
    app, _ = make_app([[connected()]], recovery_dir=tmp_path, recorder_factory=recorder_factory(tmp_path))

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, RecoveryScreen), what="recovery dialog")
            await pilot.pause()
            assert "Unfinished sessions" in screen_text(app)
            await pilot.press("enter")  # "Recover now" has the focus
            await wait_until(pilot, lambda: not list(tmp_path.glob("*.journal")), what="recovered")

    run(go())
    (h5,) = tmp_path.glob("*.h5")
    assert open_session(h5, arrays=False).n_samples == t.size


def test_replay_setup_form_does_not_claim_to_store_anything(tmp_path):
    """A replay writes nothing: its setup form says so (it once said "Stored with the recording")."""
    import shutil

    path = tmp_path / "copy.h5"
    shutil.copy("recordings/example-steady.h5", path)
    before = path.read_bytes()
    clock = MockClock()
    app = MonitorApp(ReplaySource.from_session(str(path), clock=clock), metadata=SessionMetadata(client="c"),
                     clock=clock, bell=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen), what="setup form")
            await pilot.pause()
            note = str(app.screen.query_one("#setup-note").render())
            assert "nothing is written to the file" in note and "Stored with" not in note
            app.screen.query_one("#in-therapist").value = "Anna"
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: not isinstance(app.screen, SetupScreen), what="form closed")
            assert app.model.metadata.therapist == "Anna"

    run(go())
    assert path.read_bytes() == before
