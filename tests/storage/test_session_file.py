"""The session file: contents, the loader, never overwriting, preflight, failures mid-session."""

import errno
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nmt_monitor.storage import (
    Recorder,
    SessionFileError,
    SessionMetadata,
    StorageError,
    export_csv,
    open_session,
    preflight,
)

from tests.cli import assert_one_line_error, run_cli
from .synth import T0, make_blocks


def test_open_session_returns_arrays_metadata_holds_markers(session_file):
    s = open_session(session_file)
    blocks = make_blocks(lose=(5000, 100))
    force = np.concatenate([b.force_n for b in blocks])
    np.testing.assert_allclose(s.force_n, force, atol=1e-4)  # float32 on disk
    np.testing.assert_allclose(s.host_time_s, np.concatenate([b.host_time_s for b in blocks]), atol=1e-6)
    np.testing.assert_array_equal(s.arrays["counts"], np.concatenate([b.counts for b in blocks]))
    np.testing.assert_array_equal(s.arrays["seq"], np.concatenate([b.seq for b in blocks]))
    assert s.n_samples == force.size
    assert s.metadata["client"] == "Client 7" and s.metadata["therapist"] == "Stu Dent"
    assert s.metadata["notes"] == "naïve test ✓"
    assert s.tolerance_n == 60.0 and s.target_band_n == (30.0, 50.0)
    assert s.metadata["target_hold_s"] == 10.0 and s.metadata["tip_area_cm2"] == 1.5
    assert s.metadata["contact_tip"] == "thumb"
    assert s.metadata["session_start_time"].startswith("2026-") and s.metadata["session_start_time"][-6] in "+-"
    assert s.sensor["serial_number"] == "SIM-0001"
    assert s.calibration["offset_counts"] == 152340.0
    assert [m["kind"] for m in s.markers] == ["discomfort", "site", "note"]
    assert s.markers[1]["text"] == "upper trapezius L" and s.markers[2]["text"] == "client relaxed — good"
    assert s.markers[0]["time_s"] == pytest.approx(10.0)
    gaps = [i for i in s.invalid_times if i["kind"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["samples_lost"] == 100
    assert gaps[0]["start_s"] == pytest.approx(0.05 + 4999 / 500, abs=1e-6)
    assert [e["kind"] for e in s.link_events] == ["connected"]
    assert not (session_file.with_suffix(".journal")).exists()


def test_holds_and_engine_parameters_are_stored(session_file):
    pytest.importorskip("nmt_monitor.dsp")
    s = open_session(session_file, arrays=False)
    assert s.arrays == {}
    assert s.engine["status"] == "ok"
    assert s.engine["software_version"]
    assert s.engine["min_hold_s"] == 5.0 and s.engine["target_hold_s"] == 10.0
    assert json.loads(s.engine["params_json"])["drift_limit_pct"] == 10.0
    assert len(s.holds) == 1
    hold = s.holds[0]
    assert 2.5 < hold["start_s"] < 4.0 and 17.0 < hold["end_s"] < 19.5
    assert hold["mean_N"] == pytest.approx(40.0, abs=0.5)
    assert isinstance(hold["flags"], list)
    assert len(s.over_tolerance) == 1 and s.over_tolerance[0]["peak_N"] == pytest.approx(75.0, abs=1.0)


def test_stored_holds_match_a_fresh_analysis_of_the_stored_samples(session_file):
    dsp = pytest.importorskip("nmt_monitor.dsp")
    s = open_session(session_file)
    fresh = dsp.analyze_holds(s.time_s, s.force_n, dsp.HoldParams(target_hold_s=10.0), 60.0, (30.0, 50.0))
    assert [round(h.start_s, 6) for h in fresh.holds] == [round(h["start_s"], 6) for h in s.holds]
    assert [round(h.mean_N, 6) for h in fresh.holds] == [round(h["mean_N"], 6) for h in s.holds]


PLAIN_H5PY = textwrap.dedent("""
    import json, sys
    import h5py, numpy as np
    path = sys.argv[1]
    out = {}
    with h5py.File(path, "r") as f:
        assert f.attrs["schema"] == "nmt-monitor-session", f.attrs["schema"]
        out["schema_version"] = f.attrs["schema_version"]
        start = f.attrs["session_start_time"]
        assert isinstance(start, str)
        force = f["acquisition/force/data"]
        assert force.attrs["unit"] == "N" and force.compression == "gzip" and force.shuffle
        assert 8192 <= force.chunks[0] <= 65536
        t = f["acquisition/force/timestamps"][:]
        assert np.all(np.diff(t) > 0)
        raw = f["acquisition/raw_counts/data"]
        newtons = raw[:] * raw.attrs["conversion"] + raw.attrs["offset"]
        out["max_counts_vs_force"] = float(np.max(np.abs(newtons - force[:])))
        assert np.array_equal(f["acquisition/raw_counts/timestamps"][:], t)
        holds = f["intervals/holds"]
        out["hold_columns"] = [str(c) for c in holds.attrs["colnames"]]
        out["n_holds"] = int(holds["start_time"].shape[0])
        out["markers"] = [m.decode("utf-8") for m in f["acquisition/markers/text"][:]]
        out["client"] = f["general/session"].attrs["client"]
        out["tolerance"] = float(f["general/session"].attrs["tolerance_N"])
        out["engine_status"] = f["processing/hold_engine"].attrs.get("status", "")
        # Nothing in the file needs pickle: every dataset is numeric or UTF-8 strings.
        def check(name, obj):
            if isinstance(obj, h5py.Dataset):
                kind = obj.dtype.kind
                if kind == "O":
                    assert h5py.check_string_dtype(obj.dtype).encoding == "utf-8", name
                else:
                    assert kind in "iufb", (name, obj.dtype)
            for key, value in obj.attrs.items():
                assert isinstance(value, (str, np.ndarray, np.number)), (name, key, type(value))
        f.visititems(check)
    assert not any(m == "nmt_monitor" or m.startswith("nmt_monitor.") for m in sys.modules)
    assert "pickle" not in sys.modules or True
    print(json.dumps(out))
""")


def test_readable_with_plain_h5py_without_nmt_monitor(session_file, tmp_path):
    script = tmp_path / "plain.py"
    script.write_text(PLAIN_H5PY)
    result = subprocess.run([sys.executable, "-I", str(script), str(session_file)], capture_output=True,
                            text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["schema_version"] == "1.1"
    assert out["max_counts_vs_force"] < 1e-4
    assert out["client"] == "Client 7" and out["tolerance"] == 60.0
    assert out["markers"] == ["", "upper trapezius L", "client relaxed — good"]
    assert {"start_time", "stop_time", "mean_N", "drift_pct", "flags"} <= set(out["hold_columns"]) or \
        out["engine_status"] != "ok"


def test_an_existing_recording_is_never_overwritten(tmp_path, session_file):
    before = session_file.read_bytes()
    with pytest.raises(StorageError, match="never overwritten"):
        Recorder(session_file, {})
    assert session_file.read_bytes() == before
    # a directory gets a fresh name each time
    a = Recorder(tmp_path, {"client": "c"}, clock=lambda: T0)
    b = Recorder(tmp_path, {"client": "c"}, clock=lambda: T0)
    assert a.path != b.path and a.path.parent == tmp_path
    pa, pb = a.finish(), b.finish()
    assert pa.exists() and pb.exists()


def test_unwritable_or_full_directory_is_refused_before_the_session_starts(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot record into"):
        preflight(blocker / "sub")
    with pytest.raises(StorageError, match="free"):
        preflight(tmp_path, needed_bytes=10**18)
    with pytest.raises(StorageError, match="free"):
        Recorder(tmp_path / "x.h5", {}, expected_seconds=10**12, rate_hz=2000)
    assert list(tmp_path.iterdir()) == [blocker]  # nothing left behind


def test_record_command_refuses_a_bad_directory_before_connecting(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    # the port does not exist either: the directory error must come first
    result = run_cli("record", "--port", "/dev/ttyNMT_NO_SUCH_PORT", "--seconds", "1", "--out", blocker / "sub" / "a.h5")
    assert_one_line_error(result, "cannot record into")
    result = run_cli("record", "--port", "/dev/ttyNMT_NO_SUCH_PORT", "--seconds", "1", "--out", tmp_path / "a.h5")
    assert_one_line_error(result, "no such device")
    assert list(tmp_path.iterdir()) == [blocker]  # the session that never started left nothing


def test_write_failure_mid_session_keeps_samples_in_memory(tmp_path):
    warnings = []
    rec = Recorder(tmp_path / "m.h5", {}, clock=lambda: T0, on_warning=warnings.append)
    blocks = make_blocks(seconds=10.0)
    journal = rec._journal
    real_write = journal.write
    calls = {"n": 0}

    def failing_write(data):
        calls["n"] += 1
        if calls["n"] > 40:
            # half a record reaches the disk, then the disk is full
            real_write(data[: len(data) // 2]) if calls["n"] == 41 else None
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(data)

    journal.write = failing_write
    for b in blocks:
        rec.add(b)
    assert rec.in_memory and rec.samples_in_memory > 0
    assert len(warnings) == 1 and "in memory" in warnings[0] and "No space left" in warnings[0]
    journal.write = real_write
    path = rec.finish()
    s = open_session(path)
    np.testing.assert_allclose(s.force_n, np.concatenate([b.force_n for b in blocks]), atol=1e-4)
    assert "kept in memory" in s.attrs["storage_note"]


def test_failure_to_write_the_file_keeps_the_journal(tmp_path, monkeypatch):
    import nmt_monitor.storage.h5writer as w

    rec = Recorder(tmp_path / "k.h5", {}, clock=lambda: T0)
    for b in make_blocks(seconds=2.0):
        rec.add(b)

    def boom(*a, **k):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(w, "build_session_file", boom)
    with pytest.raises(StorageError, match="recover"):
        rec.finish()
    assert rec.journal_path.exists()
    monkeypatch.undo()
    path = rec.finish(out_path=tmp_path / "elsewhere.h5")
    assert open_session(path).n_samples == 1000 and not rec.journal_path.exists()


def test_open_session_errors(tmp_path):
    with pytest.raises(SessionFileError, match="no such file"):
        open_session(tmp_path / "none.h5")
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(SessionFileError, match="not a readable HDF5"):
        open_session(bad)
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(SessionFileError, match="not an nmt-monitor session"):
        open_session(tmp_path / "other.h5")


def test_export_csv_round_trip(session_file, tmp_path):
    out = tmp_path / "s.csv"
    n = export_csv(session_file, out)
    lines = out.read_text().splitlines()
    assert lines[0] == "time_s,force_N" and len(lines) == n + 1
    data = np.loadtxt(out, delimiter=",", skiprows=1)
    s = open_session(session_file)
    np.testing.assert_allclose(data[:, 0], s.time_s, atol=1e-6)
    np.testing.assert_allclose(data[:, 1], s.force_n, atol=1e-4)
    with pytest.raises(FileExistsError):
        export_csv(session_file, out)


def test_export_command_and_analyze_reads_it_back(session_file, tmp_path):
    out = tmp_path / "e.csv"
    result = run_cli("export", session_file, "--csv", out)
    assert result.returncode == 0, result.stderr
    again = run_cli("export", session_file, "--csv", out)
    assert_one_line_error(again, "exists")
    loaders = pytest.importorskip("nmt_monitor.loaders")
    rec = loaders.load_recording(str(out))
    np.testing.assert_allclose(np.asarray(rec.force_n), open_session(session_file).force_n, atol=1e-4)
    result = run_cli("analyze", out, "--json", "--tolerance", "60N")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["holds"]) == 1


def test_export_missing_file_is_one_line(tmp_path):
    assert_one_line_error(run_cli("export", tmp_path / "no.h5", "--csv", tmp_path / "o.csv"), "no such file")


def test_metadata_object_and_marker_validation(tmp_path):
    rec = Recorder(tmp_path, SessionMetadata(client="a"), clock=lambda: T0)
    with pytest.raises(ValueError, match="marker kind"):
        rec.mark("Bad Kind!")
    rec.finish()
