"""Where calibration records are read and written: the user data folder (or a folder the user
names), with the simulator's record shipped inside the package as a read-only fallback."""

from __future__ import annotations

import os
from pathlib import Path

from nmt_monitor.calibration import SHIPPED_CALIBRATION_DIR, calibration_dir, find_calibration


def test_the_default_folder_is_in_the_user_data_folder():
    assert calibration_dir() == Path(os.environ["XDG_DATA_HOME"]) / "nmt-monitor" / "calibration"


def test_the_simulators_record_ships_with_the_package(tmp_path):
    record = find_calibration("SIM-0001", tmp_path)  # nothing of the user's
    assert record is not None and record.path.parent == SHIPPED_CALIBRATION_DIR
    assert find_calibration("SIM-0002", tmp_path) is None


def test_a_users_record_wins_over_the_shipped_one(tmp_path):
    text = (SHIPPED_CALIBRATION_DIR / "SIM-0001.toml").read_text().replace(
        "offset_counts = ", "offset_counts = 1", 1)
    (tmp_path / "SIM-0001.toml").write_text(text)
    record = find_calibration("SIM-0001", tmp_path)
    assert record.path == tmp_path / "SIM-0001.toml"
