"""The corpus generators model what docs/corpus.md says they model, and their truth is consistent.

These test the generators, not the hold engine (benchmarks/bench_accuracy.py scores the engine).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.realistic import blocks, scoring
from tests.realistic.builder import Session
from tests.realistic.sessions import CONDITIONS

SEED = 7


@pytest.fixture(scope="module")
def sessions():
    return {name: gen(SEED) for name, gen in CONDITIONS.items()}


def _psd(x: np.ndarray, fs: float, nseg: int = 4096):
    """Welch-style averaged periodogram with a Hann window (NumPy only)."""
    win = np.hanning(nseg)
    segs = [x[i:i + nseg] for i in range(0, x.size - nseg + 1, nseg // 2)]
    p = np.mean([np.abs(np.fft.rfft((s - s.mean()) * win)) ** 2 for s in segs], axis=0)
    return np.fft.rfftfreq(nseg, 1.0 / fs), p


def test_pink_noise_has_a_1_over_f_spectrum_below_4_hz_and_falls_faster_above():
    fs = 100.0
    x = blocks.pink_noise(2 ** 17, fs, np.random.default_rng(1))
    assert x.std() == pytest.approx(1.0)
    f, p = _psd(x, fs)
    band = (f >= 0.1) & (f <= 3.0)
    slope = np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]
    assert -1.3 < slope < -0.7
    high = (f >= 6.0) & (f <= 30.0)
    assert np.polyfit(np.log(f[high]), np.log(p[high]), 1)[0] < -2.0


def test_tremor_peaks_between_8_and_12_hz():
    x, f_c = blocks.tremor(2 ** 16, 1000.0, np.random.default_rng(2))
    f, p = _psd(x, 1000.0, nseg=8192)
    assert 8.0 <= f_c <= 12.0
    assert abs(f[np.argmax(p)] - f_c) < 1.0


def test_minimum_jerk_profile_and_its_inverse():
    assert blocks.minjerk(0.0) == 0.0 and blocks.minjerk(1.0) == 1.0
    assert blocks.minjerk(0.5) == pytest.approx(0.5)
    tau = np.linspace(0, 1, 101)
    assert np.all(np.diff(blocks.minjerk(tau)) >= 0)
    assert blocks.minjerk_inverse(0.98) == pytest.approx(0.8647, abs=1e-3)


def test_steady_hold_cv_is_in_the_published_range_and_larger_at_low_force():
    """CV 1.7-5 % at moderate force (Taylor 2003), larger at low force (Enoka 2003)."""
    cvs = {}
    for level in (4.0, 40.0):
        rng = np.random.default_rng(3)
        s = Session(rng=rng, a_n=0.12, b_rel=0.025)
        s.lift(2.0)
        s.plateau(level, 30.0, ramp_s=1.0)
        s.release(0.0, 0.5)
        s.lift(2.0)
        r = s.render(check_drift=False)
        h = r.holds[0]
        cvs[level] = h["cv_pct_observed"]
    assert 1.7 <= cvs[40.0] <= 5.0
    assert cvs[4.0] > 1.5 * cvs[40.0]


def test_resting_hand_wanders_with_a_cv_of_10_to_20_percent_over_5_s():
    rng = np.random.default_rng(4)
    s = Session(rng=rng, cv_rest=0.13)
    s.lift(2.0)
    s.place_hand(3.0)
    s.rest_hand(60.0)
    s.lift_hand()
    s.lift(2.0)
    r = s.render()
    rest = r.voluntary[int(3 * blocks.FS):int(62 * blocks.FS)]
    w = int(5 * blocks.FS)
    cv = [100 * rest[i:i + w].std() / rest[i:i + w].mean() for i in range(0, rest.size - w, w)]
    assert 9.0 <= float(np.median(cv)) <= 21.0
    assert 2.0 <= float(rest.mean()) <= 4.0


def test_drift_of_the_noise_free_hold_is_clear_of_the_10_percent_limit(sessions):
    n_drift = n_steady = 0
    for name, (_t, _f, _u, truth) in sessions.items():
        for h in truth["holds"]:
            if h["drifting"]:
                n_drift += 1
                assert abs(h["drift_pct"]) >= 14.0 and abs(h["drift_pct_observed"]) >= 12.0, (name, h)
            else:
                n_steady += 1
                assert abs(h["drift_pct"]) <= 5.0 and abs(h["drift_pct_observed"]) <= 7.5, (name, h)
    assert n_drift > 5 and n_steady > 5


def test_truth_is_consistent(sessions):
    for name, (t, f, unit, truth) in sessions.items():
        assert unit in ("N", "kgf", "lbf") and truth["condition"] == name
        assert t.size == f.size and np.all(np.isfinite(t)) and np.all(np.isfinite(f))
        assert np.all(np.diff(t) >= 0), name
        assert 60.0 <= truth["duration_s"] <= 240.0
        holds = truth["holds"]
        assert holds, name
        for h in holds:
            assert t[0] <= h["start_s"] < h["end_s"] <= t[-1], (name, h)
            assert h["end_s"] - h["start_s"] >= 6.0 * truth["time_map"]["scale"] - 1e-6
            assert h["level_N"] >= 3.0
        for a, b in zip(holds, holds[1:]):
            assert a["end_s"] <= b["start_s"], name
        eps = truth["over_tolerance"]
        if eps:
            assert truth["tolerance_N"] is not None
        for e in eps:
            assert t[0] <= e["start_s"] < e["end_s"] <= t[-1]
            assert e["end_s"] - e["start_s"] >= 0.3 - 1e-6
        for a, b in zip(eps, eps[1:]):
            assert a["end_s"] < b["start_s"]


def test_recorded_force_matches_the_truth_in_the_files_own_clock(sessions):
    """Within a hold the file reads about the hold level (+ zero); shortly after a release it has
    fallen: the truth is in the file's time axis, whatever the instrument."""
    for name in ("clean_typical", "gauge_10_25hz", "hx711", "host_clock_bursts", "repeaters_kg_88hz", "heavy_elbow"):
        t, f, unit, truth = sessions[name]
        f_n = f * blocks.UNIT_SCALE[unit]
        zero = truth["zero"]["zero_start_N"]
        for h in truth["holds"]:
            inside = (t >= h["start_s"] + 1.0) & (t <= h["end_s"] - 1.0)
            level = float(np.median(f_n[inside])) - zero
            assert abs(level - h["level_N"]) <= 0.15 * h["level_N"] + 1.2, (name, h, level)
            if h["ends_by"] == "release":
                after = (t >= h["end_s"] + 2.2) & (t <= h["end_s"] + 2.6)
                assert np.median(f_n[after]) - zero < 0.5 * h["level_N"], (name, h)


