"""Calibration fitting and records: the numbers, the errors that name the field, atomic writing."""

import datetime as dt
import subprocess

import numpy as np
import pytest

from tests.cli import run_cli
from nmt_monitor.calibration import (
    CalibrationError,
    CalibrationPoint,
    find_calibration,
    fit_calibration,
    format_calibration_record,
    load_calibration,
    load_sequence,
    parse_calibration,
    parse_calibration_points,
    parse_loads,
    write_calibration_record,
)

GAIN, OFFSET, FS = 39850.0, 152340.0, 200.0


def points_for(errors_n=lambda load, direction, repeat: 0.0, loads=(0, 50, 100, 150, 200), repeats=2):
    return [CalibrationPoint(x, OFFSET + GAIN * (x + errors_n(x, d, r)), d, r, 10.0, 200)
            for x, d, r in load_sequence(list(map(float, loads)), repeats)]


def test_exact_line_is_recovered_exactly():
    fit = fit_calibration(points_for(), FS)
    assert fit.gain_n_per_count == pytest.approx(1 / GAIN, rel=1e-12)
    assert fit.offset_counts == pytest.approx(OFFSET, abs=1e-6)
    assert fit.nonlinearity_pct_fs == pytest.approx(0, abs=1e-9)
    assert fit.hysteresis_pct_fs == pytest.approx(0, abs=1e-9)
    assert fit.repeatability_pct_fs == pytest.approx(0, abs=1e-9)
    assert fit.r_squared == pytest.approx(1.0)


def test_quality_figures_in_percent_of_full_scale():
    # unloading reads 0.2 N high at mid loads (hysteresis 0.1 % FS); repeat 2 reads 0.1 N higher
    def err(load, direction, repeat):
        return (0.2 if direction == "down" and 0 < load < 200 else 0.0) + (0.1 if repeat == 2 and load == 100 else 0)

    fit = fit_calibration(points_for(err), FS)
    assert fit.hysteresis_pct_fs == pytest.approx(0.1, abs=0.01)
    assert fit.repeatability_pct_fs == pytest.approx(0.05, abs=0.01)
    assert 0 < fit.nonlinearity_pct_fs < 0.2
    assert len(fit.residuals_n) == len(fit.points) == 17


def test_sequence_is_loading_then_unloading_repeated():
    seq = load_sequence([0.0, 100.0, 200.0], 2)
    assert [(x, d) for x, d, _ in seq] == [(0, "up"), (100, "up"), (200, "up"), (100, "down"), (0, "down"),
                                           (100, "up"), (200, "up"), (100, "down"), (0, "down")]


@pytest.mark.parametrize("text, fragment", [
    ("0,100,50,200", "must increase: 100 N then 50 N"),
    ("0,50,50,200", "must increase"),
    ("10,50,100", "first load must be 0"),
    ("0,100", "at least 3 loads"),
    ("0,abc,100", "cannot read force"),
    ("0,,100", "empty load"),
    ("0,100,300", "beyond the sensor's full scale"),
])
def test_bad_loads_name_the_flag(text, fragment):
    with pytest.raises(CalibrationError, match="--loads") as info:
        parse_loads(text, full_scale_n=200.0)
    assert fragment in str(info.value)


def test_loads_with_units():
    assert parse_loads("0,5kg,10kg") == pytest.approx([0, 49.03325, 98.0665])


def test_non_monotonic_or_incomplete_readings_name_the_field():
    pts = points_for()
    swapped = [CalibrationPoint(p.load_n, OFFSET + GAIN * 160.0 if p.load_n == 100 else p.counts,
                                p.direction, p.repeat) for p in pts]
    with pytest.raises(CalibrationError, match="points: counts are not monotonic"):
        fit_calibration(swapped, FS)
    with pytest.raises(CalibrationError, match="points: need at least 2"):
        fit_calibration(pts[:1], FS)
    with pytest.raises(CalibrationError, match="two or more different loads"):
        fit_calibration([pts[0], pts[0]], FS)
    with pytest.raises(CalibrationError, match=r"points\[0\]"):
        fit_calibration([CalibrationPoint(0.0, float("nan"))] + pts[1:], FS)
    with pytest.raises(CalibrationError, match="direction"):
        fit_calibration([CalibrationPoint(0.0, 1.0, "sideways")] + pts[1:], FS)
    with pytest.raises(CalibrationError, match="full_scale_n"):
        fit_calibration(pts, 0.0)


