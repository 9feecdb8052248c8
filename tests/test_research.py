"""Research API and batch analyze: ICC (textbook check), between-hold CV, tidy holds over a folder."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from nmt_monitor import research as R
from tests.examples import EXAMPLES, STEADY

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges, and their published ICCs.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
PUBLISHED = {"1,1": 0.17, "2,1": 0.29, "3,1": 0.71, "1,k": 0.44, "2,k": 0.62, "3,k": 0.91}


@pytest.mark.parametrize("form", sorted(PUBLISHED))
def test_icc_matches_shrout_fleiss(form):
    r = R.icc(SHROUT_FLEISS, form)
    assert round(r.value, 2) == PUBLISHED[form]
    assert (r.n_subjects, r.k) == (6, 4)


def test_icc_by_hand():
    # hand-computed: grand mean 3.5; MSR = 2*((2.5-3.5)^2 + (4.5-3.5)^2)/1 = 4; MSC = 2*((3-3.5)^2+(4-3.5)^2) = 1;
    # SS_total = 1+0.25... -> matrix [[2,3],[4,5]] has SS_E = 0, so ICC(3,1) = 1, ICC(2,1) = 4/(4+0+2*1/2) = 0.8
    r3 = R.icc([[2, 3], [4, 5]], "3,1")
    r2 = R.icc([[2, 3], [4, 5]], "2,1")
    assert r3.ms_rows == pytest.approx(4.0) and r3.ms_cols == pytest.approx(1.0) and r3.ms_error == pytest.approx(0)
    assert r3.value == pytest.approx(1.0) and r2.value == pytest.approx(0.8)


def test_icc_rejects_bad_input():
    with pytest.raises(ValueError, match="n x k"):
        R.icc([[1, 2, 3]])
    with pytest.raises(ValueError, match="complete"):
        R.icc([[1, np.nan], [2, 3]])
    with pytest.raises(ValueError, match="unknown ICC form"):
        R.icc(SHROUT_FLEISS, "4,1")


def _row(source, site, start, mean, when="2026-01-01"):
    return {"source": source, "site": site, "start_s": start, "mean_N": mean, "session_start_time": when}


def test_between_hold_cv_and_icc_by():
    rows = [_row("a.h5", "trap", 0, 40), _row("a.h5", "trap", 30, 44), _row("a.h5", "lev", 60, 20),
            _row("b.h5", "trap", 0, 30)]
    cv = R.between_hold_cv(rows)
    assert len(cv) == 1 and cv[0]["site"] == "trap" and cv[0]["n_holds"] == 2
    assert cv[0]["cv_pct"] == pytest.approx(100 * np.std([40, 44], ddof=1) / 42, abs=1e-3)
    # three sites measured in three sessions: rows = sites, columns = sessions
    rows = []
    for k, when in enumerate(("2026-01-01", "2026-01-08", "2026-01-15")):
        for site, level in (("trap", 40), ("lev", 25), ("glut", 60)):
            rows.append(_row(f"s{k}.h5", site, 5.0, level + (k - 1) * 1.0 + (site == "lev") * k, when))
    res = R.icc_by(rows, subject="site", form="2,1")
    matrix = np.array([[40 - 1, 40, 41], [25 - 1, 25 + 1, 25 + 1 + 2], [60 - 1, 60, 61]], dtype=float)
    matrix[1] = [24, 26, 28]
    assert res is not None and res.k == 3 and res.n_subjects == 3
    assert res.value == pytest.approx(R.icc(matrix[[2, 1, 0]], "2,1").value)
    assert res.value > 0.9
    assert R.icc_by(rows[:1], subject="site") is None


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Sessions in nested folders: the example recordings, twice, plus a CSV."""
    root = tmp_path_factory.mktemp("research")
    (root / "class" / "week1").mkdir(parents=True)
    for path in EXAMPLES.values():
        shutil.copy(path, root / "class" / "week1" / path.name)
    shutil.copy(STEADY, root / "class" / "example-steady-again.h5")
    from nmt_monitor.storage import open_session

    s = open_session(STEADY)
    np.savetxt(root / "plain.csv", np.c_[s.time_s, s.force_n], delimiter=",", header="time_s,force_N",
               comments="", fmt="%.4f")
    return root


