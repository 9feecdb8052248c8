"""10^6 fuzzed bytes per decoder: no crash, no corrupt sample accepted, resynchronisation
within one frame (or line).

The wire is damaged by ``firmware_sim.linenoise`` (flipped bytes, overruns that merge lines,
inserted and truncated runs, bursts of garbage), written independently of the decoders. Own
protocol: every sample passed on must be the one sent under its sequence number (the CRC
allows none through), and every frame that arrived intact must be decoded. Gauge lines carry
no checksum: at most 0.5 % of the readings passed on may be values never sent, and every
intact line (after the format is known) must be read. A bigger run: benchmarks/bench_fuzz.py.
"""

import numpy as np

from firmware_sim import protocol as device
from firmware_sim.linenoise import damage
from nmt_monitor.acquisition.gauge import GaugeLineDecoder
from nmt_monitor.acquisition.links import NmtLink
from nmt_monitor.acquisition.nmt_protocol import FrameDecoder
from nmt_monitor.acquisition.nmt_stream import NmtSampleAssembler

FUZZ_BYTES = 1_000_000
DAMAGE_RATE = 0.1  # one frame or line in ten is damaged


def own_protocol_frames(n_bytes, seed=0):
    """Data frames of 10 samples (1 kHz framing) with a reply now and then; the truth."""
    rng = np.random.default_rng(seed)
    n_frames = n_bytes // 56
    counts = (rng.normal(0, 2000, n_frames * 10).cumsum() + 1e6).astype(np.int64)
    frames = []
    for i in range(n_frames):
        frames.append(device.encode_data_frame(i, 10 * i, 1000 * 10 * i, 1000, 0, counts[10 * i:10 * i + 10]))
        if i % 500 == 250:
            frames.append(device.encode_reply("OK TARE offset=1234"))
    return frames, counts


def chunks(data, rng):
    pos = 0
    while pos < len(data):
        size = int(rng.integers(1, 8192))
        yield data[pos:pos + size]
        pos += size


def test_own_protocol_fuzzed_never_passes_a_corrupt_sample_and_resyncs_within_a_frame():
    frames, truth = own_protocol_frames(FUZZ_BYTES)
    noisy = damage(frames, DAMAGE_RATE, seed=1)
    assert len(noisy.data) >= FUZZ_BYTES * 0.95 and noisy.damaged.sum() > 1500
    link = NmtLink("fuzz://")
    link.assembler = NmtSampleAssembler(lambda counts, tared: counts.astype(np.float64), 1e12)
    seqs, counts = [], []
    for chunk in chunks(noisy.data, np.random.default_rng(2)):
        for block in link.data_received(chunk, 1e9):
            seqs.append(block.seq)
            counts.append(block.counts)
    seq, got = np.concatenate(seqs), np.concatenate(counts)
    assert np.all((seq >= 0) & (seq < truth.size)), "a sample index never sent"
    assert np.array_equal(got, truth[seq]), f"{np.count_nonzero(got != truth[seq])} corrupt samples passed on"
    assert np.all(np.diff(seq) > 0), "samples out of order or repeated"
    # Resynchronisation: every data frame that arrived intact was decoded (frames are units
    # of the noise; replies carry no samples).
    is_data = np.array([f[2] == device.TYPE_DATA for f in frames])
    first_of_frame = np.cumsum(is_data) - 1
    intact = np.unique(first_of_frame[noisy.intact & is_data])
    decoded = np.unique(seq // 10)
    assert np.setdiff1d(intact, decoded).size == 0, "an intact frame after damage was not found"
    assert link.decoder.counters.crc_failures > 0


def test_own_protocol_random_bytes_give_nothing():
    data = np.random.default_rng(3).integers(0, 256, FUZZ_BYTES, dtype=np.uint8).tobytes()
    decoder = FrameDecoder()
    rng = np.random.default_rng(4)
    frames = sum(decoder.feed(chunk).n_frames for chunk in chunks(data, rng))
    assert frames == 0


def gauge_lines(n_bytes, seed=0):
    """Mark-10 style lines of a hand's force: holds, ramps, rest, 3 decimals."""
    rng = np.random.default_rng(seed)
    n = n_bytes // 9
    t = np.arange(n) / 80.0
    force = 40 + 25 * np.sin(t / 7.0) + np.cumsum(rng.normal(0, 0.02, n))
    force = np.where(np.sin(t / 11.0) > 0.8, 0.0, force) + rng.normal(0, 0.01, n)  # rests
    lines = [f"{v:.3f} N\r\n".encode() for v in force]
    return lines, np.round(force, 3)


def test_gauge_lines_fuzzed_at_most_half_a_percent_never_sent_and_intact_lines_read():
    lines, truth = gauge_lines(FUZZ_BYTES)
    noisy = damage(lines, DAMAGE_RATE, seed=5, terminator=b"\r\n")
    decoder = GaugeLineDecoder()
    per = 64  # lines fed at a time: a value read there was sent within these lines (or the next)
    never_sent = read = 0
    got_by_chunk = []
    for start in range(0, len(lines), per):
        values = np.round(decoder.feed(b"".join(noisy.units[start:start + per])).force_n, 3)
        got_by_chunk.append(values)
        near = set(truth[max(0, start - 3):start + per + 2].tolist())
        never_sent += sum(v not in near for v in values.tolist())
        read += values.size
    assert read > 0.85 * len(lines)
    assert never_sent / read <= 0.005, f"{never_sent} of {read} readings were never sent"
    # Resynchronisation within one line: an intact line is read (in its chunk or, held for
    # confirmation, the next), once the format is known (the first lines).
    lost = 0
    for i in np.flatnonzero(noisy.intact[10:]) + 10:
        k = i // per
        seen = np.concatenate(got_by_chunk[k:k + 2])
        lost += truth[i] not in seen
    assert lost <= 0.001 * noisy.intact.sum(), f"{lost} intact lines not read"


def test_gauge_random_bytes_give_nothing():
    data = np.random.default_rng(6).integers(0, 256, FUZZ_BYTES, dtype=np.uint8).tobytes()
    decoder = GaugeLineDecoder()
    read = sum(decoder.feed(chunk).force_n.size for chunk in chunks(data, np.random.default_rng(7)))
    assert read == 0