def test_host_stamps_are_non_decreasing_with_repeated_stamps_and_stalls():
    rng = np.random.default_rng(5)
    emit = np.arange(0, 60, 1 / 500.0)
    st = blocks.host_stamps(emit, 9, rng, 115200, 0.001, stalls_per_minute=5.0)
    d = np.diff(st)
    assert np.all(d >= 0)
    assert np.mean(d == 0) > 0.5        # lines of one USB packet share a stamp
    assert d.max() >= 0.03              # a stall
    st = blocks.host_stamps(emit, 9, rng, 115200, 0.015625, stalls_per_minute=0.0)
    assert np.allclose(np.round(st / 0.015625), st / 0.015625)


def test_gauges_quantise_to_their_display_resolution_in_their_unit():
    t = np.arange(0, 20, 1e-3)
    f = 20 + 5 * np.sin(t)
    for unit, res in (("N", 0.1), ("lbf", 0.01), ("kgf", 0.001)):
        ts, val = blocks.gauge(t, f, np.random.default_rng(6), 10.0, unit, res)
        k = val / res
        assert np.allclose(k, np.round(k), atol=1e-6)
        assert 9.9 < 1 / np.median(np.diff(ts)) < 10.1
        # averaged over the output period: the sine's mean over 0.1 s, not a point sample
        assert np.max(np.abs(val * blocks.UNIT_SCALE[unit] - (20 + 5 * np.sin(ts - 0.05)))) < res * 5 + 0.05


def test_conditions_model_what_they_say(sessions):
    lh = sessions["light_holds"][3]
    assert all(3.0 <= h["level_N"] <= 8.5 for h in lh["holds"])
    heavy = sessions["heavy_elbow"][3]
    assert all(90.0 <= h["level_N"] <= 160.0 for h in heavy["holds"])
    assert 5.0 <= sessions["offset_positive"][3]["zero"]["offset_N"] <= 20.0
    assert -20.0 <= sessions["offset_negative"][3]["zero"]["offset_N"] <= -5.0
    assert sessions["midsession_tare"][3]["zero"]["tares"]
    assert sessions["over_tolerance"][3]["over_tolerance"]
    assert sessions["resting_hand"][3]["resting_hand"]
    t, f, unit, rep = sessions["repeaters_kg_88hz"]
    assert unit == "kgf" and 85.0 < 1 / np.median(np.diff(t)) < 90.0 and np.all(np.diff(t) > 0)
    assert 6.0 <= rep["zero"]["rig_weight_N"] <= 7.0
    t, f, unit, g = sessions["gauge_10_25hz"]
    assert g["instrument"]["rate_hz"] in (10.0, 20.0, 25.0)
    kinds = {o["kind"] for o in sessions["pumping_gliding_pokes"][3]["other"]}
    assert kinds & {"pumping", "glide", "glide_continuous", "poke"}


def test_generators_are_deterministic():
    a = CONDITIONS["steps"](3)
    b = CONDITIONS["steps"](3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[3] == b[3]


def test_scoring_rules():
    true = [{"start_s": 0.0, "end_s": 10.0, "drifting": False, "drift_pct": 0.0},
            {"start_s": 20.0, "end_s": 30.0, "drifting": True, "drift_pct": -20.0}]
    # the second true hold is split in two parts of IoU 0.45 each: neither matches
    det = [{"start_s": 0.1, "end_s": 10.2, "drifting": False}, {"start_s": 19.0, "end_s": 25.0, "drifting": True},
           {"start_s": 25.5, "end_s": 30.0, "drifting": True}]
    ot_true = [{"start_s": 5.0, "end_s": 6.0}]
    ot_det = [{"start_s": 6.15, "end_s": 6.5}, {"start_s": 5.0, "end_s": 5.9}]
    s = scoring.score_file({"holds": true, "over_tolerance": ot_true}, det, ot_det)
    assert s.holds_matched == 1 and s.onset_errors_s == [pytest.approx(0.1)] and len(s.false) == 2
    summ = scoring.summarize([s])
    assert s.ot_matched == 1 and summ["ot_precision"] == 0.5 and summ["ot_recall"] == 1.0
    r = scoring.score_file({"holds": true, "over_tolerance": ot_true}, None, None, refused=True)
    assert scoring.summarize([r])["recall"] == 0.0 and r.refused
