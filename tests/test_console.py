"""Progress and tables: rich on a terminal, plain text when piped (what scripts and logs read)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

import numpy as np

from nmt_monitor.console import Progress, plain_table


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_is_plain_lines_when_not_on_a_terminal():
    out = io.StringIO()
    bar = Progress(2, "analyze ", stream=out)
    bar.update(1, "/data/a.h5")
    bar.update(1, "/data/b.csv")
    bar.close()
    lines = out.getvalue().splitlines()
    assert [ln.split()[:2] for ln in lines] == [["analyze:", "1/2"], ["analyze:", "2/2"]]
    assert lines[-1].endswith("b.csv") and "\r" not in out.getvalue()


def test_progress_is_a_bar_on_a_terminal():
    leader, follower = pty.openpty()
    with open(follower, "w", closefd=True) as stream:
        bar = Progress(3, "grading", stream=stream)
        for name in ("a.h5", "b.h5", "c.h5"):
            bar.update(1, name)
        bar.close()
    text = read_all(leader)
    os.close(leader)
    assert "grading" in text and "3/3" in text and "━" in text


def test_plain_table_alignment():
    rows = [("student", "score", "notes"), ("A", "100", "-"), ("Bea", "7", "late start")]
    assert plain_table(rows) == ["student  score  notes", "A          100  -", "Bea          7  late start"]


def test_analyze_draws_a_table_on_a_terminal(tmp_path):
    t = np.arange(0, 20, 0.01)
    np.savetxt(tmp_path / "f.csv", np.c_[t, np.where((t > 3) & (t < 15), 30.0, 0.0)], delimiter=",",
               header="time_s,force_N", comments="", fmt="%.3f")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "nmt_monitor", "analyze", "f.csv", "--tolerance", "60N"],
                            stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, cwd=tmp_path)
    os.close(follower)
    text = read_all(leader)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, text
    assert "f.csv: 2000 samples" in text and "start s" in text and "─" in text and "never over tolerance" in text
    # piped, the same command prints plain text (tests/test_analyze_cli.py reads it)
