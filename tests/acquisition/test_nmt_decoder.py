"""The host's protocol decoder against frames built by the simulator's independent encoder."""

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_sim import protocol as device_protocol
from nmt_monitor.acquisition.nmt_protocol import (
    ADC_MAX,
    ADC_MIN,
    MAX_FRAME_BYTES,
    FrameDecoder,
    crc16_ccitt_false,
    parse_reply,
)


def make_frames(rng: random.Random, count: int, with_replies: bool = True):
    """(stream bytes, list of expected frames) with random sizes, status bits and counts."""
    frames, chunks = [], []
    first = rng.randrange(0, 2**32)
    t_us = rng.randrange(0, 2**40)
    for seq in range(count):
        if with_replies and rng.random() < 0.1:
            text = rng.choice(["OK START", "OK TARE offset=-1234", "ERR RATE reason=range", "OK ID proto=1 serial=X"])
            chunks.append(device_protocol.encode_reply(text))
            frames.append(("reply", text))
            continue
        n = rng.randint(1, 78)
        counts = [rng.choice([rng.randint(ADC_MIN, ADC_MAX), ADC_MAX, ADC_MIN, 0, -1]) for _ in range(n)]
        status = rng.randrange(0, 16)
        interval = rng.choice([500, 1000, 5000, 20000])
        chunks.append(device_protocol.encode_data_frame(seq, first, t_us, interval, status, counts))
        frames.append(("data", (seq, first % 2**32, t_us, interval, status, tuple(counts))))
        first += n
        t_us += n * interval
    return b"".join(chunks), frames, chunks


def decode_all(stream: bytes, chunk_sizes=None):
    decoder = FrameDecoder()
    out = []
    pos = 0
    sizes = iter(chunk_sizes or [])
    while pos < len(stream):
        size = next(sizes, len(stream) - pos)
        out.append(decoder.feed(stream[pos : pos + size]))
        pos += size
    return decoder, out


def flatten(results):
    """The decoded frames as the same tuples make_frames produced (data frames only)."""
    frames = []
    for res in results:
        offsets = np.concatenate([[0], np.cumsum(res.n_samples)])
        for i in range(res.n_frames):
            frames.append(
                (
                    int(res.frame_seq[i]),
                    int(res.first_sample[i]),
                    int(res.device_time_us[i]),
                    int(res.interval_us[i]),
                    int(res.status[i]),
                    tuple(res.counts[offsets[i] : offsets[i + 1]].tolist()),
                )
            )
    return frames


def test_crc_check_value():
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_known_frame_bytes_decode_to_documented_fields():
    # Built by hand from docs/protocol.md: seq 7, first sample 1000, t 123456 µs, 500 µs interval,
    # status TARED, two samples +1 and -2.
    payload = (
        (7).to_bytes(4, "little") + (1000).to_bytes(4, "little") + (123456).to_bytes(8, "little")
        + (500).to_bytes(2, "little") + bytes([0x02, 2]) + bytes([1, 0, 0]) + bytes([0xFE, 0xFF, 0xFF])
    )
    body = bytes([0x44, len(payload)]) + payload
    frame = b"\xa5\x5a" + body + crc16_ccitt_false(body).to_bytes(2, "big")
    res = FrameDecoder().feed(frame)
    assert res.n_frames == 1
    assert (int(res.frame_seq[0]), int(res.first_sample[0]), int(res.device_time_us[0])) == (7, 1000, 123456)
    assert int(res.interval_us[0]) == 500 and int(res.status[0]) == 0x02
    assert res.counts.tolist() == [1, -2]


@pytest.mark.parametrize("seed", range(5))
def test_round_trip_every_frame_type_in_any_chunking(seed):
    rng = random.Random(seed)
    stream, expected, _ = make_frames(rng, 300)
    sizes = [rng.randint(1, 200) for _ in range(len(stream))]
    decoder, results = decode_all(stream, sizes)
    assert flatten(results) == [f for kind, f in expected if kind == "data"]
    assert [r for res in results for r in res.replies] == [f for kind, f in expected if kind == "reply"]
    assert decoder.counters.bytes_skipped == 0 and decoder.counters.crc_failures == 0
    assert decoder.buffered_bytes == 0


def test_one_byte_at_a_time_equals_one_chunk():
    stream, expected, _ = make_frames(random.Random(9), 60)
    _, whole = decode_all(stream)
    _, bytewise = decode_all(stream, [1] * len(stream))
    assert flatten(whole) == flatten(bytewise)


def test_garbage_between_frames_is_skipped_and_counted():
    rng = random.Random(3)
    _, expected, chunks = make_frames(rng, 50, with_replies=False)
    garbage = [bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))) for _ in chunks]
    stream = b"".join(g + c for g, c in zip(garbage, chunks))
    decoder, results = decode_all(stream, [rng.randint(1, 100) for _ in range(len(stream))])
    assert flatten(results) == [f for _, f in expected]
    assert decoder.counters.bytes_skipped == sum(map(len, garbage))


