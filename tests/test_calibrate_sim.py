"""`nmt-monitor calibrate` against the simulator's dead weights recovers its true calibration."""

import subprocess
import sys

import pytest

from firmware_sim.loadcell import TRUE_CALIBRATION
from nmt_monitor.calibration import find_calibration, parse_calibration_points

pytestmark = pytest.mark.slow


def test_calibrate_recovers_the_true_gain_and_offset_within_0_1_pct_fs(tmp_path):
    url = "sim://?scenario=calibration&rate=200&speed=20"
    result = subprocess.run(
        [sys.executable, "-m", "nmt_monitor", "calibrate", "--port", url, "--loads", "0,50,100,150,200",
         "--repeats", "2", "--yes", "--calibration-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "non-linearity" in result.stderr and "hysteresis" in result.stderr and "repeatability" in result.stderr
    record = find_calibration(TRUE_CALIBRATION.serial, tmp_path)
    assert record is not None and result.stdout.strip() == str(tmp_path / "SIM-0001.toml")
    fs = TRUE_CALIBRATION.full_scale_n
    true_gain = TRUE_CALIBRATION.gain_n_per_count
    # offset: the zero it implies, in N; gain: the force error it makes at full scale
    offset_error_n = abs(record.offset_counts - TRUE_CALIBRATION.offset_counts) * true_gain
    gain_error_n = abs(record.gain_n_per_count / true_gain - 1.0) * fs
    assert offset_error_n <= 0.001 * fs, offset_error_n
    assert gain_error_n <= 0.001 * fs, gain_error_n
    # and the whole transfer function, anywhere in the range
    for force in (0.0, 50.0, 100.0, 150.0, 200.0):
        counts = TRUE_CALIBRATION.newtons_to_counts(force)
        assert abs(record.counts_to_newtons(counts) - force) <= 0.001 * fs
    points = parse_calibration_points((tmp_path / "SIM-0001.toml").read_text())
    assert len(points) == 17
    assert {p.load_n for p in points} == {0.0, 50.0, 100.0, 150.0, 200.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SIM-0001.toml"]
