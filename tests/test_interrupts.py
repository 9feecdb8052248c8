"""Ctrl-C, SIGTERM and SIGHUP at random moments: every sample read from the sensor reaches
standard output (``stream``) or the file (``record``), in order, and the file is finished.

Judged from the data: sequence numbers must be contiguous, and the count must equal what
the link itself counted as read (its final ``link_stats``). Where in the stream a signal lands
is chosen in the data too: the signal is armed once the link has read a random number of
samples, then sent from another thread a random few milliseconds later, so the runs spread
over the stream however fast or busy the machine is, and each must deliver at least the
samples read before it was armed. A signal that lands while the sensor is still being
connected aborts the command (nothing was read).
"""

import argparse
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from nmt_monitor.commands import record, stream
from nmt_monitor.storage import open_session

#: A short scenario (a 5 s hold): the simulator renders it in a few ms when a port opens.
SCENARIO = """lead_in_s = 0.2
[[segments]]
kind = "hold"
level_n = 40
ramp_s = 0.5
hold_s = 5
"""


def parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_parser(parser.add_subparsers())
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    path = tmp_path_factory.mktemp("scenario") / "hold.toml"
    path.write_text(SCENARIO)
    return f"sim://?scenario={path}&rate=2000&speed=5&seed={{seed}}"


class Interrupter:
    """Sends SIGINT/SIGTERM/SIGHUP to this process from a thread, a random few milliseconds
    after ``after`` is set (the link has read the samples it waited for)."""

    def __init__(self, rng: random.Random, max_delay_s: float, signals=(signal.SIGINT,), after=None):
        self.delay = rng.uniform(0.0, max_delay_s)
        self.signum = rng.choice(signals)
        self.after = after
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        if self.after is not None:
            while not self.after.wait(0.05):
                if self._cancel.is_set():
                    return
        if not self._cancel.wait(self.delay):  # the random moment of the interruption
            os.kill(os.getpid(), self.signum)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._cancel.set()
        self._thread.join()


