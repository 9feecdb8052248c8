"""Ctrl-C, SIGTERM and SIGHUP at random moments into `stream` and `record`, in-process.

    .venv/bin/python benchmarks/bench_interrupts.py [--stream 200] [--record 50]

Each run starts the command on the in-process simulator (2 kHz at 5x speed: 10 k samples/s),
waits until the sensor is connected, then a random 0-50 ms (stream) or 0-100 ms (record)
and sends a random one of the three signals. Counts the runs whose printed or stored samples
have a hole (sequence numbers not contiguous) and, where the command reports it (link_stats),
those where fewer samples were written than read. Run against another checkout (e.g. to get
the figure before a change) with ``PYTHONPATH=/path/to/checkout``; commands that did not
handle SIGTERM/SIGHUP then need ``--signals INT`` (in-process, those signals are ignored here,
and the command would run to its end).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

SCENARIO = 'lead_in_s = 0.2\n[[segments]]\nkind = "hold"\nlevel_n = 40\nramp_s = 0.5\nhold_s = 5\n'
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_parser(parser.add_subparsers())
    return parser.parse_args(argv)


def interrupt_after_connect(module, rng: random.Random, max_delay_s: float):
    """Wrap ``module.make_reader`` so a random signal follows a random delay after start()."""
    make_reader = module.make_reader
    started = threading.Event()
    delay, signum = rng.uniform(0, max_delay_s), rng.choice(SIGNALS)

    def make(args):
        reader = make_reader(args)
        start = reader.start

        def start_and_tell():
            result = start()
            started.set()
            return result

        reader.start = start_and_tell
        return reader

    def fire():
        if started.wait(10):
            threading.Event().wait(delay)  # the random moment of the interruption
            os.kill(os.getpid(), signum)

    module.make_reader = make
    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread, lambda: setattr(module, "make_reader", make_reader)


def _join(thread: threading.Thread) -> None:
    """Wait for the interrupting thread; a Ctrl-C it sends after the command returned is spent here."""
    try:
        thread.join()
    except KeyboardInterrupt:
        thread.join()


def run_stream(url: str, rng: random.Random) -> tuple[bool, bool]:
    from nmt_monitor.commands import stream

    thread, restore = interrupt_after_connect(stream, rng, 0.05)
    out = io.StringIO()
    sys.stdout = out
    try:
        stream.run(parse(stream, ["stream", "--port", url, "--format", "jsonl", "--seconds", "10"]))
    except KeyboardInterrupt:
        pass
    finally:
        sys.stdout = sys.__stdout__
        restore()
        _join(thread)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    seq = np.array([r["seq"] for r in rows if "seq" in r])
    stats = [r for r in rows if r.get("event") == "link_stats"]
    hole = bool(seq.size and np.any(np.diff(seq) != 1))
    short = bool(stats and stats[-1]["samples"] != seq.size)
    return hole, short


def run_record(url: str, rng: random.Random, out: Path) -> tuple[bool, bool]:
    from nmt_monitor.commands import record
    from nmt_monitor.storage import open_session

    thread, restore = interrupt_after_connect(record, rng, 0.1)
    sys.stderr, saved = io.StringIO(), sys.stderr
    sys.stdout = io.StringIO()
    try:
        record.run(parse(record, ["record", "--port", url, "--seconds", "10", "--out", str(out), "--no-analysis"]))
    except KeyboardInterrupt:
        pass
    finally:
        sys.stderr, sys.stdout = saved, sys.__stdout__
        restore()
        _join(thread)
    s = open_session(out)
    seq = s.arrays["seq"]
    stats = [e["detail"] for e in s.link_events if e["kind"] == "link_stats"]
    hole = bool(seq.size and np.any(np.diff(seq) != 1))
    short = bool(stats and stats[-1]["samples"] != seq.size)
    return hole, short


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", type=int, default=200, help="stream runs")
    parser.add_argument("--record", type=int, default=50, help="record runs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--signals", default="INT,TERM,HUP", help="which signals to send (default INT,TERM,HUP)")
    args = parser.parse_args()
    global SIGNALS
    SIGNALS = tuple(getattr(signal, "SIG" + name.strip().upper()) for name in args.signals.split(","))
    import firmware_sim.protocol_sim  # noqa: F401 - imported before any signal can land in an import
    import nmt_monitor.storage.h5writer  # noqa: F401
    from nmt_monitor.acquisition import register_simulator

    register_simulator()
    # Ctrl-C is a KeyboardInterrupt, as in a real process (a command that does not handle it
    # is interrupted by it); SIGTERM/SIGHUP that arrive outside a command's handlers are ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda s, f: None)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "hold.toml"
        scenario.write_text(SCENARIO)
        url = f"sim://?scenario={scenario}&rate=2000&speed=5&seed={{}}"
        results = [run_stream(url.format(i), rng) for i in range(args.stream)]
        print(f"stream: {len(results)} runs interrupted; {sum(h for h, _ in results)} with a hole in the printed "
              f"samples, {sum(s for _, s in results)} printed fewer samples than were read")
        results = [run_record(url.format(i), rng, Path(tmp) / f"r{i}.h5") for i in range(args.record)]
        print(f"record: {len(results)} runs interrupted; {sum(h for h, _ in results)} with a hole in the stored "
              f"samples, {sum(s for _, s in results)} stored fewer samples than were read")


if __name__ == "__main__":
    main()
