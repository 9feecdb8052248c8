"""The TUI's plain classes: units, feedback rules, the display buffer, braille, the model, sources."""

import numpy as np
import pytest

from nmt_monitor.storage import SessionMetadata
from nmt_monitor.tui.braille import grid_to_cells, trace_grid
from nmt_monitor.station import MockClock
from nmt_monitor.station import DisplayBuffer, SessionModel, Units, feedback_visibility
from nmt_monitor.station import MemorySource, ReplaySource

from .synth import blocks, connected, hold_trace


def test_units_convert_and_cycle():
    u = Units("N")
    assert u.fmt(9.80665) == "9.8 N"
    assert u.available() == ("N", "kgf", "lbf")
    assert [u.cycle() for _ in range(3)] == ["kgf", "lbf", "N"]
    assert Units("kgf").fmt(9.80665) == "1.00 kgf"
    assert Units("lbf").fmt(4.4482216) == "1.0 lbf"
    k = Units("kPa", tip_area_cm2=1.0)  # 1 kgf on 1 cm^2 = 98.1 kPa
    assert k.fmt(9.80665) == "98 kPa"
    assert Units("kPa").unit == "N"  # no area: no pressure
    k.set_area(None)
    assert k.unit == "N"


def test_feedback_rules():
    band = (30.0, 45.0)
    assert feedback_visibility("full", 40.0, band, True).force
    faded_in = feedback_visibility("faded", 40.0, band, True)
    assert not faded_in.force and faded_in.drift_alert
    assert feedback_visibility("faded", 50.0, band, True).force
    assert feedback_visibility("faded", 20.0, band, False).force
    blind = feedback_visibility("blind", 40.0, band, True)
    assert not blind.force and not blind.metrics and not blind.drift_alert
    assert feedback_visibility("blind", 40.0, band, False).force  # revealed after the hold


def test_display_buffer_is_bounded_and_ordered():
    b = DisplayBuffer(capacity=100)
    for k in range(25):
        t = np.arange(k * 7, k * 7 + 7, dtype=float)
        b.append(t, t * 2)
    t, f = b.last()
    assert len(b) == 100 and t.size == 100
    assert np.all(np.diff(t) == 1) and t[-1] == 174 and np.all(f == 2 * t)
    t2, _ = b.since(170.0)
    assert t2.tolist() == [170, 171, 172, 173, 174]
    b.append(np.arange(1000.0, 1300.0), np.zeros(300))  # larger than the ring
    assert b.last()[0][0] == 1200.0


def test_braille_flat_line():
    t = np.linspace(0, 10, 1000, endpoint=False)
    f = np.full_like(t, 50.0)
    grid, peak = trace_grid(t, f, 0.0, 10.0, 10, 2, 0.0, 100.0)
    assert grid.shape == (8, 20) and np.all(grid.sum(axis=0) == 1)
    cells = grid_to_cells(grid)
    assert cells.shape == (2, 10)
    row = int(np.argmax(grid[:, 0]))  # 50 of 0..100 on 8 dot rows
    assert row in (3, 4)
    assert np.allclose(peak, 50.0)


def model_with(meta=None):
    meta = meta or SessionMetadata(tolerance_N=60.0, target_band_N=(30.0, 45.0), target_hold_s=10.0)
    return SessionModel(meta, clock=MockClock())


def test_model_finds_a_hold_and_the_over_tolerance():
    m = model_with()
    t, f = hold_trace(level_n=40.0, hold_s=12.0)
    m.ingest([connected()] + blocks(t, f))
    frame = m.snapshot()
    assert len(frame.holds) == 1 and 11.0 < frame.holds[0].duration_s < 13.0
    assert not frame.over_tolerance and frame.alert_seq == 0
    t2, f2 = hold_trace(level_n=70.0, hold_s=3.0, rest_s=1.0)
    m.ingest(blocks(t2 + t[-1] + 0.005, f2))
    assert m.over_count == 1 and m.alert_seq >= 1


def test_model_drift_alert_during_hold():
    m = model_with()
    t, f = hold_trace(level_n=40.0, hold_s=14.0, drift_pct=-25.0, after_s=0.0, release_s=0.01)
    cut = int(np.searchsorted(t, 2 + 1 + 12.0))
    m.ingest(blocks(t[:cut], f[:cut]))
    frame = m.snapshot()
    assert frame.hold is not None and frame.drift_alert and frame.hold.drift_pct < -10


def test_model_set_targets_and_band():
    m = model_with()
    assert m.adjust_band(1.0) == (31.0, 46.0)
    m.set_targets(tolerance_n=None)
    assert m.engine.tolerance_n is None and m.snapshot().tolerance_n is None


def test_memory_source_steps():
    src = MemorySource([[connected()], [], ["x"]], auto=False)
    src.start()
    assert src.read(0.01) == []
    src.step()
    assert len(src.read(0.01)) == 1 and src.status().state == "streaming"
    src.stop()
    assert src.read(0.01) == []


def test_replay_source_clock_pause_seek():
    clock = MockClock()
    t = np.arange(0, 10, 0.01)
    src = ReplaySource(t, np.ones_like(t), clock=clock, speed=2.0, start_epoch_s=100.0)
    src.start()
    first = src.read(0.0)
    assert first[0].kind == "seek" and sum(len(b) for b in first[1:]) == 1
    clock.advance(1.0)  # x2: 2 s of data
    assert sum(len(b) for b in src.read(0.0)) == 200
    assert src.toggle_pause()
    clock.advance(5.0)
    assert src.read(0.0) == [] and src.status().state == "paused"
    src.seek(-1.0)
    items = src.read(0.0)
    assert items[0].kind == "seek" and sum(len(b) for b in items[1:]) == 101
    assert items[1].host_time_s[0] == pytest.approx(100.0)
