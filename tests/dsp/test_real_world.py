"""The hold engine on signals as they really arrive (issue 9): one test per failure found on
traces our simulator did not make. Traces come from tests/dsp/realworld.py (1/f hand force,
min-jerk ramps, resting hands, untared and wandering zeros, gauges, host-clock stamps)."""

from __future__ import annotations

import numpy as np
import pytest

from nmt_monitor.dsp import HoldEngine, analyze_holds, estimate_rate_hz

from .realworld import Trace, gauge, host_stamps


def matched(truth: list[dict], holds, tol_s: float = 0.5) -> int:
    """How many true holds have a detected hold within tol_s at both ends."""
    return sum(any(abs(h.start_s - t["start_s"]) < tol_s and abs(h.end_s - t["end_s"]) < tol_s for h in holds)
               for t in truth)


def test_repeated_timestamps_are_time_as_loggers_write_it():
    # a host logger stamps lines when their USB burst arrives (16 ms latency timer) with a
    # 15.6 ms clock: several readings share a stamp; the file must be analysed, not refused
    tr = Trace(1).rest(4).hold(15, level=30).rest(4).hold(12, level=20).rest(3)
    t, r = tr.measure()
    t_host, r_host = host_stamps(t[::10]), r[::10]  # a 100 Hz device
    assert np.any(np.diff(t_host) == 0) and np.all(np.diff(t_host) >= 0)
    a = analyze_holds(t_host, r_host)
    assert matched(tr.holds, a.holds) == 2 and len(a.holds) == 2
    assert a.sample_rate_hz == pytest.approx(100, rel=0.05)
    assert not any("gap" in h.flags for h in a.holds)
    # only time going backwards is refused
    with pytest.raises(ValueError, match="backwards"):
        analyze_holds(t_host[::-1], r_host)


def test_estimate_rate_with_repeated_stamps_and_gaps():
    t = np.arange(0, 60, 1 / 80)
    assert estimate_rate_hz(np.floor(t / 0.0156) * 0.0156) == pytest.approx(80, rel=0.01)
    g = t.copy()
    g[2000:] += 5.0  # a 5 s gap does not lower the rate
    assert estimate_rate_hz(g) == pytest.approx(80, rel=0.01)


def test_a_session_of_light_holds_only():
    # face and jaw work: 3-5 N holds, nothing heavier before them
    tr = Trace(2).rest(4)
    for level in (3.0, 4.0, 5.0, 3.5):
        tr.hold(12, level=level).rest(4)
    t, r = tr.measure(noise_n=0.02)
    a = analyze_holds(t, r)
    assert len(a.holds) == 4 and matched(tr.holds, a.holds) == 4
    for h, truth in zip(a.holds, tr.holds):
        assert h.mean_N == pytest.approx(truth["level_N"], abs=0.3)
        assert "drift" not in h.flags


@pytest.mark.parametrize("offset_n", [0.0, 8.0, -9.0])
def test_a_resting_hand_is_neither_a_hold_nor_the_zero(offset_n):
    # between holds the hand rests on the sensor at 2-4 N, wandering with breathing (CV 15 %)
    tr = Trace(3).rest(4)
    for level in (25.0, 40.0, 30.0):
        tr.hold(15, level=level).resting_hand(6, level=3.0)
    tr.rest(3)
    t, r = tr.measure(offset_n=offset_n)
    a = analyze_holds(t, r, tolerance_n=35.0)
    assert len(a.holds) == 3 and matched(tr.holds, a.holds) == 3
    for h, truth in zip(a.holds, tr.holds):
        assert h.zero_N == pytest.approx(offset_n, abs=0.3)  # the unloaded sensor, not the hand
        assert h.mean_N == pytest.approx(truth["level_N"], rel=0.03)
    # the 40 N hold is over a 35 N tolerance from its start, the others never
    (ep,) = a.over_tolerance
    assert ep.start_s < tr.holds[1]["start_s"] and ep.end_s > tr.holds[1]["end_s"] - 0.5


