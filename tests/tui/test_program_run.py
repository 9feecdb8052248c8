"""A training program run through on the live monitor with a mock clock: what to do now, the
countdowns, the bell at each step, the blind trials, and the trials stored in the recording."""

from __future__ import annotations

import pytest
from textual.widgets import Digits

from nmt_monitor.program import program_from_toml
from nmt_monitor.station import MockClock, ReplaySource, recorder_factory
from nmt_monitor.storage import SessionMetadata, open_session
from nmt_monitor.tui import MonitorApp

from .helpers import run, wait_until, widget_text
from .synth import EPOCH, concat_traces, hold_trace

from tests.test_program import PROGRAM  # two guided holds, one blind retention, one transfer


class LiveReplay(ReplaySource):
    """Samples played against the mock clock, as from a sensor (so the monitor records)."""

    kind = "live"


@pytest.mark.slow
def test_a_program_run_through(tmp_path):
    clock = MockClock()
    t, f = concat_traces(*(hold_trace(level_n=lv, hold_s=10.0, rate_hz=200.0, seed=i)
                           for i, lv in enumerate((38.0, 39.0, 36.0, 24.0))))
    src = LiveReplay(t, f, clock=clock, start_epoch_s=EPOCH)
    meta = SessionMetadata(therapist="Ana", tolerance_N=60.0)
    app = MonitorApp(src, metadata=meta, clock=clock, bell=True, program=program_from_toml(PROGRAM, "p.toml"), fps=50,
                     recorder_factory=recorder_factory(tmp_path), record=True)
    bells = []
    app.bell = lambda: bells.append(app.model.snapshot().now_s)
    seen: list[str] = []  # the program line's first words, as they changed
    blind_hold_screens = []

    async def go():
        async with app.run_test(size=(110, 32)) as pilot:
            await wait_until(pilot, lambda: app.model.recorder is not None, what="recording")
            step = 1.0
            while clock() - 1000.0 < t[-1] + 1.0:
                clock.advance(step)
                target = min(clock() - 1000.0, t[-1])
                drawn = app.frames_drawn
                await wait_until(pilot, lambda: app.model.snapshot().now_s >= target - 0.01 and app.frames_drawn > drawn,
                                 what=f"data to {target:.1f} s on screen")
                line = widget_text(app, "#program").strip()
                word = line.split("  trial")[0].strip()
                word = word.split(" ")[0] + (" " + word.split(" at ")[1] if " at " in word else "")
                if not seen or seen[-1] != word:
                    seen.append(word)
                view = app.last_frame.program  # what the screen shows now
                if view.phase == "hold" and view.feedback == "blind" and app.last_frame.hold is not None:
                    blind_hold_screens.append((app.query_one("#force", Digits).value, widget_text(app, "#hold")))
            await pilot.press("q")
            await wait_until(pilot, lambda: not app.is_running, timeout=20, what="quit")

    run(go())
    assert seen[0] == "PRESS upper trapezius L"
    assert seen[:6] == ["PRESS upper trapezius L", "HOLD", "RELEASE", "REST", "PRESS", "HOLD"]
    assert "PRESS levator scapulae L" in seen and seen[-1] == "PROGRAM"  # "PROGRAM DONE"
    # blind trials: no force on screen during the hold, and no countdown: the student judges the time
    assert blind_hold_screens and all(value == "--.-" and "release when you judge" in hold
                                      for value, hold in blind_hold_screens)
    # the bell rang at the steps: the start, releases (the two guided trials), each trial's end, each rest's end
    assert len(bells) >= 1 + 2 + 4 + 3
    (path,) = app.saved
    s = open_session(path)
    assert s.program["name"] == "two guided, one blind, one transfer" and "target_pct" in s.program["text"]
    assert [(tr["kind"], tr["feedback"], tr["outcome"]) for tr in s.trials] == [
        ("practice", "full", "hold"), ("practice", "full", "hold"), ("retention", "blind", "hold"),
        ("transfer", "blind", "hold")]
    assert [tr["hold"] for tr in s.trials] == [0, 1, 2, 3]  # each trial's hold in intervals/holds
    assert s.trials[0]["target_band_N"] == (30.0, 42.0) and s.trials[3]["target_band_N"] == (20.0, 28.0)
    assert all(tr["start_s"] < s.holds[tr["hold"]]["start_s"] < tr["end_s"] for tr in s.trials)
    assert [m["text"] for m in s.markers if m["kind"] == "site"] == ["levator scapulae L"]
