"""``nmt-monitor analyze`` run as a subprocess on CSV files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.dsp.synth import Script


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "nmt_monitor", "analyze", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("analyze")
    s = Script(np.random.default_rng(0)).rest(3).ramp(40, 1.0).hold(12).ramp(62, 0.5).hold(8, drift_pct=-15, tau_s=6)
    s.rest(3)
    t, f, _ = s.render(rate_hz=200, noise_n=0.3)
    path = d / "case.csv"
    np.savetxt(path, np.c_[t, f], delimiter=",", header="time_s,force_N", comments="", fmt="%.5f")
    kg = d / "case_kg.csv"
    np.savetxt(kg, np.c_[t, f / 9.80665], delimiter=",", header="time_s,force_kgf", comments="", fmt="%.7f")
    return d, path, kg, s.truth


def test_table(case):
    d, path, _, _ = case
    r = run(path, "--tolerance", "60N")
    assert r.returncode == 0, r.stderr
    assert "case.csv" in r.stdout and "start s" in r.stdout and "over tolerance (1)" in r.stdout
    assert "drift" in r.stdout


def test_json_schema(case):
    d, path, _, truth = case
    r = run(path, "--tolerance", "60N", "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["source"].endswith("case.csv")
    assert obj["sample_rate_hz"] == pytest.approx(200, rel=0.01)
    assert obj["tolerance_N"] == 60.0
    assert len(obj["holds"]) == 2
    h0, h1 = obj["holds"]
    for key in ("start_s", "end_s", "duration_s", "mean_N", "sd_N", "cv_pct", "drift_pct", "drift_N_per_s", "flags"):
        assert key in h0
    assert h0["flags"] == []
    assert "drift" in h1["flags"] and "over_tolerance" in h1["flags"]
    assert abs(h0["start_s"] - truth.holds[0]["start_s"]) < 0.3
    assert len(obj["over_tolerance"]) == 1
    assert set(obj["over_tolerance"][0]) == {"start_s", "end_s", "peak_N"}


def test_json_list_for_several_files_and_units(case):
    d, path, kg, _ = case
    r = run(path, kg, "--json", "--tolerance", "6.1kg")
    assert r.returncode == 0, r.stderr
    objs = json.loads(r.stdout)
    assert isinstance(objs, list) and len(objs) == 2
    assert objs[1]["tolerance_N"] == pytest.approx(59.82, abs=0.01)
    assert objs[0]["holds"][0]["mean_N"] == pytest.approx(objs[1]["holds"][0]["mean_N"], abs=0.01)


def test_csv_rows(case):
    d, path, kg, _ = case
    r = run(path, kg, "--csv", "--target", "35N..45N", "--min-hold", "4", "--drift-limit", "20")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 4
    assert rows[0]["source"].endswith("case.csv") and rows[2]["source"].endswith("case_kg.csv")
    assert float(rows[0]["time_in_target_pct"]) > 90
    assert "drift" not in rows[1]["flags"]  # 15 % < --drift-limit 20


def test_hold_time_flags_short(case):
    d, path, _, _ = case
    r = run(path, "--json", "--hold-time", "10")
    holds = json.loads(r.stdout)["holds"]
    assert "short" not in holds[0]["flags"] and "short" in holds[1]["flags"]


def write(d, name, text):
    p = d / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "name, text, needle",
    [
        ("empty.csv", "", "empty file"),
        ("header_only.csv", "time_s,force_N\n", "no samples"),
        ("nocol.csv", "time_s,pressure\n0,1\n", "missing force column"),
        ("notime.csv", "t,force_N\n0,1\n", "missing column time_s"),
        ("text.csv", "time_s,force_N\n0,1\n0.1,abc\n", "line 3, column force_N: 'abc' is not a number"),
        ("short.csv", "time_s,force_N\n0,1\n0.1\n", "line 3: expected 2 columns"),
        ("back.csv", "time_s,force_N\n0,1\n0.2,1\n0.1,1\n", "line 4, column time_s: time goes backwards"),
        ("binary.csv", "time_s,force_N\n\x00\x01\n", "binary"),
    ],
)
def test_errors(tmp_path, name, text, needle):
    p = write(tmp_path, name, text)
    r = run(p)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert name in lines[0] and needle in lines[0], lines[0]


def test_missing_file_and_bad_options(tmp_path):
    r = run(tmp_path / "nope.csv")
    assert r.returncode == 2 and "nope.csv: no such file" in r.stderr
    r = run(tmp_path)
    assert r.returncode == 2 and "directory with no recordings" in r.stderr
    (tmp_path / "x.h5").write_text("not hdf5")
    r = run(tmp_path / "x.h5")
    assert r.returncode == 2 and "x.h5: not a readable HDF5 file" in r.stderr and "Traceback" not in r.stderr
    p = write(tmp_path, "ok.csv", "time_s,force_N\n0,1\n0.1,1\n")
    r = run(p, "--tolerance", "60 parsecs")
    assert r.returncode == 2 and "unknown force unit" in r.stderr
    r = run(p, "--target", "60..40")
    assert r.returncode == 2


def test_comments_and_extra_columns(tmp_path):
    t = np.arange(0, 20, 0.01)
    f = np.where((t > 3) & (t < 15), 30.0, 0.0)
    body = "\n".join(f"{a:.2f},{b:.3f},x" for a, b in zip(t, f))
    p = write(tmp_path, "extra.csv", "# recorded by hand\nTIME_S,Force_N,note\n" + body + "\n")
    r = run(p, "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["holds"]) == 1


def test_folder_expands_to_its_recordings(case):
    d, path, kg, _ = case
    r = run(d, "--json")
    assert r.returncode == 0, r.stderr
    assert [o["source"].rsplit("/", 1)[-1] for o in json.loads(r.stdout)] == ["case.csv", "case_kg.csv"]


def test_session_files_are_analysed_with_their_own_tolerance(tmp_path):
    """An .h5 session made by the recorder: analyze takes its tolerance unless told otherwise."""
    from tests.examples import EXAMPLES

    example = EXAMPLES["example-over-tolerance"]
    r = run(example, "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["tolerance_N"] == pytest.approx(60.0)
    assert obj["holds"] and obj["over_tolerance"]
    r = run(example, "--json", "--tolerance", "200N")
    assert json.loads(r.stdout)["over_tolerance"] == []
