"""Commercial gauge lines: signs, spacing, unit tokens, unknown units, error replies."""

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
    readings = GaugeLineDecoder().feed(line + ending)
    assert readings.force_n.tolist() == pytest.approx([newtons])


def test_uniform_chunk_and_line_by_line_agree():
    lines = [f"{v:.3f} lbF".encode() for v in np.linspace(-10, 40, 500)]
    stream = b"\r\n".join(lines) + b"\r\n"
    whole = GaugeLineDecoder().feed(stream).force_n
    decoder = GaugeLineDecoder()
    pieces = np.concatenate([decoder.feed(stream[i:i + 7]).force_n for i in range(0, len(stream), 7)])
    assert np.allclose(whole, pieces) and whole.size == 500
    assert whole[0] == pytest.approx(-10 * NEWTONS_PER_LBF)


def test_error_replies_unknown_units_and_peak_mode_give_no_reading():
    readings = GaugeLineDecoder().feed(b"*10\r\n1.00 fgf\r\n+001.00NP\r\n2.00 N\r\n#garbage!\r\n")
    assert readings.force_n.tolist() == [2.0]
    assert readings.error_replies == 1
    assert readings.unknown_units == 2 and "fgf" in readings.unknown_unit_tokens
    assert readings.malformed_lines == 1


def test_bare_numbers_take_the_configured_unit():
    readings = GaugeLineDecoder(bare_unit="kg").feed(b"1.0\n2.0\n")
    assert readings.force_n.tolist() == pytest.approx([NEWTONS_PER_KGF, 2 * NEWTONS_PER_KGF])
    assert readings.unit == "kgf"


def test_a_line_without_end_waits_and_an_endless_one_is_dropped():
    decoder = GaugeLineDecoder()
    assert decoder.feed(b"4.2").force_n.size == 0
    assert decoder.feed(b"85 N\r\n").force_n.tolist() == [4.285]
    junk = decoder.feed(b"x" * 500)
    assert junk.force_n.size == 0 and junk.bytes_skipped == 500


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
    readings = GaugeLineDecoder().feed(b"9" * 120 + b" N\r\n5.0 N\r\n")
    assert readings.force_n.tolist() == [5.0] and readings.malformed_lines == 1


def test_a_bare_number_among_lines_with_units_is_a_damaged_line():
    decoder = GaugeLineDecoder()
    assert decoder.feed(b"10.00 lbF\r\n").force_n.tolist() == pytest.approx([10 * NEWTONS_PER_LBF])
    damaged = decoder.feed(b"12.5\r\n")  # the unit was lost on the wire: not 12.5 N
    assert damaged.force_n.size == 0 and damaged.malformed_lines == 1
