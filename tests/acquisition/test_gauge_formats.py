"""Commercial gauge lines: signs, spacing, unit tokens, unknown units, error replies, and the
rules that keep line noise out (the exact format of the surrounding lines, leaps confirmed)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmt_monitor.acquisition.gauge import GaugeLineDecoder
from nmt_monitor.units import NEWTONS_PER_KGF, NEWTONS_PER_LBF, NEWTONS_PER_OZF


@pytest.mark.parametrize(
    "line, newtons",
    [
        (b"4.285 N", 4.285),
        (b"-18.78 lbF", -18.78 * NEWTONS_PER_LBF),
        (b"0.52 kgF", 0.52 * NEWTONS_PER_KGF),
        (b"120 gF", 0.120 * NEWTONS_PER_KGF),
        (b"3.5 ozF", 3.5 * NEWTONS_PER_OZF),
        (b"850 mN", 0.85),
        (b"- 23.02 lbf", -23.02 * NEWTONS_PER_LBF),  # Wagner: sign, space, value
        (b"+ 1.50 N", 1.5),
        (b"  7.25 N  ", 7.25),
        (b"+012.34NT", 12.34),  # Imada: N, real time
        (b"-001.20KTO", -1.2 * NEWTONS_PER_KGF),  # Imada: kgf, judgement O
        (b"+002.50OT", 2.5 * NEWTONS_PER_LBF),  # Imada: lbf
        (b"12.5", 12.5),  # bare number
        (b".5 N", 0.5),
    ],
)
@pytest.mark.parametrize("ending", [b"\r\n", b"\r", b"\n"])
def test_each_gauge_line_converts_to_newtons(line, newtons, ending):
    # A format is never taken from one line: three agreeing lines make it, then all are read.
    decoder = GaugeLineDecoder()
    assert decoder.feed(line + ending).force_n.size == 0
    readings = decoder.feed((line + ending) * 2)
    assert readings.force_n.tolist() == pytest.approx([newtons] * 3)


def test_uniform_chunk_and_line_by_line_agree():
    lines = [f"{v:.3f} lbF".encode() for v in np.linspace(-10, 40, 500)]
    stream = b"\r\n".join(lines) + b"\r\n"
    whole = GaugeLineDecoder().feed(stream).force_n
    decoder = GaugeLineDecoder()
    pieces = np.concatenate([decoder.feed(stream[i:i + 7]).force_n for i in range(0, len(stream), 7)])
    assert np.allclose(whole, pieces) and whole.size == 500
    assert whole[0] == pytest.approx(-10 * NEWTONS_PER_LBF)


def confirmed(line=b"1.00 N", n=3, **kwargs) -> GaugeLineDecoder:
    """A decoder that has seen ``n`` lines like ``line`` (its format is known)."""
    decoder = GaugeLineDecoder(**kwargs)
    assert decoder.feed(line + b"\r\n").force_n.size == 0
    assert decoder.feed((line + b"\r\n") * (n - 1)).force_n.size == n
    return decoder


def test_error_replies_unknown_units_and_peak_mode_give_no_reading():
    decoder = confirmed(b"2.00 N")
    readings = decoder.feed(b"*10\r\n1.00 fgf\r\n+001.00NP\r\n2.00 N\r\n#garbage!\r\n")
    assert readings.force_n.tolist() == [2.0]
    assert readings.error_replies == 1
    assert readings.unknown_units == 2 and "fgf" in readings.unknown_unit_tokens
    later = decoder.feed(b"2.00 N\r\n" * 10)  # the odd lines lose the vote: rejected for good
    assert readings.malformed_lines + later.malformed_lines == 3 and later.force_n.size == 10


def test_bare_numbers_take_the_configured_unit():
    readings = GaugeLineDecoder(bare_unit="kg").feed(b"1.0\n2.0\n2.5\n")
    assert readings.force_n.tolist() == pytest.approx([NEWTONS_PER_KGF, 2 * NEWTONS_PER_KGF, 2.5 * NEWTONS_PER_KGF])
    assert readings.unit == "kgf"


def test_a_line_without_end_waits_and_an_endless_one_is_dropped():
    decoder = confirmed(b"4.285 N")
    assert decoder.feed(b"4.2").force_n.size == 0
    assert decoder.feed(b"85 N\r\n").force_n.tolist() == [4.285]
    junk = decoder.feed(b"x" * 500)
    assert junk.force_n.size == 0 and junk.bytes_skipped == 500
    assert decoder.feed(b"\r\n4.290 N\r\n").force_n.tolist() == [4.29]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=10))
def test_random_bytes_never_raise_and_readings_are_finite(data, sizes):
    decoder = GaugeLineDecoder()
    pos, total = 0, 0
    for size in sizes + [len(data)]:
        res = decoder.feed(data[pos:pos + size])
        assert np.all(np.isfinite(res.force_n))
        total += res.force_n.size
        pos += size
    assert total <= data.count(b"\n") + data.count(b"\r")


def test_implausible_values_are_rejected_not_passed_on_as_inf():
    decoder = confirmed(b"5.0 N")
    readings = decoder.feed(b"9" * 100 + b".0 N\r\n5.0 N\r\n")
    assert readings.force_n.tolist() == [5.0] and readings.malformed_lines == 1


def test_a_bare_number_among_lines_with_units_is_a_damaged_line():
    decoder = confirmed(b"10.00 lbF")
    damaged = decoder.feed(b"12.50\r\n")  # the unit was lost on the wire: not 12.5 N
    assert damaged.force_n.size == 0
    assert decoder.feed(b"10.01 lbF\r\n").force_n.tolist() == pytest.approx([10.01 * NEWTONS_PER_LBF])


def test_a_diy_gauge_never_goes_silent_after_a_noise_line_with_a_unit():
    # Issue 10: one "3.2 N" on a bare-number gauge used to drop every later reading.
    values = 20 + 5 * np.sin(np.arange(1350) / 40)
    lines = [f"{v:.3f}\r\n".encode() for v in values]
    lines.insert(100, b"3.2 N\r\n")
    decoder = GaugeLineDecoder()
    got = np.concatenate([decoder.feed(line).force_n for line in lines])
    assert got.size == 1350
    assert np.allclose(got, np.round(values, 3))


def test_merged_and_truncated_lines_are_not_read_as_forces():
    decoder = confirmed(b"43.100 N", n=5)
    noisy = (b"43.142 N\r\n"
             b"43142.276 N\r\n"  # a line merged with the next (an overrun ate '.142 N\r\n')
             b"42.276 N\r\n"
             b"5" b"42.301 N\r\n"  # the head of a truncated line glued to the next
             b"42.2\r\n"  # truncated: lost its last digit and unit
             b"85 N\r\n"  # ... and the rest of it
             b"2.280 N\r\n"  # the leading digit lost
             b"42.290 N\r\n")
    assert decoder.feed(noisy).force_n.tolist() == [43.142, 42.276, 42.29]


def test_a_fast_press_is_read_one_line_late_and_a_lone_spike_is_dropped():
    decoder = confirmed(b"0.500 N", n=5)
    assert decoder.feed(b"60.000 N\r\n").force_n.size == 0  # a leap: wait for the next line
    assert decoder.feed(b"62.000 N\r\n").force_n.tolist() == [60.0, 62.0]  # it was real
    assert decoder.feed(b"620.000 N\r\n").force_n.size == 0
    assert decoder.feed(b"61.000 N\r\n").force_n.tolist() == [61.0]  # it was not


def test_a_change_of_format_is_reported_and_the_new_lines_are_read():
    decoder = confirmed(b"44.480 N", n=10)
    lbf = [f"{10 + i / 100:.2f} lbF\r\n".encode() for i in range(20)]
    out = [decoder.feed(line) for line in lbf]
    changes = [r.format_change for r in out if r.format_change]
    assert changes == [("12.345 N", "12.34 lbF")]
    got = np.concatenate([r.force_n for r in out])
    assert got.tolist() == pytest.approx([(10 + i / 100) * NEWTONS_PER_LBF for i in range(20)])
    assert out[-1].unit == "lbf"


def test_a_burst_of_garbage_does_not_unseat_the_format():
    decoder = confirmed(b"+012.34NT")
    garbage = bytes(range(1, 256)) * 8
    readings = decoder.feed(b"\r" + garbage + b"\r+012.40NTO\r+012.45NT\r")
    assert readings.force_n.tolist() == [12.40, 12.45]  # the first good line after it is read


def test_chunking_does_not_change_what_is_read():
    rng = np.random.default_rng(3)
    values = 30 + np.cumsum(rng.normal(0, 0.2, 3000))
    lines = [f"{v:.2f} kgF\r\n".encode() for v in values]
    for i in rng.integers(0, 3000, 60):  # noise: flipped and inserted bytes
        b = bytearray(lines[i])
        b[int(rng.integers(len(b)))] ^= 0x5A
        lines[i] = bytes(b) + bytes(rng.integers(0, 256, 3, dtype=np.uint8))
    stream = b"".join(lines)
    whole = GaugeLineDecoder().feed(stream).force_n
    for size in (1, 7, 64, 4096):
        decoder = GaugeLineDecoder()
        pieces = np.concatenate([decoder.feed(stream[i:i + size]).force_n for i in range(0, len(stream), size)])
        assert pieces.tolist() == whole.tolist(), size
