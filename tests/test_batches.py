"""Batches go on: ``analyze DIR`` and ``grade DIR`` name each file they cannot read (one line on
stderr), finish the others, and say so in the exit code (0 all used, 1 some skipped, 2 none)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from tests.cli import run_cli

REPO = Path(__file__).resolve().parents[1]
# the shipped examples, by name: recordings/ is where a user's own sessions go, never listed
EXAMPLES = [REPO / "recordings" / f"{name}.h5" for name in ("example-steady", "example-drifting",
                                                           "example-over-tolerance")]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Three good sessions and two bad files in nested folders."""
    d = tmp_path_factory.mktemp("mixed")
    (d / "week2").mkdir()
    for i, src in enumerate(EXAMPLES):
        shutil.copyfile(src, (d if i else d / "week2") / src.name)
    (d / "week2" / "notes.h5").write_text("not a session\n")
    (d / "broken.csv").write_text("time_s,force_N\n0,1\n0.1,abc\n")
    return d


def _stderr_lines(result) -> list[str]:
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()


def test_analyze_csv_skips_bad_files_and_finishes_the_rest(mixed):
    r = run_cli("analyze", mixed, "--csv", "--jobs", "2")
    assert r.returncode == 1
    *errors, summary = _stderr_lines(r)
    assert len(errors) == 2
    assert any("broken.csv" in e and "line 3" in e for e in errors)
    assert any("notes.h5" in e and "not a readable HDF5 file" in e for e in errors)
    assert summary == "nmt-monitor: analysed 3 of 5 files; skipped 2 (named above)"
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {Path(row["source"]).name for row in rows} == {p.name for p in EXAMPLES}


def test_analyze_json_of_a_folder_is_a_list_even_when_files_are_skipped(mixed):
    r = run_cli("analyze", mixed / "week2", "--json", "--jobs", "1")
    assert r.returncode == 1
    assert len(_stderr_lines(r)) == 2  # notes.h5, and the summary
    objs = json.loads(r.stdout)
    assert isinstance(objs, list) and len(objs) == 1 and objs[0]["holds"]


def test_nothing_usable_is_exit_2_with_every_file_named(tmp_path, capsys):
    from nmt_monitor.cli import main

    (tmp_path / "a.h5").write_bytes(b"")
    (tmp_path / "b.csv").write_text("nothing here\n")
    assert main(["analyze", str(tmp_path), "--csv", "--jobs", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 3 and "a.h5" in lines[0] and "b.csv" in lines[1]
    assert lines[2] == "nmt-monitor: none of the 2 files could be analysed"


def test_grade_reports_the_good_sessions_and_lists_the_skipped_ones(mixed, tmp_path):
    report = tmp_path / "report"
    r = run_cli("grade", mixed, "--report", report, "--no-holds", "--jobs", "1", timeout=120)
    assert r.returncode == 1
    lines = _stderr_lines(r)
    assert [ln for ln in lines if ln.startswith("nmt-monitor: error:")] and len(lines) == 4  # 2 + summary + report
    assert "graded 3 of 5 files; skipped 2" in r.stderr
    gradebook = list(csv.DictReader((report / "gradebook.csv").open(encoding="utf-8")))
    assert len(gradebook) == 3
    index = (report / "index.html").read_text(encoding="utf-8")
    assert "Not graded (2)" in index and "notes.h5" in index and "broken.csv" in index


def test_the_exit_codes_are_in_the_help():
    for command in ("analyze", "grade"):
        text = run_cli(command, "--help").stdout
        assert "exit codes:" in text and "1  some files were skipped" in text and "2  nothing usable" in text
