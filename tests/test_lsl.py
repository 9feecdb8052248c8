"""--lsl: the force and the events on a real Lab Streaming Layer inlet (loopback): every sample,
in order, stamped with the sensor's time (not the arrival time); markers at the right times."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl")

pytestmark = pytest.mark.slow

#: one hold over a 60 N tolerance: hold_started, over_tolerance_started, then both end at the release
SCENARIO = """
name = "lsl"
description = "one short hold over the tolerance"
tolerance_n = 60.0
target_band_n = [35.0, 50.0]
lead_in_s = [0.4, 0.4]

[[segments]]
kind = "hold"
level_n = [66.0, 66.0]
ramp_s = [0.4, 0.4]
hold_s = [5.0, 5.0]
release_s = [0.3, 0.3]
drift_pct = [0.0, 0.0]
corrections = [0, 0]
rest_s = [3.0, 3.0]
"""


def inlet(name: str, timeout: float = 30.0):
    found = pylsl.resolve_byprop("name", name, minimum=1, timeout=timeout)
    assert found, f"no LSL stream {name!r} on this machine"
    i = pylsl.StreamInlet(found[0], max_buflen=60, recover=False)
    i.open_stream(timeout=timeout)
    return i


def pull(i, into_values: list, into_ts: list) -> bool:
    """What has arrived; False once the outlet is gone."""
    try:
        values, ts = i.pull_chunk(timeout=0.0, max_samples=100_000)
    except pylsl.util.LostError:
        return False
    into_values.extend(values)
    into_ts.extend(ts)
    return True


def test_every_sample_and_marker_arrives_with_the_sensors_time(tmp_path):
    from nmt_monitor.acquisition import SampleBlock, SensorReader, concat_blocks
    from nmt_monitor.dsp import HoldEngine, HoldParams
    from nmt_monitor.lsl import LslPublisher, LslTap, event_marker

    scenario = tmp_path / "lsl.toml"
    scenario.write_text(SCENARIO)
    params = HoldParams(min_hold_s=2.0)
    name = f"test-{uuid.uuid4().hex[:8]}"
    publisher = LslPublisher(name, engine=True, params=params, tolerance_n=60.0, target_band_n=(35.0, 50.0))
    reader = SensorReader(f"sim://?scenario={scenario}&rate=1000&seed=3")
    reader.start()
    tap = LslTap(reader, publisher)
    try:
        publisher.open(reader.info)
        force_in, marker_in = inlet(f"{name} force"), inlet(f"{name} markers")
        before = pylsl.local_clock()
        publisher.marker("discomfort")  # a key press: stamped when it happens
        after = pylsl.local_clock()
        blocks, values, stamps, markers, marker_ts = [], [], [], [], []
        deadline = time.monotonic() + 60  # fails only if the events never come
        while time.monotonic() < deadline:
            item = tap.get(timeout=0.1)
            if isinstance(item, SampleBlock):
                blocks.append(item)
            pull(marker_in, markers, marker_ts)
            if sum('"hold_ended"' in m[0] for m in markers) and sum('"over_tolerance_ended"' in m[0] for m in markers):
                break
    finally:
        reader.stop()
    blocks += [b for b in tap.drain() if isinstance(b, SampleBlock)]
    sent = concat_blocks(blocks)
    deadline = time.monotonic() + 30
    while len(values) < len(sent) and time.monotonic() < deadline:
        pull(force_in, values, stamps)
        time.sleep(0.01)
    # every sample, in order, with its value
    assert len(values) == len(sent) == publisher.samples > 3000
    np.testing.assert_array_equal(np.array(values)[:, 0], sent.force_n.astype(np.float32))
    stamps = np.array(stamps)
    assert np.all(np.diff(stamps) > 0)
    # stamped with the sensor's time mapped onto LSL's clock: exactly the link's mapping ...
    offset = publisher.clock.value
    assert np.abs(stamps - (sent.host_time_s + offset)).max() < 1e-6
    # ... which follows the device clock within 5 ms (arrival times clump by the read period)
    fit = np.polyval(np.polyfit(sent.device_time_s, stamps, 1), sent.device_time_s)
    assert np.abs(stamps - fit).max() < 0.005
    assert stamps[-1] - stamps[0] == pytest.approx(sent.device_time_s[-1] - sent.device_time_s[0], abs=0.005)

    # markers: the engine's events on the same samples, at the times they refer to
    origin = float(sent.host_time_s[0])
    engine = HoldEngine(params, 60.0, (35.0, 50.0))
    expected = [event_marker(e) for e in engine.feed(sent.host_time_s - origin, sent.force_n)]
    expected = [(json.loads(text)["event"], t + origin + offset) for text, t in filter(None, expected)]
    got = [(json.loads(m[0])["event"], t) for m, t in zip(markers, marker_ts)]
    assert got[0][0] == "discomfort" and before <= got[0][1] <= after
    kinds = [k for k, _ in got[1:]]
    assert kinds[:len(expected)] == [k for k, _ in expected]
    assert {"hold_started", "over_tolerance_started", "over_tolerance_ended", "hold_ended"} <= set(kinds)
    for (k, t), (ek, et) in zip(got[1:], expected):
        assert abs(t - et) < 1e-6, k
    ended = json.loads(next(m[0] for m in markers if '"hold_ended"' in m[0]))
    assert ended["mean_N"] == pytest.approx(66, abs=3) and "over_tolerance" in ended["flags"]
    hold_start = next(t for k, t in got if k == "hold_started")
    assert stamps[0] + 0.3 < hold_start < stamps[0] + 1.5  # after the lead-in and the ramp


def test_stream_lsl_publishes_what_it_prints(tmp_path):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    stdout, stderr = (tmp_path / "out").open("w+"), (tmp_path / "err").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "nmt_monitor", "stream", "--port", "sim://?rate=500&seed=2",
                             "--seconds", "2.5", "--format", "jsonl", "--lsl", name], stdout=stdout, stderr=stderr,
                            text=True)
    try:
        force_in = inlet(f"{name} force")
        values, stamps = [], []
        while proc.poll() is None:
            pull(force_in, values, stamps)
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    pull(force_in, values, stamps)
    out, err = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "INFO" not in err  # liblsl's own log is kept quiet
    printed = [json.loads(line) for line in out.splitlines() if line.startswith('{"time_s"')]
    assert 100 < len(values) <= len(printed)
    # the inlet joined late (and the outlet left with the process): what it got is a run of the
    # printed samples, in order, none missing
    forces = np.array([p["force_N"] for p in printed])
    got = np.array(values)[:, 0]
    first = [k for k in range(len(printed) - len(values) + 1) if np.allclose(forces[k:k + 20], got[:20], atol=6e-5)]
    assert first, "the samples received are not a run of the printed ones"
    tail = printed[first[0]:first[0] + len(values)]
    np.testing.assert_allclose(np.array(values)[:, 0], [p["force_N"] for p in tail], atol=6e-5)
    # the same time axis as the printed samples (the sensor's time), shifted by one constant
    shift = np.array(stamps) - np.array([p["time_s"] for p in tail])
    assert np.ptp(shift) < 1e-5


def test_live_monitor_model_sends_its_engines_events_and_the_keys_markers():
    """live --lsl: the session model (between the sensor link and the screen) feeds the outlets
    the blocks, the events of its own hold engine as they arrive, and the markers of the keys."""
    from nmt_monitor.acquisition import SampleBlock
    from nmt_monitor.lsl import LslPublisher
    from nmt_monitor.storage import SessionMetadata
    from nmt_monitor.station.model import SessionModel

    name = f"live-{uuid.uuid4().hex[:8]}"
    model = SessionModel(SessionMetadata(tolerance_N=60.0, target_band_N=(35.0, 50.0), site="trapezius"))
    model.lsl = LslPublisher(name, site="trapezius")
    model.lsl.open(None)
    force_in, marker_in = inlet(f"{name} force"), inlet(f"{name} markers")
    rate, t0 = 200.0, time.time() - 20
    t = np.arange(0, 14, 1 / rate)
    f = np.interp(t, [0, 1, 1.5, 9, 9.4, 14], [0, 0, 40, 40, 0, 0]) + np.random.default_rng(0).normal(0, 0.05, t.size)
    for i in range(0, t.size, 50):
        sl = slice(i, i + 50)
        n = t[sl].size
        model.ingest([SampleBlock(t0 + t[sl], t[sl], np.arange(i, i + n), None, f[sl], np.zeros(n, bool))])
    model.mark("release_felt")
    values, stamps, markers, marker_ts = [], [], [], []
    deadline = time.monotonic() + 30
    while (len(values) < t.size or len(markers) < 4) and time.monotonic() < deadline:
        pull(force_in, values, stamps)
        pull(marker_in, markers, marker_ts)
        time.sleep(0.01)
    assert len(values) == t.size
    offset = model.lsl.clock.value
    assert np.abs(np.array(stamps) - (t0 + t + offset)).max() < 1e-6
    got = {json.loads(m[0])["event"]: ts for m, ts in zip(markers, marker_ts)}
    assert list(got) == ["site", "hold_started", "hold_ended", "release_felt"]
    assert got["site"] == pytest.approx(t0 + offset, abs=1e-6)  # the session's site, at its first sample
    assert 1.4 < got["hold_started"] - (t0 + offset) < 2.0 and 8.8 < got["hold_ended"] - (t0 + offset) < 9.4


def test_clock_offset_follows_a_wall_clock_step_but_not_a_late_reading(monkeypatch):
    from nmt_monitor import lsl

    wall = {"shift": 0.0, "late": 0.0}
    fake_mono = {"t": 0.0}
    monkeypatch.setattr(lsl.time, "monotonic", lambda: fake_mono["t"])
    clock = lsl.ClockOffset(lambda: 1000.0, wall=lambda: 5000.0 + wall["shift"] + wall["late"])
    assert clock.value == pytest.approx(-4000.0)
    wall["late"] = 0.01  # one delayed reading (a busy machine): ignored
    fake_mono["t"] += 1.1
    assert clock.current() == pytest.approx(-4000.0)
    wall["late"] = 0.0
    wall["shift"] = 3.0  # the wall clock was stepped: taken over once it is confirmed
    for _ in range(3):
        fake_mono["t"] += 1.1
        clock.current()
    assert clock.current() == pytest.approx(-4003.0)
