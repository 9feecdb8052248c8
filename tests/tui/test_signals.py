"""`nmt-monitor live --record` on a real pseudo-terminal: Ctrl-C and a lost terminal (SIGHUP)
both finish the session file."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from nmt_monitor.storage import open_session

pytestmark = pytest.mark.slow


def start_live(out_dir):
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nmt_monitor", "live", "--port", "sim://?scenario=steady&rate=200",
         "--record", "--out", str(out_dir), "--client", "sig"],
        stdin=follower, stdout=follower, stderr=follower, start_new_session=True,
        env=dict(os.environ, TERM="xterm-256color"))
    os.close(follower)
    return proc, leader


def pump_until(leader, proc, condition, timeout: float) -> None:
    """Read (and drop) the screen output until ``condition()``, with a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out")
        ready, _, _ = select.select([leader], [], [], 0.05)
        if ready:
            try:
                os.read(leader, 65536)
            except OSError:
                pass


@pytest.mark.parametrize("how", ["ctrl-c", "sighup"])
def test_session_is_finished(tmp_path, how):
    proc, leader = start_live(tmp_path)
    try:
        pump_until(leader, proc, lambda: any(p.stat().st_size > 10000 for p in tmp_path.glob("*.journal")), 20)
        if how == "ctrl-c":
            os.write(leader, b"\x03")
        else:
            os.close(leader)  # the terminal goes away ...
            leader = None
            os.killpg(proc.pid, signal.SIGHUP)  # ... and its session gets SIGHUP
        if leader is not None:
            pump_until(leader, proc, lambda: proc.poll() is not None, 20)
        else:
            proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        if leader is not None:
            os.close(leader)
    files = list(tmp_path.glob("*.h5"))
    assert len(files) == 1 and not list(tmp_path.glob("*.journal"))
    s = open_session(files[0], arrays=False)
    assert s.n_samples > 100 and s.metadata["client"] == "sig"
