"""Output paths are checked before any work: a dangling symbolic link, a 250-character name or a
folder that cannot be written, as ``record --out``, ``export --csv`` or ``grade --report``, is
one line at once (``record``: before recording starts); a full disk under ``grade --report``
is one line too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli import assert_one_line_error, run_cli
from tests.storage.test_failures import tmpfs

REPO = Path(__file__).resolve().parents[1]
GOOD = REPO / "recordings" / "example-steady.h5"
LONG = "a" * 246  # + ".h5" / ".csv": a legal name, until the temporary ".<name>.XXXXXXXX.partial"


def _nothing_written(directory: Path, *allowed: str) -> None:
    assert sorted(p.name for p in directory.iterdir()) == sorted(allowed)


@pytest.fixture
def dangling(tmp_path):
    def make(name: str) -> Path:
        link = tmp_path / name
        link.symlink_to(tmp_path / "gone" / name)
        return link
    return make


def test_record_refuses_a_dangling_link_and_a_long_name_before_recording(tmp_path, dangling):
    link = dangling("session.h5")
    # --seconds 60: had it started recording, the run would take a minute and leave a journal
    result = run_cli("record", "--port", "sim://", "--seconds", "60", "--out", link, timeout=30)
    assert_one_line_error(result, "--out", "dangling symbolic link")
    long_name = tmp_path / (LONG + ".h5")
    result = run_cli("record", "--port", "sim://", "--seconds", "60", "--out", long_name, timeout=30)
    assert_one_line_error(result, "--out", "name is too long")
    result = run_cli("record", "--port", "sim://", "--seconds", "60", "--out", tmp_path / ("d" * 300), timeout=30)
    assert_one_line_error(result, "--out", "name is too long")
    _nothing_written(tmp_path, "session.h5")  # only the link itself


def test_export_refuses_bad_outputs_before_reading(tmp_path, dangling):
    assert_one_line_error(run_cli("export", GOOD, "--csv", dangling("out.csv")), "--csv", "dangling symbolic link")
    assert_one_line_error(run_cli("export", GOOD, "--csv", tmp_path / (LONG + ".csv")), "--csv", "name is too long")
    assert_one_line_error(run_cli("export", GOOD, "--csv", tmp_path / "no" / "out.csv"), "--csv", "no such directory")
    _nothing_written(tmp_path, "out.csv")


def test_grade_refuses_bad_report_folders_before_grading(tmp_path, dangling):
    assert_one_line_error(run_cli("grade", GOOD, "--report", dangling("report")), "--report", "dangling")
    assert_one_line_error(run_cli("grade", GOOD, "--report", tmp_path / ("r" * 300)), "--report", "too long")
    _nothing_written(tmp_path, "report")


def test_read_only_outputs_are_refused_up_front(tmp_path):
    with tmpfs(tmp_path / "mnt", "1m") as mnt:
        (mnt / "reports").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        assert_one_line_error(run_cli("export", GOOD, "--csv", mnt / "out.csv"), "--csv", "Read-only file system")
        assert_one_line_error(run_cli("grade", GOOD, "--report", mnt / "reports"), "--report",
                              "Read-only file system")


def test_a_full_disk_under_grade_report_is_one_line(tmp_path):
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    for name in ("example-steady", "example-drifting", "example-over-tolerance"):  # by name: never list recordings/
        src = REPO / "recordings" / f"{name}.h5"
        shutil.copyfile(src, sessions / src.name)
    with tmpfs(tmp_path / "mnt", "96k") as mnt:
        result = run_cli("grade", sessions, "--report", mnt / "report", "--jobs", "1", "--no-holds", timeout=120)
        assert_one_line_error(result, "report", "No space left on device")
