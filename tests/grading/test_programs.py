"""Grading sessions recorded with a training program: each trial judged against its targets,
constant, absolute and variable error per kind of trial (guided practice vs blind retention),
on the session's and the student's pages, in trials.csv and in the terminal tables."""

from __future__ import annotations

import csv

import pytest

from nmt_monitor.program import program_from_toml
from nmt_monitor.station import MockClock, SessionModel, recorder_factory
from nmt_monitor.storage import SessionMetadata

from tests.tui.synth import blocks, concat_traces, connected, hold_trace

PROGRAM = """
name = "guided then blind"
[defaults]
site = "upper trapezius L"
target_n = [30, 40]
hold_s = 20
rest_s = 5
[[block]]
feedback = "full"
repetitions = 3
[[block]]
feedback = "blind"
repetitions = 2
"""
#: (level N, hold s) of each trial: guided close to the targets (35 N, 20 s), blind off them
HOLDS = [(35.0, 20.0), (36.0, 21.0), (34.0, 20.0), (29.0, 15.0), (43.0, 26.0)]


@pytest.fixture(scope="module")
def program_session(tmp_path_factory):
    out = tmp_path_factory.mktemp("program")
    model = SessionModel(SessionMetadata(therapist="Ana", client="partner", tolerance_N=60.0), clock=MockClock())
    model.set_program(program_from_toml(PROGRAM, "p.toml"))
    model.start_recording(recorder_factory(out))
    t, f = concat_traces(*(hold_trace(level_n=lv, hold_s=hs, after_s=7.0, rate_hz=200.0, seed=i)
                           for i, (lv, hs) in enumerate(HOLDS)))
    model.ingest([connected()] + blocks(t, f))
    return model.detach_recorder().finish()


def test_trials_are_judged_with_constant_absolute_and_variable_error(program_session):
    from nmt_monitor.grading import default_rubric
    from nmt_monitor.grading.scoring import score_session
    from nmt_monitor.loaders import load_recording

    g = score_session(default_rubric(), load_recording(str(program_session)))
    assert g.program == "guided then blind"
    assert [(t.trial, t.kind, t.feedback, t.hold) for t in g.trials] == [
        (1, "practice", "full", 1), (2, "practice", "full", 2), (3, "practice", "full", 3),
        (4, "retention", "blind", 4), (5, "retention", "blind", 5)]
    assert [h.trial for h in g.holds] == ["1 practice", "2 practice", "3 practice", "4 retention", "5 retention"]
    practice, retention = g.motor()
    assert (practice.kind, practice.trials, practice.held) == ("practice", 3, 3)
    # force errors against 35 N: +0, +1, -1 (guided) and -6, +8 (blind)
    assert practice.force_ce_N == pytest.approx(0.0, abs=0.1)
    assert practice.force_ae_N == pytest.approx(2 / 3, abs=0.1)
    assert practice.force_ve_N == pytest.approx((2 / 3) ** 0.5, abs=0.1)
    assert retention.force_ce_N == pytest.approx(1.0, abs=0.1)
    assert retention.force_ae_N == pytest.approx(7.0, abs=0.1) and retention.force_ve_N == pytest.approx(7.0, abs=0.1)
    # hold time against 20 s: blind holds of 15 and 26 s
    assert retention.time_ce_s == pytest.approx(0.5, abs=0.2) and retention.time_ae_s == pytest.approx(5.5, abs=0.2)
    assert practice.time_ae_s < 1.0 < retention.time_ae_s


def test_report_and_tables_show_guided_vs_blind(program_session, tmp_path, capsys):
    from nmt_monitor.cli import main

    rep = tmp_path / "rep"
    assert main(["grade", str(program_session), "--report", str(rep), "--jobs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Training programs: guided practice vs blind retention" in out
    assert "Ana: guided practice" in out and "Ana: retention (blind)" in out
    student = (rep / "students" / "Ana.html").read_text(encoding="utf-8")
    assert "Guided vs blind" in student and "retention (blind)" in student and "force VE N" in student
    (session_page,) = (rep / "sessions").glob("*.html")
    page = session_page.read_text(encoding="utf-8")
    assert "Training program: guided then blind" in page and 'href="#hold4"' in page
    with open(rep / "trials.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["kind"] for r in rows] == ["practice"] * 3 + ["retention"] * 2
    assert float(rows[3]["force_error_N"]) == pytest.approx(-6.0, abs=0.2) and rows[3]["feedback"] == "blind"


def test_control_characters_from_a_file_never_reach_the_terminal(program_session, tmp_path):
    """A session from elsewhere whose trial kind and student carry terminal escapes (clear the
    screen, retitle the window): the tables show them as '?', not as escapes the terminal runs."""
    import shutil

    import h5py

    from tests.cli import run_cli

    path = tmp_path / "from-elsewhere.h5"
    shutil.copyfile(program_session, path)
    with h5py.File(path, "r+") as f:
        g = f["intervals/trials"]
        n = g["kind"].shape[0]
        del g["kind"]
        g.create_dataset("kind", data=["\x1b[2Jevil"] * n, dtype=h5py.string_dtype())
        f["general/session"].attrs["therapist"] = "\x1b]0;pwned\x07Ana"
    r = run_cli("grade", path, "--jobs", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "?[2Jevil" in r.stdout and "?]0;pwned?Ana" in r.stdout