def test_sync_bytes_inside_payload_do_not_confuse_the_decoder():
    counts = [0x5AA5, 0x5AA5 << 8, -0x5A5B, 0xA55A]  # sync pattern spread over sample bytes
    frame = device_protocol.encode_data_frame(0xA55A, 0x5AA55AA5, 0xA55A, 500, 0, counts)
    decoder, results = decode_all(frame * 20, [7] * 1000)
    assert len(flatten(results)) == 20
    assert decoder.counters.bytes_skipped == 0


def test_truncated_frame_followed_by_a_good_one():
    _, expected, chunks = make_frames(random.Random(5), 3, with_replies=False)
    stream = chunks[0][:-10] + chunks[1] + chunks[2]
    decoder, results = decode_all(stream)
    assert flatten(results) == [expected[1][1], expected[2][1]]
    assert decoder.counters.bytes_skipped == len(chunks[0]) - 10


def test_a_frame_cut_short_inside_its_crc_does_not_hide_the_next_one():
    # A frame that lost its last byte, whose CRC the next frame's first byte (0xA5) happens to
    # complete: it is accepted (its content is intact), and the next frame, which begins in
    # its CRC, is found too: resynchronisation within one frame, in any chunking.
    counts = 0
    while True:
        cut_short = device_protocol.encode_data_frame(1, 10, 1000, 1000, 0, [counts] * 10)
        if cut_short[-1] == 0xA5:
            break
        counts += 1
    nxt = device_protocol.encode_data_frame(2, 20, 11000, 1000, 0, list(range(10)))
    last = device_protocol.encode_data_frame(3, 30, 21000, 1000, 0, list(range(10)))
    stream = cut_short[:-1] + nxt + last
    for sizes in (None, [1] * len(stream), [len(cut_short) - 1, 5, 1000], [len(cut_short), 1000]):
        decoder, results = decode_all(stream, sizes)
        assert [f[0] for f in flatten(results)] == [1, 2, 3], sizes
        assert decoder.counters.bytes_skipped == 0 and decoder.buffered_bytes == 0


def test_parse_reply():
    assert parse_reply("OK ID proto=1 serial=SIM-0001 fs_n=200") == (
        True, "ID", {"proto": "1", "serial": "SIM-0001", "fs_n": "200"})
    assert parse_reply("ERR RATE reason=range")[0] is False


# ---- fuzzing: random and mutated byte streams ------------------------------------------

@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.lists(st.integers(1, 300), max_size=20))
def test_random_bytes_never_raise(data, sizes):
    decoder, results = decode_all(data, sizes)
    for res in results:
        assert res.counts.size == int(res.n_samples.sum())


mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "zero"]), st.integers(0, 10**6), st.integers(0, 255))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.lists(mutation, min_size=1, max_size=12), st.lists(st.integers(1, 400), max_size=30))
def test_mutated_stream_no_corrupt_sample_and_resync_within_one_frame(seed, mutations, sizes):
    rng = random.Random(seed)
    _, expected, chunks = make_frames(rng, 40, with_replies=False)
    # Mutate whole frames, remembering which stay intact.
    damaged = set()
    chunks = list(chunks)
    for kind, where, value in mutations:
        i = where % len(chunks)
        frame = bytearray(chunks[i])
        pos = (where // len(chunks)) % len(frame)
        if kind == "flip":
            frame[pos] ^= value or 1
        elif kind == "insert":
            frame.insert(pos, value)
        elif kind == "delete":
            del frame[pos]
        else:
            frame[pos:pos + 4] = b"\x00\x00\x00\x00"
        if bytes(frame) != chunks[i]:
            damaged.add(i)
        chunks[i] = bytes(frame)
    # The link goes on after the last frame (a live stream): a damaged length field near the
    # end claims up to 255 bytes, and the frames behind it are found once those bytes came.
    _, results = decode_all(b"".join(chunks) + bytes(MAX_FRAME_BYTES), sizes)
    decoded = flatten(results)
    originals = {f for _, f in expected}
    # No corrupt sample: every decoded frame is one the device sent, unchanged.
    assert all(f in originals for f in decoded)
    # Resync within one frame: every intact frame comes through.
    intact = [expected[i][1] for i in range(len(chunks)) if i not in damaged]
    assert [f for f in decoded if f in set(intact)] == intact


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.lists(mutation, max_size=12), st.binary(max_size=64))
def test_vectorised_scan_equals_the_byte_by_byte_receiver(seed, mutations, tail):
    """The NumPy scan (large chunks) and the reference receiver (small chunks) agree exactly."""
    from nmt_monitor.acquisition.nmt_protocol import scan_frames_reference, scan_frames_vectorized

    _, _, chunks = make_frames(random.Random(seed), 12)
    stream = bytearray(b"".join(chunks))
    for kind, where, value in mutations:
        pos = where % max(len(stream), 1)
        if kind == "insert":
            stream.insert(pos, value)
        elif kind == "delete" and stream:
            del stream[pos]
        elif stream:
            stream[pos] = value
    stream = bytes(stream) + tail
    ref = scan_frames_reference(stream)
    vec = scan_frames_vectorized(stream)
    assert ref[0].tolist() == vec[0].tolist() and ref[1].tolist() == vec[1].tolist()
    assert ref[2:] == vec[2:]
