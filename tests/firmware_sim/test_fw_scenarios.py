import json

import numpy as np
import pytest

from firmware_sim.scenarios import list_scenarios, load_scenario, scenario_from_toml

REQUIRED = {"steady", "drifting", "over_tolerance", "alternating", "gliding", "pokes", "demo", "mixed"}


def smooth(x, rate, seconds=0.5):
    k = max(1, int(rate * seconds))
    return np.convolve(x, np.ones(k) / k, mode="same")


def test_builtins_present():
    assert REQUIRED <= set(list_scenarios())


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_render_reproducible_and_truth_consistent(name):
    sc = load_scenario(name)
    rate = 200.0
    a = sc.render(rate, 7)
    b = sc.render(rate, 7)
    assert np.array_equal(a.force_n, b.force_n)
    assert a.ground_truth == b.ground_truth
    assert not np.array_equal(a.force_n, sc.render(rate, 8).force_n)
    g = a.ground_truth
    json.dumps(g)
    assert g["scenario"] == name and g["seed"] == 7 and g["rate_hz"] == rate
    assert 60 <= g["duration_s"] <= 180
    assert a.time_s[0] == 0.0 and np.allclose(np.diff(a.time_s), 1 / rate)
    assert a.time_s.dtype == np.float64 and a.force_n.dtype == np.float64
    assert abs(a.time_s.size / rate - g["duration_s"]) <= 1 / rate
    f = smooth(a.force_n, rate)
    for h in g["holds"]:
        assert h["end_s"] - h["start_s"] >= 5
        assert 5 <= h["level_n"] <= 150
        assert h["drifting"] == (abs(h["drift_pct"]) >= 10)
        i0, i1 = int((h["start_s"] + 0.5) * rate), int((h["end_s"] - 0.5) * rate)
        tol = 0.4 * h["level_n"] if h["drifting"] else 0.15 * h["level_n"]
        assert np.all(np.abs(f[i0:i1] - h["level_n"]) < tol)
    for o in g["over_tolerance"]:
        assert o["peak_n"] > g["tolerance_n"]
        i0, i1 = int(o["start_s"] * rate) + 1, int(o["end_s"] * rate) - 1
        assert np.all(a.intended_n[i0:i1] > g["tolerance_n"])
    # outside over-tolerance intervals the intended force is below tolerance
    if g["tolerance_n"] is not None:
        mask = np.ones(a.time_s.size, bool)
        for o in g["over_tolerance"]:
            mask[int(o["start_s"] * rate) - 1:int(o["end_s"] * rate) + 2] = False
        assert np.all(a.intended_n[mask] <= g["tolerance_n"])


def test_truth_independent_of_rate():
    sc = load_scenario("demo")
    g1, g2 = sc.render(100, 3).ground_truth, sc.render(1000, 3).ground_truth
    g1.pop("rate_hz"), g2.pop("rate_hz")
    assert g1 == g2


def test_drifting_holds_flagged():
    for seed in range(5):
        holds = load_scenario("drifting").render(100, seed).ground_truth["holds"]
        assert sum(h["drifting"] for h in holds) == 3
        assert all(-40 < h["drift_pct"] < 0 for h in holds if h["drifting"])
    for seed in range(5):
        assert not any(h["drifting"] for h in load_scenario("steady").render(100, seed).ground_truth["holds"])


def test_over_tolerance_has_clear_events_and_one_hover():
    for seed in range(5):
        g = load_scenario("over_tolerance").render(100, seed).ground_truth
        tol = g["tolerance_n"]
        assert len(g["over_tolerance"]) == 4
        peaks = sorted(o["peak_n"] / tol for o in g["over_tolerance"])
        assert 1.0 < peaks[0] < 1.04  # the hover
        assert all(p >= 1.05 for p in peaks[1:])
        assert all(o["end_s"] - o["start_s"] >= 0.3 for o in g["over_tolerance"])


def test_alternating_steps_without_release():
    g = load_scenario("alternating").render(100, 1).ground_truth
    holds = g["holds"]
    assert len(holds) == 8
    for a, b in zip(holds[:3], holds[1:4]):
        assert b["start_s"] - a["end_s"] < 1.5  # stepped, not released
        assert abs(b["level_n"] / a["level_n"] - 1) >= 0.25


def test_non_holds_kinds():
    assert {n["kind"] for n in load_scenario("gliding").render(100, 0).ground_truth["non_holds"]} == {"glide"}
    assert {n["kind"] for n in load_scenario("pokes").render(100, 0).ground_truth["non_holds"]} == {"poke"}


def test_hand_has_tremor_in_band():
    run = load_scenario("steady").render(500, 2)
    h = run.ground_truth["holds"][0]
    i0, i1 = int(h["start_s"] * 500), int(h["end_s"] * 500)
    x = run.force_n[i0:i1] - run.intended_n[i0:i1]
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / 500)
    band = spec[(freqs >= 8) & (freqs <= 12)].sum()
    high = spec[(freqs > 15)].sum()
    assert band > 10 * high
    cv = np.std(run.force_n[i0:i1]) / np.mean(run.force_n[i0:i1]) * 100
    assert 0.8 < cv < 6


def test_custom_file_and_errors(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text('name = "mine"\ntolerance_n = 50\n[[segments]]\nkind = "hold"\nlevel_n = [20, 30]\nhold_s = 10\n'
                 'rest_s = 2\n')
    run = load_scenario(str(p)).render(100, 0)
    assert run.ground_truth["scenario"] == "mine" and len(run.ground_truth["holds"]) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('[[segments]]\nkind = "hold"\nlevel_n = "heavy"\nhold_s = 10\n')
    with pytest.raises(ValueError, match="level_n"):
        load_scenario(bad)
    with pytest.raises(ValueError, match="hold_s"):
        scenario_from_toml('[[segments]]\nkind = "hold"\nlevel_n = 20\nhold_s = 2\n')
    with pytest.raises(ValueError, match="wobble"):
        scenario_from_toml('[[segments]]\nkind = "hold"\nlevel_n = 20\nhold_s = 6\nwobble = 1\n')
    with pytest.raises(ValueError, match="kind"):
        scenario_from_toml('[[segments]]\nkind = "squeeze"\n')
    with pytest.raises(ValueError, match="nonexistent"):
        load_scenario("nonexistent")
