"""Make the small example sessions in ``recordings/`` with the built-in simulator.

    python -m nmt_monitor.storage.examples [DIR] [--speed X]

Each session streams a simulator scenario through the real acquisition path (``sim://`` and
``SensorReader``) into a ``Recorder``, faster than real time: the host clock handed to the
reader and the recorder runs ``speed`` times faster too, so the timestamps are those of a
real-time recording. Existing files are left alone (a recording is never overwritten).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nmt_monitor.acquisition import SampleBlock, SensorReader
from nmt_monitor.storage.recorder import Recorder, SessionMetadata

#: name -> (scenario, seed, rate Hz, seconds, metadata, markers [(seconds, kind, text)])
EXAMPLES = {
    "example-steady": ("steady", 1, 100, 50.0,
                       dict(therapist="student A", client="client 01", tolerance_N=80.0, target_band_N=(30.0, 50.0),
                            target_hold_s=15.0, contact_tip="thumb", tip_area_cm2=1.5, site="upper trapezius L"),
                       [(1.0, "site", "upper trapezius L"), (30.0, "release_felt", "")]),
    "example-drifting": ("drifting", 2, 100, 50.0,
                         dict(therapist="student B", client="client 02", tolerance_N=80.0, target_band_N=(30.0, 50.0),
                              target_hold_s=20.0, contact_tip="knuckle", tip_area_cm2=2.0, site="levator scapulae R"),
                         [(1.0, "site", "levator scapulae R"), (25.0, "note", "pressure fading")]),
    "example-over-tolerance": ("over_tolerance", 3, 100, 50.0,
                               dict(therapist="student C", client="client 03", tolerance_N=60.0,
                                    target_band_N=(35.0, 50.0), target_hold_s=10.0, contact_tip="elbow",
                                    tip_area_cm2=4.0, site="gluteus medius L"),
                               [(1.0, "site", "gluteus medius L"), (20.0, "discomfort", "client flinched")]),
}


def make_example(out_dir: Path, name: str, speed: float = 10.0) -> Path | None:
    scenario, seed, rate, seconds, meta, markers = EXAMPLES[name]
    path = Path(out_dir) / f"{name}.h5"
    if path.exists():
        return None
    m0, t0 = time.monotonic(), time.time()

    def clock() -> float:
        return t0 + (time.monotonic() - m0) * speed

    url = f"sim://?scenario={scenario}&rate={rate}&seed={seed}&speed={speed:g}"
    reader = SensorReader(url, rate_hz=rate, clock=clock).start()
    recorder = Recorder(path, SessionMetadata(notes=f"simulated: {url}", **meta), clock=clock)
    recorder.set_sensor(reader.info)
    start = clock()
    pending = sorted(markers)
    try:
        while clock() - start < seconds:
            item = reader.get(timeout=0.05)
            if item is not None:
                recorder.add(item)
            while pending and clock() - start >= pending[0][0]:
                _, kind, text = pending.pop(0)
                recorder.mark(kind, text)
            recorder.tick()
    finally:
        reader.stop()
    for item in reader.drain():
        if not isinstance(item, SampleBlock) or item.host_time_s[0] - start < seconds:
            recorder.add(item)
    return recorder.finish(reason="stopped: duration")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=Path("recordings"))
    parser.add_argument("--speed", type=float, default=10.0)
    args = parser.parse_args(argv)
    for name in EXAMPLES:
        path = make_example(args.dir, name, args.speed)
        print(f"{name}: {'exists, left alone' if path is None else f'{path} ({path.stat().st_size} bytes)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
