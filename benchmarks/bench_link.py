"""Unplug and replug: how long the reader takes to stream again, and what is lost.

    .venv/bin/python benchmarks/bench_link.py [--runs 10] [--skip-pty]

Each run unplugs the simulated sensor for 0.5-1.5 s (random) mid-stream (``--unplug-at``), on a real pty
(``python -m firmware_sim --pty``, a subprocess) and in-process (``sim://``), half of the
in-process runs with another sensor on replug. Prints, per transport: the time from the replug
to the ``reconnected`` event (host clock; the bar is 2 s), the time from the replug to the
first sample of the new segment (the device's own clock: it starts sampling at START), and
whether anything but the unplugged second was lost (both segments must be contiguous).
"""

from __future__ import annotations

import argparse
import select
import subprocess
import sys
import time

import numpy as np

from nmt_monitor.acquisition import LinkEvent, SampleBlock, SensorReader, concat_blocks

def one_run(url: str, unplug_for_s: float) -> dict:
    blocks, events = [], []
    with SensorReader(url) as reader:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            item = reader.get(timeout=0.1)
            if isinstance(item, SampleBlock):
                blocks.append(item)
            elif isinstance(item, LinkEvent):
                events.append(item)
            if any(e.kind == "reconnected" for e in events) and sum(len(b) for b in blocks if b.segment) >= 200:
                break
    lost = next(e for e in events if e.kind == "disconnected").host_time_s
    back = next(e for e in events if e.kind == "reconnected")
    before = concat_blocks([b for b in blocks if b.segment == 0])
    after = concat_blocks([b for b in blocks if b.segment == 1])
    return {
        "reconnect_s": back.host_time_s - lost - unplug_for_s,
        "first_sample_device_s": float(after.device_time_s[0]),
        "contiguous": bool(np.all(np.diff(before.seq) == 1) and np.all(np.diff(after.seq) == 1)),
        "same_sensor": back.detail.get("same_sensor"),
        "warnings": [e.detail.get("code") for e in events if e.kind == "warning" and e.detail.get("code")],
    }


def report(name: str, runs: list[dict]) -> None:
    rec = np.array([r["reconnect_s"] for r in runs])
    dev = np.array([r["first_sample_device_s"] for r in runs])
    print(f"  {name}: {len(runs)} runs; streaming again {rec.min():.2f}-{rec.max():.2f} s after the replug "
          f"(median {np.median(rec):.2f}); first sample {dev.min():.2f}-{dev.max():.2f} s after the device "
          f"powered up; contiguous segments in {sum(r['contiguous'] for r in runs)}/{len(runs)}")
    changed = [r for r in runs if r["same_sensor"] is False]
    if changed:
        flagged = sum("sensor_changed" in r["warnings"] for r in changed)
        print(f"    another sensor on replug: {flagged}/{len(changed)} flagged 'sensor_changed'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--skip-pty", action="store_true")
    args = parser.parse_args()
    print("== unplug for 0.5-1.5 s mid-stream, 500 Hz")
    rng = np.random.default_rng(0)
    runs = []
    for i in range(args.runs):
        replug = "&replug_serial=SIM-0002" if i % 2 else ""
        off = round(float(rng.uniform(0.5, 1.5)), 3)
        runs.append(one_run(f"sim://?scenario=steady&rate=500&seed={i}&unplug_at=1&unplug_for={off}{replug}", off))
    report("sim:// (in-process)", runs)
    if args.skip_pty:
        return
    runs = []
    for i in range(args.runs):
        off = round(float(rng.uniform(0.5, 1.5)), 3)
        sim = subprocess.Popen([sys.executable, "-m", "firmware_sim", "--pty", "--rate", "500", "--scenario",
                                "steady", "--seed", str(i), "--unplug-at", "1.5", "--unplug-for", str(off)],
                               stdout=subprocess.PIPE, text=True)
        try:
            select.select([sim.stdout], [], [], 20)
            runs.append(one_run(sim.stdout.readline().strip(), off))
        finally:
            sim.terminate()
            sim.wait(timeout=10)
    report("pty (python -m firmware_sim)", runs)


if __name__ == "__main__":
    main()