@pytest.mark.parametrize("offset_n", [15.0, -15.0])
def test_offsets_beyond_5_n_are_subtracted(offset_n):
    # zero balance up to 10 % of full scale: +-20 N on a 200 N cell
    tr = Trace(4).rest(4).hold(12, level=30).hold(12, level=40).rest(4).hold(10, level=20).rest(3)
    t, r = tr.measure(offset_n=offset_n)
    a = analyze_holds(t, r, tolerance_n=35.0)
    assert len(a.holds) == 3 and matched(tr.holds, a.holds) == 3  # the 30 -> 40 N step splits
    assert all(h.zero_N == pytest.approx(offset_n, abs=0.3) for h in a.holds)
    (ep,) = a.over_tolerance  # the 40 N hold, and no false alarm at rest
    assert tr.holds[1]["start_s"] - 1.0 < ep.start_s < tr.holds[1]["start_s"] + 0.5


def test_a_wandering_zero_and_a_tare_make_no_holds_of_rests():
    # the zero drifts by 3 N over the session (a warming cell); later a tare during a rest
    tr = Trace(5).rest(4)
    for level in (20.0, 30.0, 25.0, 20.0):
        tr.hold(15, level=level).rest(6)
    t, r = tr.measure(offset_n=2.0, drift_n=3.0)
    a = analyze_holds(t, r)
    assert len(a.holds) == 4 and matched(tr.holds, a.holds) == 4
    zeros = [h.zero_N for h in a.holds]
    assert zeros == sorted(zeros) and zeros[-1] - zeros[0] > 1.5  # it followed the drift
    assert a.zero_track and a.zero_track[-1][1] == pytest.approx(5.0, abs=0.3)
    # a tare in the rest after the second hold moves the zero from +6 N to 0 N
    rest_mid = tr.holds[1]["end_s"] + 3.0
    t, r = tr.measure(offset_n=6.0, tare_at_s=rest_mid)
    a = analyze_holds(t, r)
    assert len(a.holds) == 4 and matched(tr.holds, a.holds) == 4
    assert [round(h.zero_N) for h in a.holds] == [6, 6, 0, 0]


@pytest.mark.parametrize("rate_hz, step", [(10.0, 0.1), (25.0, 0.01)])
def test_gauge_rates_are_sampling_not_gaps(rate_hz, step):
    # a commercial gauge: 10-25 readings/s averaged over the output period, quantised
    tr = Trace(6).rest(4).hold(15, level=20).rest(4).hold(12, level=8).rest(3)
    t, r = tr.measure(offset_n=1.0)
    tg, rg = gauge(t, r, rate_hz, step)
    a = analyze_holds(tg, rg)
    assert len(a.holds) == 2 and matched(tr.holds, a.holds) == 2
    assert all("gap" not in h.flags and h.gap_s == 0.0 for h in a.holds)
    # a real dropout of 2 s is still a gap
    keep = ~((tg > 10.0) & (tg < 12.0))
    b = analyze_holds(tg[keep], rg[keep])
    assert any(h.ended_by == "gap" for h in b.holds)


def test_bands_relative_to_a_light_hold():
    # a 33 % step on a 3 N hold splits it; a slow release does not read as drift
    tr = Trace(7).rest(4).hold(8, level=3.0).hold(8, level=4.0).rest(4).hold(10, level=4.0)
    tr.ramp(0.0, 2.0).rest(3)
    t, r = tr.measure()
    a = analyze_holds(t, r)
    assert len(a.holds) == 3 and matched(tr.holds, a.holds) == 3
    assert all(abs(h.drift_pct) < 8 for h in a.holds)


