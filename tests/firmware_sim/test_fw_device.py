import numpy as np
import pytest

from firmware_sim import protocol as P
from firmware_sim.device import Device


def replies(frames):
    return [f for k, f in frames if k == "R"]


def data(frames):
    return [f for k, f in frames if k == "D"]


def run(dev, parse, cmds=b"", until=None):
    if cmds:
        dev.write(cmds)
    out = dev.advance_to(until if until is not None else dev.now)
    frames, rest = parse(out)
    assert rest == b""
    return frames


def test_id_reply_and_silence_before_start(parse):
    dev = Device("steady", rate_hz=1000, seed=1)
    assert dev.advance_to(2.0) == b""
    fr = run(dev, parse, b"ID\r\n")
    assert replies(fr) == ["OK ID proto=1 serial=SIM-0001 fw=1.0.0 fs_n=200 rate_hz=1000 counts_per_n=40000 streaming=0"]
    assert run(dev, parse, until=3.0) == []


def test_start_streams_contiguous_frames(parse):
    dev = Device("steady", rate_hz=1000, seed=1)
    dev.advance_to(1.2345)
    fr = run(dev, parse, b"start\n", until=2.2345)
    assert replies(fr) == ["OK START"]
    d = data(fr)
    assert len(d) == 100
    assert d[0]["seq"] == 0 and d[0]["first"] == 0
    assert abs(d[0]["t_us"] - 1234500) <= 1
    for a, b in zip(d, d[1:]):
        assert b["seq"] == a["seq"] + 1 and b["first"] == a["first"] + a["n"]
        assert b["t_us"] == a["t_us"] + a["n"] * a["iv"]
    assert all(f["n"] == 10 and f["iv"] == 1000 and f["status"] == 0 for f in d)
    # scenario t=0 is the first sample sent: the hand is not yet on the sensor -> counts near the zero offset
    assert abs(np.mean(d[0]["counts"]) - 152340) < 4 * 800
    assert dev.world.t0 == pytest.approx(1.2345, abs=1e-6)


def test_stop_then_start_continues_counters(parse):
    dev = Device("steady", rate_hz=500, seed=1)
    run(dev, parse, b"START\n", until=0.5)
    fr = run(dev, parse, b"STOP\n", until=1.0)
    assert replies(fr) == ["OK STOP"]
    assert len(data(fr)) <= 1
    dev.advance_to(2.0)
    fr = run(dev, parse, b"ID\n")
    assert replies(fr)[0].endswith("streaming=0")
    before = dev.frame_seq, dev.sample_counter
    fr = run(dev, parse, b"START\n", until=2.5)
    d = data(fr)
    assert (d[0]["seq"], d[0]["first"]) == before
    assert d[0]["t_us"] >= 2_000_000


@pytest.mark.parametrize("rate,n", [(50, 1), (100, 1), (300, 4), (1000, 10), (2000, 20)])
def test_rate_changes_interval_and_frame_size(parse, rate, n):
    dev = Device("steady", rate_hz=1000, seed=1)
    fr = run(dev, parse, f"RATE {rate}\nSTART\n".encode(), until=0.5)
    assert replies(fr) == [f"OK RATE rate_hz={rate}", "OK START"]
    d = data(fr)
    assert d[0]["iv"] == round(1e6 / rate) and d[0]["n"] == n
    fr = run(dev, parse, b"ID\n")
    assert f"rate_hz={rate}" in replies(fr)[0] and replies(fr)[0].endswith("streaming=1")


def test_rate_change_while_streaming_takes_effect_next_frame(parse):
    dev = Device("steady", rate_hz=1000, seed=1)
    run(dev, parse, b"START\n", until=0.105)
    fr = run(dev, parse, b"RATE 2000\n", until=0.3)
    d = data(fr)
    assert replies(fr) == ["OK RATE rate_hz=2000"]
    ivs = [f["iv"] for f in d]
    assert ivs[0] == 1000 and ivs[-1] == 500 and ivs.index(500) <= 1
    for a, b in zip(d, d[1:]):
        assert b["first"] == a["first"] + a["n"]


@pytest.mark.parametrize("cmd,reply", [
    (b"RATE 49\n", "ERR RATE reason=range"), (b"RATE 2001\n", "ERR RATE reason=range"),
    (b"RATE fast\n", "ERR RATE reason=range"), (b"RATE\n", "ERR RATE reason=syntax"),
    (b"FOO\n", "ERR FOO reason=unknown"), (b"id now\n", "ERR ID reason=syntax"),
    (b"X" * 100 + b"\n", "ERR " + "X" * 24 + " reason=too_long"),
])
def test_errors(parse, cmd, reply):
    dev = Device("steady", rate_hz=1000, seed=1)
    assert replies(run(dev, parse, cmd)) == [reply]


def test_empty_lines_ignored_and_cr_accepted(parse):
    dev = Device("steady")
    assert replies(run(dev, parse, b"\n\r\nuntare\r\n")) == ["OK UNTARE"]


