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


PINGOUIN_TYPE = {"1,1": "ICC(1,1)", "2,1": "ICC(A,1)", "3,1": "ICC(C,1)", "1,k": "ICC(1,k)", "2,k": "ICC(A,k)",
                 "3,k": "ICC(C,k)"}


@pytest.fixture(scope="module")
def pingouin_iccs():
    """Every form from pingouin (an independent implementation, validated against R's psych)
    on the Shrout & Fleiss matrix and on a larger random one."""
    import pandas as pd
    import pingouin

    rng = np.random.default_rng(7)
    subjects = rng.normal(40, 8, size=(25, 1))
    bigger = subjects + rng.normal(0, 3, size=(25, 5)) + np.array([0, 1, -1, 2, 0.5])
    out = {}
    for name, m in (("shrout_fleiss", np.array(SHROUT_FLEISS, float)), ("random", bigger)):
        long = pd.DataFrame([(i, j, m[i, j]) for i in range(m.shape[0]) for j in range(m.shape[1])],
                            columns=["subject", "rater", "score"])
        res = pingouin.intraclass_corr(long, targets="subject", raters="rater", ratings="score").set_index("Type")
        out[name] = (m, res)
    return out


@pytest.mark.parametrize("form", sorted(PUBLISHED))
@pytest.mark.parametrize("name", ["shrout_fleiss", "random"])
def test_icc_and_its_confidence_interval_match_pingouin(pingouin_iccs, name, form):
    m, res = pingouin_iccs[name]
    row = res.loc[PINGOUIN_TYPE[form]]
    r = R.icc(m, form)
    assert r.value == pytest.approx(row["ICC"], abs=1e-9)
    assert r.f_value == pytest.approx(row["F"], rel=1e-9)
    assert r.p_value == pytest.approx(row["pval"], rel=1e-6, abs=1e-300)
    lo, hi = row["CI95"]
    assert (r.ci_low, r.ci_high) == (pytest.approx(lo, abs=0.005), pytest.approx(hi, abs=0.005))  # pingouin rounds to .01
    assert r.ci_low < r.value < r.ci_high and r.confidence == 0.95
    assert f"ICC({form})" in r.description  # the form used is said


def test_icc_confidence_interval_against_shrout_fleiss_table():
    # Shrout & Fleiss (1979) Table 2 mean squares: BMS 11.24, JMS 32.49, EMS 1.02, WMS 6.26; their
    # interval for ICC(3,1) from F = BMS/EMS (df 5, 15), F(.975; 5, 15) = 3.576, F(.975; 15, 5) = 6.428
    r = R.icc(SHROUT_FLEISS, "3,1")
    assert (r.ms_rows, r.ms_cols, r.ms_error, r.ms_within) == (pytest.approx(11.24, abs=0.005), pytest.approx(
        32.49, abs=0.005), pytest.approx(1.02, abs=0.005), pytest.approx(6.26, abs=0.005))
    f_value = 11.24 / 1.02
    fl, fu = f_value / 3.576, f_value * 6.428
    assert r.ci_low == pytest.approx((fl - 1) / (fl + 3), abs=0.005)
    assert r.ci_high == pytest.approx((fu - 1) / (fu + 3), abs=0.005)
    assert "95 % CI" in str(r) and "ICC(3,1)" in str(r)


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
    assert len(cv) == 1 and cv["site"].iloc[0] == "trap" and cv["n_holds"].iloc[0] == 2
    assert cv["cv_pct"].iloc[0] == pytest.approx(100 * np.std([40, 44], ddof=1) / 42, abs=1e-3)
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