def test_repeaters_on_a_rig_weighing_on_the_sensor():
    # 7 s on / 3 s off pulls of ~30 kgf read by a handheld load cell in kilograms at 88 Hz on
    # its own clock; between pulls the rig (and the hand on it) weighs 6-7 N on the sensor,
    # sometimes lifted for a moment
    rng = np.random.default_rng(9)
    tr = Trace(9, rate_hz=880.0).rest(1.5)
    tr.resting_hand(3.0, level=6.5, cv=0.02)
    for _ in range(6):
        tr.hold(6.3, level=float(rng.uniform(250, 320)), approach_s=0.4, cv=0.04)
        tr.resting_hand(3.0, level=6.5, cv=0.02)
    t, r = tr.measure(noise_n=0.05)
    t, kg = t[::10], r[::10] / 9.80665
    a = analyze_holds(t, kg * 9.80665)
    assert len(a.holds) == 6 and matched(tr.holds, a.holds) == 6


def test_live_figures_freeze_at_the_suspected_end():
    # at the end of a hold the panel must not show the release as part of it: once the force
    # leaves the level, hold_progress carries the figures at the suspected end
    tr = Trace(10).rest(3).hold(15, level=40).rest(3)
    t, r = tr.measure()
    eng = HoldEngine()
    events = []
    for i in range(0, t.size, 20):
        events += eng.feed(t[i : i + 20], r[i : i + 20])
    events += eng.finish()
    ended = next(e for e in events if e.kind == "hold_ended")
    frozen = [e for e in events if e.kind == "hold_progress" and e.suspect_end_s is not None]
    assert frozen and all(e.time_s < ended.time_s for e in frozen)
    last = frozen[-1]
    h = ended.hold
    assert last.suspect_end_s == pytest.approx(h.end_s, abs=0.05)
    assert last.elapsed_s == pytest.approx(h.duration_s, abs=0.05)
    assert last.mean_N == pytest.approx(h.mean_N, rel=0.002)
    assert last.cv_pct == pytest.approx(h.cv_pct, abs=0.05)
    assert last.drift_pct == pytest.approx(h.drift_pct, abs=0.1)
    # before the release, updates are live (not frozen)
    assert any(e.kind == "hold_progress" and e.suspect_end_s is None and e.time_s > h.start_s + 10 for e in events)


def test_a_tolerance_changed_mid_session_applies_from_then_on():
    tr = Trace(11).rest(3).hold(10, level=40).rest(3).hold(10, level=40).rest(3)
    t, r = tr.measure()
    change_at = tr.holds[1]["start_s"] - 2.0
    eng = HoldEngine(tolerance_n=60.0)
    events = []
    i = int(np.searchsorted(t, change_at))
    events += eng.feed(t[:i], r[:i])
    events += eng.configure(tolerance_n=35.0)
    events += eng.feed(t[i:], r[i:])
    events += eng.finish()
    assert len(eng.over_tolerance) == 1 and eng.over_tolerance[0].start_s > change_at
    offline = analyze_holds(t, r, tolerance_n=60.0, changes=[(change_at, {"tolerance_n": 35.0})])
    assert offline.events == events and offline.over_tolerance == eng.over_tolerance


def test_limits_changed_during_a_hold_apply_bin_by_bin():
    # the tolerance and band change 10 s into a 20 s hold at 40 N: the hold is over the new
    # tolerance, and out of the new band, only from then on
    tr = Trace(12).rest(3).hold(20, level=40).rest(3)
    t, r = tr.measure()
    at = tr.holds[0]["start_s"] + 10.0
    a = analyze_holds(t, r, tolerance_n=60.0, target_band_n=(30.0, 50.0),
                      changes=[(at, {"tolerance_n": 35.0, "target_band_n": (45.0, 55.0)})])
    (h,) = a.holds
    assert h.time_over_tolerance_s == pytest.approx(h.end_s - at, abs=0.3)
    assert h.time_in_target_s == pytest.approx(at - h.start_s, abs=0.3)
    assert "over_tolerance" in h.flags
