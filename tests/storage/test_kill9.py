"""kill -9 while recording: 20 of 20 sessions recover, each losing at most 1 s of samples."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nmt_monitor.storage import open_session, recover_all


pytestmark = pytest.mark.slow

SESSIONS = 20
BATCH = 10
RATE = 500


def _start(out, seed):
    url = f"sim://?scenario=steady&rate={RATE}&seed={seed}"
    return subprocess.Popen(
        [sys.executable, "-m", "nmt_monitor", "record", "--port", url, "--seconds", "120", "--out", str(out),
         "--tolerance", "60N"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _wait_for_samples(journal, proc, min_bytes=8000, deadline_s=30.0):
    """Until the journal holds some sample records (or the deadline passes)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"recorder exited early: {proc.stderr.read().decode()}")
        if journal.exists() and journal.stat().st_size >= min_bytes:
            return
        time.sleep(0.02)  # polling the journal size with a deadline
    raise AssertionError("no samples written within the deadline")


def test_kill_9_at_random_moments_loses_at_most_one_second(tmp_path):
    rng = random.Random(20261120)
    killed = {}  # name -> (time of the kill, time samples started)
    for batch_start in range(0, SESSIONS, BATCH):
        procs = []
        for i in range(batch_start, min(SESSIONS, batch_start + BATCH)):
            out = tmp_path / f"k{i:02d}.h5"
            procs.append((out, _start(out, seed=i)))
        for out, proc in procs:
            _wait_for_samples(out.with_suffix(".journal"), proc)
        schedule = sorted(((rng.uniform(0.5, 2.5), out, proc) for out, proc in procs), key=lambda x: x[0])
        t0 = time.monotonic()
        for delay, out, proc in schedule:
            wait = delay - (time.monotonic() - t0)
            if wait > 0:
                time.sleep(wait)  # the random moment of the kill (not a synchronisation)
            killed[out.name] = time.time()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            assert proc.returncode == -signal.SIGKILL
            proc.stderr.close()
    assert len(list(tmp_path.glob("*.journal"))) == SESSIONS
    results = recover_all(tmp_path)
    assert sorted(r.status for r in results) == ["recovered"] * SESSIONS
    assert not list(tmp_path.glob("*.journal"))
    for r in results:
        s = open_session(r.path)
        host = s.host_time_s
        t_kill = killed[r.path.name]
        lost_s = t_kill - host[-1]
        print(f"{r.path.name}: lost {lost_s:.3f} s")
        assert lost_s <= 1.0, f"{r.path.name}: {lost_s:.3f} s of samples lost"
        seq = s.arrays["seq"]
        assert np.all(np.diff(seq) == 1), "recovered samples have holes"
        assert s.n_samples == pytest.approx((host[-1] - host[0]) * RATE, abs=RATE * 0.1)
        assert s.attrs["recovered"] == 1


# SIGTERM, Ctrl-C and SIGHUP while recording: tests/test_interrupts.py (every sample read is stored).
