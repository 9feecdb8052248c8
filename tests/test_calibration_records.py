"""Calibration records: applied by serial number; bad records named by field."""

import pytest

from nmt_monitor.calibration import CalibrationError, find_calibration, parse_calibration

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
