import re

import pytest

from firmware_sim.gauges import Gauge
from firmware_sim.scenarios import scenario_from_toml

FLAT = scenario_from_toml('lead_in_s = 0\n[[segments]]\nkind = "hold"\nlevel_n = 40\nramp_s = 0\nhold_s = 100\n'
                          '[hand]\ntremor_pct = 0\nwander_pct = 0\n')


def test_mark10_request_and_units():
    g = Gauge("mark10", FLAT, noise_n=0.0)
    g.advance_to(1.0)
    g.write(b"?\r")
    assert g.advance_to(1.1) == b"40.000 N\r\n"
    g.write(b"LBF\r?\r")
    assert g.advance_to(1.2) == b"8.99 lbF\r\n"
    g.write(b"KG\r?\r")
    assert g.advance_to(1.3) == b"4.079 kgF\r\n"
    g.write(b"XYZ\r")
    assert g.advance_to(1.4) == b"*10\r\n"
    assert g.advance_to(5.0) == b""


def test_mark10_continuous():
    g = Gauge("mark10", FLAT, continuous=True, rate_hz=50)
    lines = g.advance_to(1.0).split(b"\r\n")
    assert len(lines) == 52 and lines[-1] == b""
    assert all(re.fullmatch(rb"-?\d+\.\d{3} N", ln) for ln in lines[:-1])


def test_wagner_commands_and_power_cycle():
    g = Gauge("wagner", FLAT, unit="lbf", noise_n=0.0)
    g.write(b"?\r\n")
    assert g.advance_to(0.5) == b"+ 8.99 lbf\r\n"
    g.write(b"C10\r\nCB\r\n")
    out = g.advance_to(1.5)
    assert out.count(b"\r\n") == 11 and re.fullmatch(rb"(\+ 8\.99 lbf\r\n)+", out)
    g.write(b"CE\r\n")
    assert g.advance_to(3.0) == b""
    g.write(b"CB\r\n")
    assert g.advance_to(3.5) != b""
    g.power_cycle(4.0)
    assert g.advance_to(6.0) == b""  # continuous mode lost: re-arm
    g2 = Gauge("wagner", FLAT, unit="g", unit_token="fgf", noise_n=0.0)
    g2.write(b"C?\r\n")
    assert g2.advance_to(0.1) == b"+ 4078.86 fgf\r\n"


def test_wagner_negative_is_tension():
    tension = scenario_from_toml('lead_in_s = 0\n[[segments]]\nkind = "rest"\nduration_s = 10\n')
    g = Gauge("wagner", tension, noise_n=0.0)
    g.zero_n = 23.02 * 4.4482216
    g.unit = "lbf"
    g.write(b"?\r\n")
    assert g.advance_to(0.1) == b"- 23.02 lbf\r\n"


def test_imada_format():
    g = Gauge("imada", FLAT, noise_n=0.0)
    g.write(b"D\r")
    assert g.advance_to(0.1) == b"+040.00NT\r"
    g.write(b"O\rD\r")
    assert g.advance_to(0.2) == b"R\r+08.992OT\r"
    g.write(b"Q\r")
    assert g.advance_to(0.3) == b"E\r"
    g3 = Gauge("imada", FLAT, noise_n=0.0, limits_n=(30, 35))
    g3.write(b"D\r")
    assert g3.advance_to(0.1) == b"+040.00NTH\r"


def test_plain_streams_bare_numbers():
    g = Gauge("plain", FLAT, rate_hz=80, unit="g", noise_n=0.0)
    out = g.advance_to(1.0)
    lines = out.decode().split("\r\n")[:-1]
    assert len(lines) == 81
    assert all(float(x) == pytest.approx(4078.9, abs=0.1) for x in lines)


def test_mark10_answers_its_serial_number():
    assert_rs = Gauge("mark10", FLAT, noise_n=0.0, serial="3141592")
    assert_rs.write(b"RS\r")
    assert assert_rs.advance_to(0.1) == b"3141592\r\n"
    anonymous = Gauge("mark10", FLAT, noise_n=0.0)
    anonymous.write(b"RS\r")
    assert anonymous.advance_to(0.1) == b"*10\r\n"


def test_noise_lines_are_in_another_format():
    g = Gauge("plain", FLAT, rate_hz=80, noise_n=0.0, noise_lines=0.1, seed=4)
    lines = g.advance_to(10.0).decode().split("\r\n")[:-1]
    noise = [ln for ln in lines if ln.endswith(" N")]
    assert g.noise_lines_sent == len(noise) > 40
    assert all(re.fullmatch(r"\d\.\d N", ln) for ln in noise)
    assert len(lines) - len(noise) == 801  # every reading is still sent


def test_garbled_lines_carry_no_digits_and_end_on_time():
    g = Gauge("mark10", FLAT, rate_hz=50, continuous=True, noise_n=0.0, garble=(1.0, 0.5))
    lines = g.advance_to(2.0).split(b"\r\n")[:-1]
    junk = [ln for ln in lines if not re.fullmatch(rb"\d+\.\d{3} N", ln)]
    assert len(junk) == g.lines_garbled == 25
    assert not any(ch in b"0123456789" for ln in junk for ch in ln)
