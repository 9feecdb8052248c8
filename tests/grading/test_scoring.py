"""Scores on a simulated class: known-good students clearly above known-bad ones."""

from __future__ import annotations

import numpy as np
import pytest

from nmt_monitor.grading import default_rubric, rubric_from_toml, score_session
from nmt_monitor.grading.scoring import band_credit, upper_credit
from nmt_monitor.loaders import load_recording

BAD = ("student drifting", "student short", "student over_tolerance", "student unsteady")


def test_credit_functions_give_partial_credit_for_near_misses():
    # band 30..45, 10 % margin: 27 N (3 below, margin 3) -> 0; 28.5 -> 0.5; 46 -> 1 - 1/4.5
    c = band_credit([20, 27, 28.5, 30, 40, 45, 46, 60], 30, 45, 10)
    assert c.tolist() == pytest.approx([0, 0, 0.5, 1, 1, 1, 1 - 1 / 4.5, 0])
    assert upper_credit([3, 4, 5, 6, 7], 4, 50).tolist() == pytest.approx([1, 1, 0.5, 0, 0])
    assert band_credit([29.9], 30, 45, 0).tolist() == [0.0]  # no margin: a step


def test_good_students_score_clearly_above_bad_ones(graded):
    rubric, sessions, students = graded
    good = students["student good"]
    assert good.mean >= 95 and all(s.passed for s in good.sessions)
    for name in BAD:
        bad = students[name]
        assert bad.mean <= good.mean - 15, (name, bad.mean, good.mean)
        assert not any(s.passed for s in bad.sessions), name
        # every session of the good student beats every session of a bad one
        assert min(good.scores) > max(bad.scores), name
    # the order of the class: good above every bad profile; over tolerance is the worst
    ranking = sorted(students.values(), key=lambda s: -s.mean)
    assert ranking[0].name == "student good"
    assert ranking[-1].name == "student over_tolerance"


def test_each_bad_profile_loses_on_its_own_sub_skill(graded):
    _, sessions, students = graded

    def mean_sub(name, key):
        vals = [s.subskill_means()[key] for s in students[name].sessions]
        return float(np.mean(vals))

    assert mean_sub("student drifting", "drift") < 0.6
    assert mean_sub("student short", "duration") < 0.2
    assert mean_sub("student unsteady", "steadiness") < 0.5
    assert mean_sub("student over_tolerance", "target") < 0.2
    over = students["student over_tolerance"].sessions[0]
    assert all(h.penalty > 0 and h.time_over_tolerance_s > 10 for h in over.holds)
    for key in ("target", "duration", "steadiness", "drift"):
        assert mean_sub("student good", key) > 0.95


def test_improvement_is_detected(graded):
    rubric, _, students = graded
    imp = students["student improving"]
    assert imp.scores == sorted(imp.scores) and imp.last - imp.first > 20
    assert imp.improving is True and imp.trend >= rubric.progress.improving_points_per_session
    for name in ("student good", "student short", "student over_tolerance"):
        assert students[name].improving is False


def test_sessions_in_time_order(graded):
    _, _, students = graded
    for st in students.values():
        epochs = [s.start_epoch_s for s in st.sessions]
        assert epochs == sorted(epochs) and len(epochs) == 3


def test_fail_mode_zeroes_holds_over_tolerance(cohort):
    strict = rubric_from_toml('[over_tolerance]\nmode = "fail"\n', "strict.toml")
    rec = load_recording(str(cohort / "student-over_tolerance" / "week1.h5"))
    g = score_session(strict, rec)
    assert g.holds and all(h.failed and h.composite == 0 for h in g.holds) and g.score == 0
    good = score_session(strict, load_recording(str(cohort / "student-good" / "week1.h5")))
    assert good.score >= 95


def test_band_from_tolerance_and_fixed_newtons(cohort):
    rec = load_recording(str(cohort / "student-good" / "week1.h5"))
    pct = score_session(rubric_from_toml('[target]\nsource = "tolerance"\nband_pct_of_tolerance = [80, 95]\n'), rec)
    assert pct.band_N == pytest.approx((48.0, 57.0)) and pct.band_source == "tolerance"
    assert pct.subskill_means()["target"] < 0.2  # holds at 35-40 N are far below 48 N
    fixed = score_session(rubric_from_toml('[target]\nsource = "newtons"\nband_N = [34, 42]\n'), rec)
    assert fixed.band_N == (34.0, 42.0) and fixed.subskill_means()["target"] > 0.8


def test_csv_recording_without_metadata(tmp_path, cohort):
    rec = load_recording(str(cohort / "student-good" / "week1.h5"))
    p = tmp_path / "plain.csv"
    np.savetxt(p, np.c_[rec.time_s, rec.force_n], delimiter=",", header="time_s,force_N", comments="", fmt="%.4f")
    g = score_session(default_rubric(), load_recording(str(p)))
    assert g.student == "(unknown)" and g.band_N is None and g.tolerance_N is None
    assert all(h.scores["target"] is None for h in g.holds) and g.holds
    assert any("no target band" in n for n in g.notes)
    assert g.score > 90  # weights renormalised over the sub-skills that apply
