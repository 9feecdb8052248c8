"""The fair rules of docs/grading.md, and what the gradebook files say (read as a user would,
with csv.DictReader)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from nmt_monitor.grading import default_rubric, grade_students, score_session
from nmt_monitor.grading.scoring import progress_label
from nmt_monitor.loaders import Recording


def _recording(force: np.ndarray, rate: float = 100.0, **meta) -> Recording:
    t = np.arange(force.size) / rate
    rng = np.random.default_rng(1)
    f = force + rng.normal(0, 0.05, force.size)
    return Recording(source=meta.pop("source", "x.csv"), time_s=t, force_n=f, tolerance_n=60.0,
                     target_band_n=(30.0, 45.0), metadata={"therapist": "Ana", "target_hold_s": 20.0, **meta},
                     attrs={"session_start_epoch_s": meta.get("epoch", 1.77e9)})


def _hold_profile(hold_s: float, after_s: float, rate: float = 100.0, level: float = 38.0) -> np.ndarray:
    """2 s rest, a 1.5 s ramp, a hold of ``hold_s``, then ``after_s`` of release and rest (0: the
    recording stops while the hold goes on)."""
    rest = np.full(int(2 * rate), 1.0)
    ramp = np.linspace(1.0, level, int(1.5 * rate))
    hold = np.full(int(hold_s * rate), level)
    out = [rest, ramp, hold]
    if after_s:
        out += [np.linspace(level, 1.0, int(1.0 * rate)), np.full(int(after_s * rate), 1.0)]
    return np.concatenate(out)


def test_a_hold_cut_off_by_the_recording_is_not_judged_on_duration():
    rubric = default_rubric()
    cut = score_session(rubric, _recording(_hold_profile(10.0, 0.0)))
    (h,) = cut.holds
    assert h.cut_off and "incomplete" in h.flags
    assert h.scores["duration"] is None and any("duration not judged" in n for n in h.notes)
    assert h.composite > 90  # steady, in the band: the recording stopping early is no fault
    # the same 10 s hold, released: too short, and judged so
    (short,) = score_session(rubric, _recording(_hold_profile(10.0, 4.0))).holds
    assert not short.cut_off and short.scores["duration"] < 0.05 and short.composite < h.composite - 20
    # cut off after the target time: at least that long, so duration is judged (in the window)
    (long_,) = score_session(rubric, _recording(_hold_profile(30.0, 0.0))).holds
    assert long_.cut_off and long_.scores["duration"] == 1.0


def test_a_session_without_holds_is_not_graded_and_does_not_drag_the_trend():
    rubric = default_rubric()
    good = [score_session(rubric, _recording(_hold_profile(25.0, 4.0), epoch=1.77e9 + k * 86400.0))
            for k in range(3)]
    test = score_session(rubric, _recording(np.full(500, 1.0), epoch=1.77e9 + 3 * 86400.0))  # 5 s, no hold
    assert test.score is None and test.passed is None and any("not graded" in n for n in test.notes)
    (st,) = grade_students(rubric, good + [test])
    assert len(st.sessions) == 4 and len(st.graded_sessions) == 3
    assert st.mean == pytest.approx(np.mean([s.score for s in good]))
    assert st.progress == "steady at the top" and st.improving is False
    zero = default_rubric().__class__(**{**default_rubric().__dict__, "no_holds": "zero"})
    assert score_session(zero, _recording(np.full(500, 1.0))).score == 0.0


@pytest.mark.parametrize("scores, label", [
    ([80], "too few sessions"),
    ([100, 100, 100, 100], "steady at the top"),
    ([63, 91, 100], "improving"),
    ([90, 80, 70], "declining"),
    ([80, 81, 80, 82], "steady"),
    ([60, 95, 55, 90], "unclear"),
    ([70, 80], "improving"),  # two sessions: the slope alone
])
def test_progress_labels(scores, label):
    got, slope, se = progress_label(default_rubric(), scores)
    assert got == label, (scores, got, slope, se)
    if len(scores) >= 3:
        assert se is not None and se >= 0


def test_setup_changed_while_recording_is_graded_from_its_time_on(tmp_path):
    from tests.storage.test_settings_changes import CHANGE_AT, _record

    from nmt_monitor.loaders import load_recording

    rec = load_recording(str(_record(tmp_path)))
    g = score_session(default_rubric(), rec)
    assert g.student == "Zoë Müller"  # typed after recording started, not "(unknown)"
    assert g.tolerance_N == 60.0 and any("tolerance_N 60 → 35" in n for n in g.notes)
    (h,) = [h for h in g.holds if h.start_s < CHANGE_AT < h.end_s]
    # over tolerance only from the change on (the hold at 40 N was under 60 N before it)
    assert 0 < h.time_over_tolerance_s <= h.end_s - CHANGE_AT + 0.1
    assert h.tolerance_N == 60.0 and h.penalty > 0


@pytest.mark.slow  # renders a report with pictures
def test_score_columns_have_names_of_their_own(cohort, tmp_path, capsys):
    from nmt_monitor.cli import main

    out = tmp_path / "r"
    assert main(["grade", str(cohort / "student-drifting"), str(cohort / "student-good"), "--report", str(out),
                 "--no-progress"]) == 0
    with open(out / "holds.csv", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert len(header) == len(set(header))
    holds = list(csv.DictReader((out / "holds.csv").open(encoding="utf-8")))
    drifting = [h for h in holds if h["student"] == "student drifting"]
    assert all(float(h["drift_pct"]) < -10 for h in drifting)  # the measurement
    assert all(0 <= float(h["drift_score"]) < 80 for h in drifting)  # the sub-skill score
    assert {h["flags"] for h in holds if h["student"] == "student good"} == {"none"}
    book = list(csv.DictReader((out / "gradebook.csv").open(encoding="utf-8")))
    for key in ("target_score", "duration_score", "steadiness_score", "drift_score", "ramp_score"):
        assert all(0 <= float(r[key]) <= 100 for r in book), key
    assert not any(k.endswith("_pct") for k in book[0])
    page = next((out / "sessions").glob("student-good-week1*.html")).read_text(encoding="utf-8")
    assert "<th>drift %</th>" in page and "<th>drift score</th>" in page and ">none</td>" in page
    printed = capsys.readouterr().out
    assert "drift score" in printed and " none" in printed