@pytest.fixture
def quiet_signals():
    """A signal that arrives after the command returned must not end the test run."""
    late = []
    previous = {s: signal.signal(s, lambda signum, frame: late.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield late
    for s, handler in previous.items():
        signal.signal(s, handler)


def samples_read_event(module, monkeypatch, n_samples: int):
    """An event set (on the reader's thread) once the command's link has read ``n_samples``."""
    reached = threading.Event()
    make_reader = module.make_reader

    def make(args):
        reader = make_reader(args)
        process = reader._process

        def process_and_count(data, host_time_s):
            process(data, host_time_s)
            if reader._stats.samples >= n_samples:
                reached.set()

        reader._process = process_and_count
        return reader

    monkeypatch.setattr(module, "make_reader", make)
    return reached


def run_stream(argv, monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    try:
        code = stream.run(parse(stream, ["stream", *argv]))
    except KeyboardInterrupt:
        code = 130
    finally:
        monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    return code, out.getvalue(), err.getvalue()


def check_stream_output(text):
    rows = [json.loads(line) for line in text.splitlines()]
    seq = np.array([r["seq"] for r in rows if "seq" in r])
    stats = [r for r in rows if r.get("event") == "link_stats"]
    assert len(stats) == 1 and rows[-1] is stats[0], "link_stats is the last line"
    assert seq.size == stats[0]["samples"], f"{stats[0]['samples']} samples read, {seq.size} printed"
    assert seq.size == 0 or np.all(np.diff(seq) == 1), "a hole in the printed samples"
    return seq.size


@pytest.fixture(scope="module", autouse=True)
def imported():
    """Import what the simulator and the recorder need once, uninterrupted: an interrupt
    inside a first import would leave a half-initialised module for the rest of the run (a
    real process exits instead)."""
    import firmware_sim.protocol_sim  # noqa: F401 - numpy, scipy
    import nmt_monitor.storage.h5writer  # noqa: F401 - h5py
    from nmt_monitor.acquisition import register_simulator

    register_simulator()


@pytest.mark.slow  # signals, 80 and 20 real-time runs
def test_stream_interrupted_at_80_random_moments_prints_every_sample_read(url, monkeypatch, quiet_signals):
    # With the 20 record runs below (and 5 while connecting): over 100 random interruptions.
    rng = random.Random(20261130)
    for i in range(80):
        armed_at = rng.randint(1, 800)  # samples read before the signal is armed (the hold is 11,400)
        armed = samples_read_event(stream, monkeypatch, armed_at)
        argv = ["--port", url.format(seed=i), "--format", "jsonl", "--seconds", "10"]
        with Interrupter(rng, 0.01, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP), after=armed):
            code, out, err = run_stream(argv, monkeypatch)
        monkeypatch.undo()
        assert code == 0, err
        assert check_stream_output(out) >= armed_at, f"signalled after {armed_at} samples were read"


def signal_while_connecting(module, monkeypatch, signum):
    """The command's reader gets ``signum`` as it starts connecting."""
    make_reader = module.make_reader

    def make(args):
        reader = make_reader(args)
        start = reader.start

        def signalled_start():
            os.kill(os.getpid(), signum)
            return start()

        reader.start = signalled_start
        return reader

    monkeypatch.setattr(module, "make_reader", make)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_while_connecting_aborts_with_nothing_left_behind(url, tmp_path, monkeypatch, quiet_signals, signum):
    signal_while_connecting(stream, monkeypatch, signum)
    code, out, err = run_stream(["--port", url.format(seed=1), "--format", "jsonl"], monkeypatch)
    assert (code, out) == (130, ""), err
    signal_while_connecting(record, monkeypatch, signum)
    h5 = tmp_path / "never.h5"
    with pytest.raises(KeyboardInterrupt):
        record.run(parse(record, ["record", "--port", url.format(seed=1), "--out", str(h5)]))
    assert not h5.exists() and not h5.with_suffix(".journal").exists()
    assert quiet_signals == []


@pytest.mark.slow  # signals, 80 and 20 real-time runs
def test_record_interrupted_at_random_moments_stores_every_sample_read(url, tmp_path, monkeypatch, quiet_signals):
    rng = random.Random(11)
    for i in range(20):
        out = tmp_path / f"r{i:02d}.h5"
        armed_at = rng.randint(1, 800)
        armed = samples_read_event(record, monkeypatch, armed_at)
        args = parse(record, ["record", "--port", url.format(seed=i), "--seconds", "10", "--out", str(out),
                              "--no-analysis"])
        err = io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        with Interrupter(rng, 0.01, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP), after=armed) as interrupter:
            code = record.run(args)
        monkeypatch.undo()
        assert code == 0, err.getvalue()
        s = open_session(out)
        seq = s.arrays["seq"]
        (stats,) = [e["detail"] for e in s.link_events if e["kind"] == "link_stats"]
        assert seq.size == s.n_samples == stats["samples"] >= armed_at, err.getvalue()
        assert np.all(np.diff(seq) == 1), "a hole in the stored samples"
        assert s.attrs["stopped_by"] == "stopped: " + {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM",
                                                         signal.SIGHUP: "SIGHUP"}[interrupter.signum]


# ---- real processes -----------------------------------------------------------------------

def _start(args):
    return subprocess.Popen([sys.executable, "-m", "nmt_monitor", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _read_until(proc, fragment: bytes) -> bytes:
    """Read the process's standard output (unbuffered, so ``communicate`` gets the rest)
    until ``fragment`` appears: it is streaming."""
    got = b""
    while fragment not in got:
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            raise AssertionError("the process ended before it streamed: " + proc.stderr.read().decode())
        got += chunk
    return got


# Real processes, one signal each (all three are sent in-process above, 100 times).
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM], ids=["SIGTERM"])
def test_stream_process_prints_every_sample_read_when_signalled(signum):
    proc = _start(["stream", "--port", "sim://?scenario=steady&rate=1000", "--format", "jsonl"])
    head = _read_until(proc, b'"seq": 200,')
    proc.send_signal(signum)
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    check_stream_output((head + rest).decode())


@pytest.mark.slow
@pytest.mark.parametrize("signum, name", [(signal.SIGINT, "Ctrl-C"), (signal.SIGHUP, "SIGHUP")])
def test_record_process_finishes_the_file_when_signalled(tmp_path, signum, name):
    out = tmp_path / "t.h5"
    proc = _start(["record", "--port", "sim://?scenario=steady&rate=500&seed=99", "--out", str(out),
                   "--tolerance", "60N"])
    journal = out.with_suffix(".journal")
    # The recorder says nothing until it stops; the journal growing past its header shows it
    # is recording (polled: there is nothing else to wait on from outside the process).
    while not (journal.exists() and journal.stat().st_size > 4000):
        assert proc.poll() is None, proc.stderr.read()
        threading.Event().wait(0.02)
    proc.send_signal(signum)
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"stopped: {name}".encode() in err and stdout.decode().strip() == str(out)
    s = open_session(out)
    assert s.attrs["stopped_by"] == f"stopped: {name}"
    (stats,) = [e["detail"] for e in s.link_events if e["kind"] == "link_stats"]
    assert s.n_samples == stats["samples"] > 0 and np.all(np.diff(s.arrays["seq"]) == 1)
    assert not journal.exists()
