"""Frames to samples: sample indices, gaps reported as gaps, device resets, calibration."""

import numpy as np

from firmware_sim import protocol as device_protocol
from nmt_monitor.acquisition.nmt_protocol import FrameDecoder
from nmt_monitor.acquisition.nmt_stream import ClockMapper, NmtSampleAssembler


def gain_convert(counts, tared):
    return (counts.astype(float) - np.where(tared, 0, 1000)) / 40000.0


def frames_bytes(specs):
    """specs: (frame_seq, first_sample, t_us, n, status) -> bytes, counts by sample index."""
    out = b""
    for seq, first, t_us, n, status in specs:
        counts = [1000 + 40000 * ((first + i) % 7) for i in range(n)]
        out += device_protocol.encode_data_frame(seq, first, t_us, 1000, status, counts)
    return out


def assemble(stream, assembler=None):
    assembler = assembler or NmtSampleAssembler(gain_convert, full_scale_n=200.0)
    blocks, events = assembler.assemble(FrameDecoder().feed(stream), host_receive_time_s=1000.0)
    return assembler, blocks, events


def test_contiguous_frames_give_contiguous_samples_in_newtons():
    a, blocks, events = assemble(frames_bytes([(i, 10 * i, 10_000 * i, 10, 0) for i in range(5)]))
    (block,) = blocks
    assert block.seq.tolist() == list(range(50))
    assert np.allclose(np.diff(block.device_time_s), 0.001)
    assert np.allclose(block.force_n, [(i % 7) for i in range(50)])
    assert events == [] and a.samples_lost == 0 and a.frames_lost == 0


def test_dropped_frames_are_reported_as_a_gap_not_filled():
    specs = [(i, 10 * i, 10_000 * i, 10, 0) for i in range(10) if i not in (3, 4)]
    a, blocks, events = assemble(frames_bytes(specs))
    (block,) = blocks
    assert len(block) == 80  # nothing invented
    assert np.diff(block.seq).max() == 21  # the jump is visible in seq
    gaps = [e for e in events if e.kind == "gap"]
    assert len(gaps) == 1 and gaps[0].detail["samples"] == 20 and gaps[0].detail["frames"] == 2
    assert a.samples_lost == 20 and a.frames_lost == 2


def test_counters_that_wrap_are_unwrapped():
    start = 2**32 - 25
    specs = [((2**32 - 2 + i) % 2**32, (start + 10 * i) % 2**32, 10_000 * i, 10, 0) for i in range(5)]
    a, blocks, events = assemble(frames_bytes(specs))
    assert np.all(np.diff(np.concatenate([b.seq for b in blocks])) == 1)
    assert events == [] and a.frames_lost == 0


def test_device_reset_starts_a_new_segment():
    specs = [(i, 10 * i, 10_000 * i, 10, 0) for i in range(5)] + [(i, 10 * i, 10_000 * i, 10, 0) for i in range(3)]
    a, blocks, events = assemble(frames_bytes(specs))
    assert [len(b) for b in blocks] == [50, 30]
    assert blocks[1].segment == blocks[0].segment + 1
    assert [e.kind for e in events] == ["device_reset"]
    assert a.samples_lost == 0


def test_tared_frames_skip_the_offset_and_rails_are_saturated():
    stream = device_protocol.encode_data_frame(0, 0, 0, 1000, 0x02 | 0x04, [40000, 8388607, -8388608])
    _, (block,), events = assemble(stream)
    assert block.force_n[0] == 1.0  # offset not subtracted when tared
    assert block.saturated.tolist() == [False, True, True]
    assert [e.kind for e in events] == ["tare"]


def test_clock_mapper_takes_the_least_delayed_observation():
    mapper = ClockMapper(window_s=30)
    rng = np.random.default_rng(1)
    for k in range(200):
        device_t = k * 0.01
        mapper.observe(device_t, 5000.0 + device_t + 0.002 + rng.exponential(0.008))
    assert abs(mapper.to_host(np.array([2.0]))[0] - 5002.0) < 0.003


def test_clock_mapping_never_goes_backwards_even_when_the_device_clock_runs_fast():
    # A device clock 5x fast (a simulator at speed 5) and jittery, clumped receive times.
    mapper = ClockMapper()
    rng = np.random.default_rng(2)
    last = -np.inf
    device_t = 0.0
    for k in range(2000):
        n = int(rng.integers(1, 200))
        block = device_t + np.arange(n) * 0.0005
        device_t = block[-1] + 0.0005
        mapper.observe(float(block[-1]), 100.0 + block[-1] / 5.0 + rng.exponential(0.01))
        host = mapper.to_host(block)
        assert np.all(np.diff(host) > 0) and host[0] > last
        last = host[-1]


def test_new_segment_starts_after_the_previous_one():
    a, blocks, _ = assemble(frames_bytes([(i, 10 * i, 10_000_000 + 10_000 * i, 10, 0) for i in range(5)]))
    a.new_segment()
    blocks2, _ = a.assemble(FrameDecoder().feed(frames_bytes([(0, 0, 0, 10, 0)])), host_receive_time_s=990.0)
    assert blocks2[0].host_time_s[0] > blocks[0].host_time_s[-1]


def test_railed_readings_after_a_tare_are_still_saturated():
    # After TARE the device subtracts the zero, so a railed reading arrives below the rail;
    # the frame's SATURATED bit (0x01) marks it. 206 N is under 1.05 x full scale.
    railed = 40000 * 206 + 1000
    stream = device_protocol.encode_data_frame(0, 0, 0, 1000, 0x01 | 0x02, [40000 * 50, railed])
    _, (block,), _ = assemble(stream)
    assert block.saturated.tolist() == [False, True]


def test_device_time_going_back_is_a_reset_even_when_counters_look_ahead():
    # A short first run, then the device restarts and its first frames are lost: its counters
    # are ahead of ours but its clock is behind. That is a new segment, not a 'gap' back in time.
    specs = [(i, 10 * i, 5_000_000 + 10_000 * i, 10, 0) for i in range(3)] + [(40, 400, 400_000, 10, 0)]
    a, blocks, events = assemble(frames_bytes(specs))
    assert [e.kind for e in events] == ["device_reset"]
    assert len(blocks) == 2 and blocks[1].host_time_s[0] > blocks[0].host_time_s[-1]
    assert a.samples_lost == 0