def test_holds_table_and_arrays(folder):
    table = R.holds_table([folder], jobs=2)
    assert table.columns == list(R.COLUMNS)
    sources = {r["source"] for r in table}
    assert len(sources) == 5  # 3 + 1 + csv, found recursively
    steady = table.where(therapist="student A")
    assert len(steady) >= 2 and set(steady.column("site")) == {"upper trapezius L"}
    cv = steady.column("cv_pct")
    assert cv.dtype == np.float64 and np.all(cv > 0)
    assert all(r["software_version"] for r in table) and all(r["engine_overrides"] == "{}" for r in table)
    assert table.column("mean_N_per_cm2")[0] == pytest.approx(table[0]["mean_N"] / table[0]["tip_area_cm2"], rel=1e-3)
    t, f = R.force(folder / "plain.csv")
    assert t.dtype == f.dtype == np.float64 and t.size == f.size > 1000
    s = R.open_session(folder / "class" / "week1" / "example-steady.h5", arrays=("force_n",))
    assert s.metadata["therapist"] == "student A"
    # the same site measured in two sessions: between-hold CV per session and site
    groups = R.between_hold_cv(table, by=("source", "site"))
    assert groups and all(g["cv_pct"] >= 0 for g in groups)
    buf = io.StringIO()
    table.to_csv(buf)
    assert len(buf.getvalue().splitlines()) == len(table) + 1


def run(*args):
    return subprocess.run([sys.executable, "-m", "nmt_monitor", "analyze", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_analyze_folder_tidy_parallel_with_provenance(folder, tmp_path):
    prov = tmp_path / "prov.json"
    r = run(folder, "--csv", "--jobs", "2", "--progress", "--provenance", prov)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert r.stdout.splitlines()[0] == ",".join(R.COLUMNS)  # header first: nothing else on stdout
    assert len({row["source"] for row in rows}) == 5
    assert all(len(row) == len(R.COLUMNS) for row in rows)
    h5 = [row for row in rows if row["source"].endswith(".h5")]
    assert all(row["therapist"] and row["session_id"] and row["tolerance_N"] for row in h5)
    assert all(row["software_version"] == "0.1.0" for row in rows)
    # the progress bar went to stderr (asked for with --progress), not into the CSV
    assert "analyze: 5/5" in r.stderr.splitlines()[-1]  # plain lines: stderr is not a terminal
    doc = json.loads(prov.read_text())
    assert doc["software_version"] == "0.1.0" and doc["engine_parameters"]["min_hold_s"] == 5.0
    assert len(doc["inputs"]) == 5 and all(len(i["sha256"]) == 64 for i in doc["inputs"])
    # same rows in one process as in two
    r1 = run(folder, "--csv", "--jobs", "1")
    assert r1.stdout == r.stdout
    # no bar when stderr is not a terminal (the default)
    assert r1.stderr == ""


def test_analyze_overrides_are_recorded_per_row(folder):
    r = run(folder / "class", "--csv", "--min-hold", "4", "--drift-limit", "20")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows and all(json.loads(row["engine_overrides"]) == {"min_hold_s": 4.0, "drift_limit_pct": 20.0}
                        for row in rows)


def test_analyze_bad_file_in_folder_is_one_line_and_the_others_are_analysed(folder, tmp_path):
    d = tmp_path / "mixed"
    shutil.copytree(folder / "class", d)
    (d / "week1" / "broken.csv").write_text("time_s,force_N\n0,1\n0.1,abc\n")
    good = run(folder / "class", "--csv", "--jobs", "2")
    r = run(d, "--csv", "--jobs", "2")
    assert r.returncode == 1 and "Traceback" not in r.stderr  # 1: some files skipped
    errors, summary = r.stderr.strip().splitlines()
    assert "broken.csv" in errors and "line 3" in errors
    assert "skipped 1" in summary
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == len(list(csv.DictReader(io.StringIO(good.stdout)))) > 0
    assert not any("broken" in row["source"] for row in rows)
