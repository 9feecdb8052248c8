"""export --nwb, --bids and --csv --events: real files, checked by the communities' own tools
(pynwb's validator and nwbinspector; the BIDS validator) and read back against the session."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nmt_monitor.cli import main
from nmt_monitor.storage import open_session
from tests.examples import EXAMPLES, STEADY

OVER = EXAMPLES["example-over-tolerance"]


def export(capsys, *args) -> tuple[int, str]:
    code = main(["export", *map(str, args)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("age", [None, "P42Y"])
def test_nwb_file_holds_the_session_and_passes_the_nwb_checks(tmp_path, capsys, age):
    pynwb = pytest.importorskip("pynwb")
    from nwbinspector import Importance, inspect_nwbfile

    out = tmp_path / "session.nwb"
    code, err = export(capsys, OVER, "--nwb", out, *(["--age", age, "--subject", "C03"] if age else []))
    assert code == 0 and f"to {out}" in err
    assert pynwb.validate(path=str(out)) == []  # the NWB schema
    findings = list(inspect_nwbfile(nwbfile_path=str(out)))
    assert not [f for f in findings if f.importance in (Importance.ERROR, Importance.CRITICAL)], findings

    s = open_session(OVER)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        force = nwb.acquisition["force"]
        assert force.unit == "N" and force.data.dtype == np.float32
        np.testing.assert_array_equal(force.data[:], s.force_n.astype(np.float32))
        np.testing.assert_array_equal(force.timestamps[:], s.time_s)
        counts = nwb.acquisition["raw_counts"]
        newtons = counts.data[:] * counts.conversion + counts.offset
        assert np.abs(newtons[:100] - s.force_n[:100]).max() < 0.01  # counts convert to the same force
        holds = nwb.intervals["holds"].to_dataframe()
        assert list(holds["start_time"]) == pytest.approx([h["start_s"] for h in s.holds])
        assert list(holds["mean_N"]) == pytest.approx([h["mean_N"] for h in s.holds])
        assert list(holds["flags"]) == [";".join(h["flags"]) for h in s.holds]
        over = nwb.intervals["over_tolerance"].to_dataframe()
        assert len(over) == len(s.over_tolerance) >= 1 and over["peak_N"].iloc[0] == pytest.approx(
            s.over_tolerance[0]["peak_N"])
        markers = nwb.intervals["markers"].to_dataframe()
        assert list(markers["kind"]) == [m["kind"] for m in s.markers]
        assert nwb.session_start_time.isoformat().startswith(s.attrs["session_start_time"][:19])
        assert nwb.identifier == s.attrs["session_id"]
        assert nwb.subject.subject_id == ("C03" if age else s.metadata["client"])
        assert nwb.subject.age == (age or "P0D/") and nwb.subject.sex == "U"
        assert nwb.devices["force_sensor"].serial_number == s.sensor["serial_number"]
        assert str(s.metadata["tolerance_N"]).rstrip("0").rstrip(".") in nwb.protocol
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.nwb"]  # no partial file left


def test_nwb_export_refuses_what_it_must_not_write(tmp_path, capsys):
    out = tmp_path / "x.nwb"
    out.write_text("mine")
    code, err = export(capsys, STEADY, "--nwb", out)
    assert code == 2 and err.strip() == f"nmt-monitor: error: {out} exists (use --force to overwrite)"
    assert out.read_text() == "mine"
    code, err = export(capsys, STEADY, "--nwb", tmp_path / "y.nwb", "--age", "forty")
    assert code == 2 and "--age 'forty'" in err and len(err.splitlines()) == 1
    code, err = export(capsys, tmp_path / "x.nwb", "--nwb", tmp_path / "z.nwb")
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err


def _validator() -> str:
    exe = Path(sys.executable).with_name("bids-validator-deno")
    if not exe.exists():
        pytest.skip("bids-validator-deno is not installed (pip install -e '.[test,research]')")
    return str(exe)


def test_bids_dataset_passes_the_bids_validator_and_holds_the_session(tmp_path, capsys):
    root = tmp_path / "bids"
    assert export(capsys, STEADY, "--bids", root)[0] == 0
    code, err = export(capsys, OVER, "--bids", root, "--subject", "03", "--session", "pre", "--task", "ischemic")
    assert code == 0 and "sub-03 ses-pre task-ischemic" in err
    r = subprocess.run([_validator(), str(root), "--json"], capture_output=True, text=True, timeout=120)
    report = json.loads(r.stdout)
    issues = report["issues"]["issues"]
    assert not [i for i in issues if i["severity"] == "error"], issues
    ours = [i for i in issues if "/sub-" in i.get("location", "") and i["code"] != "SIDECAR_KEY_RECOMMENDED"]
    assert not ours, ours  # nothing about our files but optional metadata we cannot know (institution, ...)
    assert sorted(report["summary"]["subjects"]) == ["03", "client01"]

    beh = root / "sub-03" / "ses-pre" / "beh"
    stem = "sub-03_ses-pre_task-ischemic"
    side = json.loads((beh / f"{stem}_recording-force_physio.json").read_text())
    assert side["Columns"] == ["force"] and side["force"]["Units"] == "N"
    s = open_session(OVER)
    assert side["SamplingFrequency"] == pytest.approx(s.sample_rate_hz, rel=1e-3)
    assert side["StartTime"] == pytest.approx(s.time_s[0], abs=1 / side["SamplingFrequency"])
    with gzip.open(beh / f"{stem}_recording-force_physio.tsv.gz", "rt") as fh:
        rows = fh.read().splitlines()
    values = np.array([np.nan if v == "n/a" else float(v) for v in rows])
    assert np.count_nonzero(~np.isnan(values)) == s.n_samples  # every sample, none invented
    np.testing.assert_allclose(values[~np.isnan(values)], s.force_n, atol=6e-5)
    # each sample sits on the grid within a fraction of a sample of its own time (the few early
    # samples whose host time stepped while the clock mapping settled, within one sample)
    off = np.abs(side["StartTime"] + np.flatnonzero(~np.isnan(values)) / side["SamplingFrequency"] - s.time_s)
    assert np.percentile(off, 99) < 0.25 / side["SamplingFrequency"] and off.max() < 1 / side["SamplingFrequency"]
    with open(beh / f"{stem}_events.tsv", newline="") as fh:
        events = list(csv.DictReader(fh, delimiter="\t"))
    holds = [e for e in events if e["trial_type"] == "hold"]
    assert [float(e["onset"]) for e in holds] == pytest.approx([h["start_s"] for h in s.holds], abs=1e-6)
    assert [float(e["duration"]) for e in holds] == pytest.approx([h["duration_s"] for h in s.holds], abs=2e-3)
    assert {e["trial_type"] for e in events} >= {"hold", "over_tolerance"}
    assert (root / "participants.tsv").read_text().splitlines() == ["participant_id", "sub-03", "sub-client01"]
    # a second export of the same session is refused; the first is kept
    code, err = export(capsys, OVER, "--bids", root, "--subject", "03", "--session", "pre", "--task", "ischemic")
    assert code == 2 and "exists" in err and len(err.splitlines()) == 1
    code, err = export(capsys, OVER, "--bids", root, "--subject", "client 3")
    assert code == 2 and "letters and digits" in err


def test_bids_grid_leaves_lost_samples_empty_and_places_a_reconnect_by_time():
    from nmt_monitor.storage.bids import sample_grid

    fs = 1000.0 * (1 + 50e-6)  # the sensor's clock runs 50 ppm fast against the host's
    seq = np.r_[np.arange(0, 5000), np.arange(5020, 9000), np.arange(0, 3000)]  # 20 lost, then a reconnect
    segment = np.r_[np.zeros(8980, int), np.ones(3000, int)]
    t = np.r_[seq[:8980] / fs, 9.5 + seq[8980:] / fs] + np.random.default_rng(1).normal(0, 2e-4, seq.size)
    rows, got, start = sample_grid(t, seq, segment, 1000.0)
    assert got == pytest.approx(fs, rel=2e-6)
    assert rows[5000] - rows[4999] == 21 and np.all(np.diff(rows) > 0)
    assert rows[8980] == round(9.5 * fs)  # the new segment starts at its own time
    assert abs(start) < 1e-4 and np.abs(start + rows / got - t).max() < 1.5e-3


def test_csv_events_second_file(tmp_path, capsys):
    out, events = tmp_path / "force.csv", tmp_path / "events.csv"
    code, err = export(capsys, OVER, "--csv", out, "--events", events)
    assert code == 0 and "events to" in err
    rows = list(csv.DictReader(events.open(newline="")))
    s = open_session(OVER)
    assert [r["kind"] for r in rows].count("hold") == len(s.holds)
    assert [r["kind"] for r in rows].count("over_tolerance") == len(s.over_tolerance)
    assert {m["kind"] for m in s.markers} <= {r["kind"] for r in rows}
    assert [float(r["onset_s"]) for r in rows] == sorted(float(r["onset_s"]) for r in rows)
    assert out.read_text().startswith("time_s,force_N\n")
    code, err = export(capsys, OVER, "--nwb", tmp_path / "a.nwb", "--events", events)
    assert code == 2 and "--events goes with --csv" in err
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]
