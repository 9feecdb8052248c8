"""Calibration records: applied by serial number; bad records named by field."""

import datetime as dt
import os

import pytest

from nmt_monitor.calibration import CalibrationError, find_calibration, parse_calibration
from tests.cli import assert_one_line_error, run_cli

GOOD = """serial = "S1"
date = 2026-01-02
full_scale_n = 200.0
[fit]
model = "linear"
gain_n_per_count = 2.5e-05
offset_counts = 1000.0
"""


def test_record_converts_counts_and_respects_tare():
    record = parse_calibration(GOOD)
    assert record.counts_to_newtons([41000]).tolist() == pytest.approx([1.0])
    assert record.counts_to_newtons([40000], tared=True).tolist() == pytest.approx([1.0])


@pytest.mark.parametrize(
    "broken, field",
    [
        (GOOD.replace('serial = "S1"\n', ""), "serial"),
        (GOOD.replace("date = 2026-01-02", 'date = "yesterday"'), "date"),
        (GOOD.replace("full_scale_n = 200.0", "full_scale_n = -1"), "full_scale_n"),
        (GOOD.replace("gain_n_per_count = 2.5e-05", 'gain_n_per_count = "x"'), "gain_n_per_count"),
        (GOOD.replace("offset_counts = 1000.0\n", ""), "offset_counts"),
        (GOOD.replace("offset_counts = 1000.0", "offset_counts = nan"), "offset_counts"),
        (GOOD.replace('model = "linear"', 'model = "cubic"'), "model"),
        ("serial = ", "TOML"),
        # Absurd values (issue 10): each refused, naming the field.
        (GOOD.replace("gain_n_per_count = 2.5e-05", "gain_n_per_count = 1e300"), "gain_n_per_count"),
        (GOOD.replace("gain_n_per_count = 2.5e-05", "gain_n_per_count = 1e-300"), "gain_n_per_count"),
        (GOOD.replace("gain_n_per_count = 2.5e-05", "gain_n_per_count = -2.5e-05"), "gain_n_per_count"),
        (GOOD.replace("gain_n_per_count = 2.5e-05", "gain_n_per_count = 0.0"), "gain_n_per_count"),
        (GOOD.replace("gain_n_per_count = 2.5e-05", "gain_n_per_count = nan"), "gain_n_per_count"),
        (GOOD.replace("full_scale_n = 200.0", "full_scale_n = inf"), "full_scale_n"),
        (GOOD.replace("full_scale_n = 200.0", "full_scale_n = 0.0"), "full_scale_n"),
        (GOOD.replace("full_scale_n = 200.0", "full_scale_n = nan"), "full_scale_n"),
        (GOOD.replace("offset_counts = 1000.0", "offset_counts = 1e12"), "offset_counts"),
        (GOOD.replace("date = 2026-01-02", f"date = {dt.date.today() + dt.timedelta(days=30)}"), "future"),
    ],
)
def test_malformed_record_names_the_field(broken, field):
    with pytest.raises(CalibrationError, match=field):
        parse_calibration(broken)


def test_find_by_serial(tmp_path):
    (tmp_path / "S1.toml").write_text(GOOD)
    assert find_calibration("S1", tmp_path).gain_n_per_count == 2.5e-05
    assert find_calibration("S2", tmp_path) is None
    (tmp_path / "S3.toml").write_text(GOOD)
    with pytest.raises(CalibrationError, match="does not match"):
        find_calibration("S3", tmp_path)


def test_the_simulator_record_ships():
    record = find_calibration("SIM-0001")
    assert record is not None and record.full_scale_n == 200.0


def test_a_record_that_is_not_utf8_is_an_error_naming_the_file(tmp_path):
    from nmt_monitor.calibration import load_calibration

    path = tmp_path / "S1.toml"
    path.write_bytes(GOOD.replace("S1", "S\u00e9").encode("latin-1"))
    with pytest.raises(CalibrationError, match="S1.toml: not UTF-8"):
        load_calibration(path)


def test_a_sensor_with_an_absurd_record_is_refused_in_one_line_naming_file_and_field(tmp_path):
    (tmp_path / "SIM-0001.toml").write_text(GOOD.replace('"S1"', '"SIM-0001"').replace(
        "gain_n_per_count = 2.5e-05", "gain_n_per_count = 1e300"))
    result = run_cli("stream", "--port", "sim://", "--seconds", "1", "--calibration-dir", tmp_path)
    assert_one_line_error(result, str(tmp_path / "SIM-0001.toml"), "gain_n_per_count")


def test_the_record_is_written_through_a_fresh_temporary_file(tmp_path):
    from nmt_monitor.calibration import write_calibration_record

    # Someone planted links where a predictable temporary name would be: nothing follows them.
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    for name in (f".S1.toml.tmp-{os.getpid()}", ".S1.toml.tmp", "S1.toml.bak"):
        (tmp_path / name).symlink_to(victim)
    path = write_calibration_record(GOOD, "S1", tmp_path)
    assert path == tmp_path / "S1.toml" and not path.is_symlink()
    assert parse_calibration(path.read_text()).serial == "S1"
    assert victim.read_text() == "keep me"
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    write_calibration_record(GOOD.replace("2.5e-05", "2.6e-05"), "S1", tmp_path)
    assert "2.5e-05" in (tmp_path / "S1.toml.bak").read_text() and victim.read_text() == "keep me"
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") and not p.is_symlink())
    assert leftovers == []