def test_tare_while_streaming_sets_bits(parse):
    dev = Device("steady", rate_hz=1000, seed=2)
    run(dev, parse, b"START\n", until=0.2)
    fr = run(dev, parse, b"TARE\n", until=0.5)
    kinds = [k for k, _ in fr]
    r = replies(fr)
    assert len(r) == 1 and r[0].startswith("OK TARE offset=")
    offset = int(r[0].split("=")[1])
    assert abs(offset - 152340) < 1000
    idx = kinds.index("R")
    before, after = [f for k, f in fr[:idx] if k == "D"], [f for k, f in fr[idx + 1:] if k == "D"]
    assert all(not f["status"] & P.TARED for f in before)
    assert after[0]["status"] == P.TARED | P.TARE_DONE
    assert all(f["status"] == P.TARED for f in after[1:])
    assert 8 <= len(before) - 2 <= 12  # 0.1 s of readings, starting with the next frame
    assert abs(np.mean(after[0]["counts"])) < 1000
    fr = run(dev, parse, b"UNTARE\n", until=0.6)
    assert replies(fr) == ["OK UNTARE"]
    assert all(not f["status"] & P.TARED for f in data(fr)[1:])


def test_tare_while_idle_replies_after_window(parse):
    dev = Device("steady", rate_hz=1000, seed=2)
    dev.advance_to(1.0)
    assert run(dev, parse, b"TARE\n", until=1.05) == []
    fr = run(dev, parse, until=1.2)
    assert [r.split("=")[0] for r in replies(fr)] == ["OK TARE offset"]
    assert data(fr) == []
    fr = run(dev, parse, b"START\n", until=1.3)
    assert data(fr)[0]["status"] == P.TARED | P.TARE_DONE


def test_saturation_bit(parse):
    from firmware_sim.scenarios import scenario_from_toml
    sc = scenario_from_toml('lead_in_s = 0\n[[segments]]\nkind = "hold"\nlevel_n = 260\nramp_s = 0.1\nhold_s = 10\n')
    dev = Device(sc, rate_hz=1000)
    fr = run(dev, parse, b"START\n", until=3.0)
    d = data(fr)
    assert not d[0]["status"] & P.SATURATED
    assert d[-1]["status"] & P.SATURATED and max(d[-1]["counts"]) == 8388607


def test_clock_ppm_and_power_cycle(parse):
    dev = Device("steady", rate_hz=1000, clock_ppm=1000.0)
    dev.write(b"START\n")
    fr = run(dev, parse, until=10.0)
    d = data(fr)
    # 10 s of world time is 10.01 s of device time: 10010 samples
    assert sum(f["n"] for f in d) == pytest.approx(10010, abs=10)
    assert d[-1]["t_us"] + 9000 == pytest.approx(10_010_000, abs=10000)
    dev.power_cycle(12.0)
    t0 = dev.world.t0
    assert dev.advance_to(13.0) == b""
    fr = run(dev, parse, b"START\n", until=13.5)
    d = data(fr)
    assert d[0]["seq"] == 0 and d[0]["first"] == 0 and 1_000_500 < d[0]["t_us"] < 1_002_000
    assert dev.world.t0 == t0  # the therapist goes on


def test_faults_drop_and_corrupt(parse):
    dev = Device("steady", rate_hz=1000, drop_frames=0.2, corrupt=0.1, seed=4)
    dev.write(b"START\n")
    out = dev.advance_to(5.0)
    fr, _ = parse(out)
    d = data(fr)
    assert dev.frames_dropped > 50 and dev.frames_corrupted > 20
    assert len(d) <= 500 - dev.frames_dropped
    seqs = [f["seq"] for f in d]
    assert seqs == sorted(seqs) and seqs[-1] >= 495


def test_counts_follow_scenario(parse):
    dev = Device("steady", rate_hz=1000, seed=3)
    dev.write(b"START\n")
    fr, _ = parse(dev.advance_to(dev.world.duration_s + 2))
    counts = np.concatenate([f["counts"] for f in data(fr)])
    force = (counts - 152340) / 39850
    run_ = dev.world.run
    assert counts.size == pytest.approx(run_.force_n.size + 2000, abs=20)
    n = run_.force_n.size
    assert np.abs(force[:n] - run_.force_n).mean() < 0.2
    assert np.abs(force[n + 100:]).mean() < 0.2  # hand rests after the scenario


def test_write_with_time_keeps_output(parse):
    dev = Device("steady", rate_hz=1000)
    dev.write(b"START\n", 0.0)
    dev.write(b"STOP\n", 0.5)
    fr = run(dev, parse, until=1.0)
    assert replies(fr) == ["OK START", "OK STOP"]
    assert 49 <= len(data(fr)) <= 51


def test_loop_repeats_scenario():
    from firmware_sim.world import World
    w = World("pokes", seed=1, rate_hz=200, loop=True)
    w.start_scenario(10.0)
    d = w.duration_s
    t = 10.0 + np.linspace(0, d, 500, endpoint=False)
    assert np.allclose(w.force(t), w.force(t + d))
    w2 = World("pokes", seed=1, rate_hz=200)
    w2.start_scenario(10.0)
    assert np.all(w2.force(t + d + 1) == 0)  # rests after the scenario
