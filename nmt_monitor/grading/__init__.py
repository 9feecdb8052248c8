"""Grading students' holds: a TOML rubric, scores per hold, session and student, reports.

    from nmt_monitor.grading import load_rubric, grade_paths, write_report

docs/grading.md documents the rubric fields and the scoring formula.
"""

from nmt_monitor.grading.rubric import Rubric, RubricError, default_rubric, load_rubric, rubric_from_toml
from nmt_monitor.grading.scoring import (
    HoldGrade,
    SessionGrade,
    StudentGrade,
    grade_students,
    score_session,
)

__all__ = [
    "HoldGrade", "Rubric", "RubricError", "SessionGrade", "StudentGrade", "default_rubric", "grade_students",
    "load_rubric", "rubric_from_toml", "score_session",
]