def test_record_round_trip_and_point_errors(tmp_path):
    fit = fit_calibration(points_for(), FS)
    text = format_calibration_record(fit, "S-9", dt.date(2026, 11, 20), source='test "quoted"')
    record = parse_calibration(text)
    assert record.serial == "S-9" and record.date == dt.date(2026, 11, 20)
    assert record.gain_n_per_count == fit.gain_n_per_count and record.offset_counts == fit.offset_counts
    pts = parse_calibration_points(text)
    assert len(pts) == 17 and pts[5].direction == "down"
    broken = text.replace('direction = "down"', 'direction = "left"', 1)
    with pytest.raises(CalibrationError, match=r"points\[5\]: field 'direction'"):
        parse_calibration_points(broken)
    with pytest.raises(CalibrationError, match=r"points\[0\]: missing field 'counts'"):
        parse_calibration_points(text.replace("counts = 152340.0\n", "", 1))
    with pytest.raises(CalibrationError, match="loads_n.*must increase"):
        parse_calibration_points(text.replace("loads_n = [0.0, 50.0", "loads_n = [0.0, 150.0"))


def test_writing_is_atomic_and_keeps_the_old_record(tmp_path):
    fit = fit_calibration(points_for(), FS)
    text = format_calibration_record(fit, "S-9", dt.date(2026, 11, 20))
    path = write_calibration_record(text, "S-9", tmp_path)
    assert path == tmp_path / "S-9.toml" and find_calibration("S-9", tmp_path).offset_counts == pytest.approx(OFFSET)
    before = path.read_text()
    for bad in (text.replace("gain_n_per_count", "gain"), text[: len(text) // 2] + "\n[[points]\n",
                text.replace('direction = "up"', 'direction = 1', 1)):
        with pytest.raises(CalibrationError):
            write_calibration_record(bad, "S-9", tmp_path)
        assert path.read_text() == before
    with pytest.raises(CalibrationError, match="does not match"):
        write_calibration_record(text, "OTHER", tmp_path)
    text2 = format_calibration_record(fit, "S-9", dt.date(2026, 11, 21))
    write_calibration_record(text2, "S-9", tmp_path)
    assert load_calibration(path).date == dt.date(2026, 11, 21)
    assert (tmp_path / "S-9.toml.bak").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["S-9.toml", "S-9.toml.bak"]


def test_cli_bad_loads_fail_before_connecting(tmp_path):
    result = run_cli("calibrate", "--port", "/dev/ttyNMT_NO_SUCH_PORT", "--loads", "0,100,50", "--yes",
                     "--calibration-dir", tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--loads: loads must increase" in result.stderr
    assert not list(tmp_path.iterdir())


def test_cli_interactive_quit_and_eof_write_nothing(tmp_path):
    url = "sim://?scenario=calibration&rate=200&speed=5"
    result = run_cli("calibrate", "--port", url, "--calibration-dir", tmp_path, input="q\n")
    assert result.returncode == 2 and "abandoned; nothing written" in result.stderr
    result = run_cli("calibrate", "--port", url, "--calibration-dir", tmp_path, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "use --yes" in result.stderr
    assert not list(tmp_path.iterdir())
    assert np.isfinite(GAIN)


def test_flat_step_names_the_loads_that_read_the_same_and_full_scale_type():
    from nmt_monitor.calibration import CalibrationPoint

    pts = [CalibrationPoint(0.0, 1000.0, "up", 1, 0.0, 0), CalibrationPoint(50.0, 2000.0, "up", 1, 0.0, 0),
           CalibrationPoint(100.0, 2000.0, "up", 1, 0.0, 0), CalibrationPoint(150.0, 4000.0, "up", 1, 0.0, 0)]
    with pytest.raises(CalibrationError, match=r"50 N reads 2000, 100 N reads 2000"):
        fit_calibration(pts, FS)
    pts[0] = CalibrationPoint(0.0, 2000.0, "up", 1, 0.0, 0)
    with pytest.raises(CalibrationError, match=r"0 N reads 2000, 50 N reads 2000"):
        fit_calibration(pts, FS)
    with pytest.raises(CalibrationError, match="full_scale_n"):
        parse_calibration_points('full_scale_n = "x"\nloads_n = [0.0, 50.0, 100.0]\n')