def test_holds_table_is_a_dataframe_with_dtypes_and_provenance(folder):
    import pandas as pd

    table = R.holds_table([folder], jobs=2)
    assert isinstance(table, pd.DataFrame) and list(table.columns) == list(R.COLUMNS)
    assert table["source"].nunique() == 5  # 3 + 1 + csv, found recursively
    for name in ("source", "therapist", "client", "site", "flags", "ended_by"):
        assert isinstance(table[name].dtype, pd.CategoricalDtype), name
    start = table["session_start_time"]
    assert isinstance(start.dtype, pd.DatetimeTZDtype) and str(start.dt.tz) == "UTC"
    assert start[table["source"].str.endswith(".h5")].notna().all()
    assert start[table["source"].str.endswith(".csv")].isna().all()  # a CSV has no start time
    assert table["hold"].dtype == np.int64 and table["cv_pct"].dtype == np.float64
    steady = table[table["therapist"] == "student A"]
    assert len(steady) >= 2 and set(steady["site"]) == {"upper trapezius L"} and (steady["cv_pct"] > 0).all()
    assert (table["engine_overrides"] == "{}").all() and (table["software_version"] == "0.1.0").all()
    assert table["mean_N_per_cm2"].iloc[0] == pytest.approx(table["mean_N"].iloc[0] / table["tip_area_cm2"].iloc[0],
                                                            rel=1e-3)
    prov = table.attrs["provenance"]
    assert prov["software_version"] == "0.1.0" and len(prov["inputs"]) == 5
    assert all(len(i["sha256"]) == 64 and i["ran_on"] for i in prov["inputs"])
    assert prov["executor"]["kind"] == "local processes" and prov["executor"]["processes"] == 2
    # a derived table keeps it (pandas copies attrs), without copying it
    grouped = table[table["hold"] == 1]
    assert grouped.attrs["provenance"] is prov
    groups = R.between_hold_cv(table, by=("source", "site"))
    assert len(groups) and (groups["cv_pct"] >= 0).all() and groups.attrs["provenance"] is prov
    # one process or two: the same rows
    pd.testing.assert_frame_equal(R.holds_table([folder], jobs=1), table)
    t, f = R.force(folder / "plain.csv")
    assert t.dtype == f.dtype == np.float64 and t.size == f.size > 1000
    s = R.open_session(folder / "class" / "week1" / "example-steady.h5", arrays=("force_n",))
    assert s.metadata["therapist"] == "student A"


def test_sessions_table(folder):
    import pandas as pd

    sessions = R.sessions_table([folder])
    assert list(sessions.columns) == list(R.SESSION_COLUMNS) and len(sessions) == 5
    h5 = sessions[sessions["source"].str.endswith(".h5")]
    assert (h5["session_end_time"] > h5["session_start_time"]).all()
    assert isinstance(sessions["client"].dtype, pd.CategoricalDtype) and sessions["n_samples"].dtype == np.int64
    assert (sessions["n_samples"] > 1000).all() and (sessions["duration_s"] > 10).all()
    holds = R.holds_table([folder])
    assert sessions["n_holds"].sum() == len(holds)
    assert sessions.attrs["provenance"]["inputs"][0]["source"] == sessions["source"].iloc[0]


def test_analyze_parquet_has_the_csv_rows_and_the_provenance(folder, tmp_path):
    import pandas as pd
    import pyarrow.parquet as pq

    out = tmp_path / "holds.parquet"
    r = run(folder, "--parquet", out, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and f"to {out}" in r.stderr
    df = pd.read_parquet(out)
    prov = df.attrs["provenance"]  # pandas restores it from the file's metadata
    assert prov["output"] == "parquet" and len(prov["inputs"]) == 5 and str(out) in prov["command"]
    assert json.loads(pq.read_metadata(out).metadata[b"nmt_monitor.provenance"]) == prov  # for any Parquet reader
    assert isinstance(df["site"].dtype, pd.CategoricalDtype) and str(df["session_start_time"].dt.tz) == "UTC"
    pd.testing.assert_frame_equal(df, R.holds_table([folder]))
    assert R.read_parquet(out).attrs["provenance"]["inputs"] == prov["inputs"]
    rows = list(csv.DictReader(io.StringIO(run(folder, "--csv", "--jobs", "1").stdout)))
    assert [row["source"] for row in rows] == list(df["source"].astype(str))
    assert [float(row["mean_N"]) for row in rows] == list(df["mean_N"])
    assert not list(tmp_path.glob(".*partial"))


def test_research_commands_without_the_extra_say_what_to_install(tmp_path):
    """A therapist's install has no pandas, pyarrow, pynwb, pylsl or dask: the commands that need
    them say in one line what to install (exit 2); the others work."""
    code = ("import sys; sys.modules.update(dict.fromkeys(['pandas', 'pyarrow', 'pynwb', 'pylsl', 'dask', "
            "'distributed'])); from nmt_monitor.cli import main; sys.exit(main(sys.argv[1:]))")
    steady = str(STEADY)
    for args in (["analyze", steady, "--parquet", str(tmp_path / "x.parquet")],
                 ["analyze", steady, "--scheduler", "tcp://127.0.0.1:8786"],
                 ["export", steady, "--nwb", str(tmp_path / "x.nwb")],
                 ["stream", "--port", "sim://", "--seconds", "1", "--lsl"],
                 ["record", "--port", "sim://", "--seconds", "1", "--out", str(tmp_path / "r.h5"), "--lsl"],
                 ["live", "--lsl"]):
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and r.stdout == "", (args, r.stdout, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "pip install 'nmt-monitor[research]'" in r.stderr, args
    assert not list(tmp_path.iterdir())
    r = subprocess.run([sys.executable, "-c", code, "analyze", steady, "--csv"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("source,")


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
