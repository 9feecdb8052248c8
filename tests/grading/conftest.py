"""A simulated class, made once per test session: six students of known quality, three sessions each."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def cohort(tmp_path_factory):
    from nmt_monitor.grading.simulate import make_cohort

    root = tmp_path_factory.mktemp("cohort")
    make_cohort(root, sessions=3, rate_hz=200.0)
    return root


@pytest.fixture(scope="session")
def graded(cohort):
    from nmt_monitor.grading import default_rubric
    from nmt_monitor.grading.batch import grade_paths

    rubric = default_rubric()
    sessions, students = grade_paths([str(cohort)], rubric, jobs=2)
    return rubric, sessions, {s.name: s for s in students}


@pytest.fixture(scope="session")
def report(cohort, tmp_path_factory):
    """The class's HTML report (`grade --report`), made once."""
    from nmt_monitor.cli import main

    out = tmp_path_factory.mktemp("report") / "rep"
    rc = main(["grade", str(cohort), "--report", str(out), "--jobs", "2", "--no-progress"])
    assert rc == 0
    return out
