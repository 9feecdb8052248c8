"""The rubric: shipped defaults, every field documented, malformed files named field by field."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from nmt_monitor.grading.rubric import RubricError, default_rubric, default_rubric_text, load_rubric, rubric_from_toml

DOCS = Path(__file__).resolve().parents[2] / "docs" / "grading.md"


def test_defaults_load_and_are_package_data():
    r = default_rubric()
    assert r.name == "default"
    assert sum(r.weights.values()) == pytest.approx(1.0)
    assert r.hold_params().drift_limit_pct == r.drift.limit_pct


def test_every_field_is_documented():
    doc = DOCS.read_text(encoding="utf-8")
    data = tomllib.loads(default_rubric_text())
    for key, value in data.items():
        if isinstance(value, dict):
            assert f"[{key}]" in doc, key
            for sub in value:
                assert re.search(rf"`{re.escape(sub)}`", doc), f"{key}.{sub} not in docs/grading.md"
        else:
            assert f"`{key}`" in doc, key


def test_partial_file_overrides_only_its_fields(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text('name = "strict"\n[steadiness]\ncv_limit_pct = 3.0\n[over_tolerance]\nmode = "fail"\n'
                 '[engine]\nmin_hold_s = 8.0\n')
    r = load_rubric(p)
    assert r.name == "strict" and r.steadiness.cv_limit_pct == 3.0 and r.over_tolerance.mode == "fail"
    assert r.steadiness.window_s == default_rubric().steadiness.window_s
    assert r.hold_params().min_hold_s == 8.0


@pytest.mark.parametrize("text, field", [
    ("[steadiness]\ncv_limit_pct = 'five'\n", "steadiness.cv_limit_pct"),
    ("[steadiness]\ncv_limit_pct = -1\n", "steadiness.cv_limit_pct"),
    ("[target]\nband_N = [50, 30]\n", "target.band_N"),
    ("[target]\nband_N = [30]\n", "target.band_N"),
    ("[target]\nsource = 'guess'\n", "target.source"),
    ("[duration]\nmin_s = 40\nmax_s = 30\n", "duration.max_s"),
    ("[duration]\nuse_session_target = 'yes'\n", "duration.use_session_target"),
    ("[ramp_in]\nmax_s = 0\n", "ramp_in.max_s"),
    ("[over_tolerance]\nmode = 'warn'\n", "over_tolerance.mode"),
    ("[weights]\ntarget = 0\nduration = 0\nsteadiness = 0\ndrift = 0\nramp = 0\n", "weights"),
    ("[weights]\nstyle = 1.0\n", "weights.style"),
    ("[drift]\nlimt_pct = 5\n", "drift.limt_pct"),
    ("[progress]\nmin_sessions = 1\n", "progress.min_sessions"),
    ("[engine]\nmin_hold = 5\n", "engine.min_hold"),
    ("[engine]\nmin_hold_s = -5\n", "engine.min_hold_s"),
    ("colour = 'red'\n", "colour"),
    ("pass_score = 120\n", "pass_score"),
    ("steadiness = 5\n", "steadiness"),
])
def test_malformed_rubric_names_the_field(text, field):
    with pytest.raises(RubricError) as exc:
        rubric_from_toml(text, "bad.toml")
    msg = str(exc.value)
    assert msg.startswith(f"bad.toml: {field}:"), msg
    assert "\n" not in msg


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(RubricError, match="bad.toml: not valid TOML"):
        rubric_from_toml("[steadiness\n", "bad.toml")
    with pytest.raises(RubricError, match="no such rubric file"):
        load_rubric(tmp_path / "nope.toml")


def test_cli_one_line_error(tmp_path, cohort):
    p = tmp_path / "bad.toml"
    p.write_text("[drift]\nlimit_pct = 'lots'\n")
    r = subprocess.run([sys.executable, "-m", "nmt_monitor", "grade", str(cohort), "--rubric", str(p)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "drift.limit_pct" in lines[0] and "bad.toml" in lines[0], r.stderr
