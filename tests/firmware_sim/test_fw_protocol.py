import binascii

import pytest

from firmware_sim import protocol as p


def test_crc_check_value():
    assert p.crc16_ccitt_false(b"123456789") == 0x29B1


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xa5\x5aD\x00", bytes(range(256))])
def test_crc_matches_crc_hqx(data):
    assert p.crc16_ccitt_false(data) == binascii.crc_hqx(data, 0xFFFF)


def test_data_frame_layout_byte_exact():
    frame = p.encode_data_frame(1, 10, 1234567, 1000, p.TARED, [1, -1, 8388607, -8388608])
    body = bytes([0x44, 32,
                  0x01, 0x00, 0x00, 0x00,                          # frame_seq
                  0x0A, 0x00, 0x00, 0x00,                          # first_sample
                  0x87, 0xD6, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00,  # device_time_us = 0x12D687
                  0xE8, 0x03,                                      # interval_us = 1000
                  0x02,                                            # status TARED
                  0x04,                                            # n
                  0x01, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x00, 0x80])
    crc = binascii.crc_hqx(body, 0xFFFF)
    assert frame == b"\xa5\x5a" + body + bytes([crc >> 8, crc & 0xFF])
    assert len(frame) == 26 + 3 * 4


def test_reply_frame_layout():
    frame = p.encode_reply("OK START")
    assert frame[:4] == b"\xa5\x5a\x52\x08"
    assert frame[4:12] == b"OK START"
    assert int.from_bytes(frame[12:14], "big") == binascii.crc_hqx(frame[2:12], 0xFFFF)


def test_status_bits():
    assert (p.SATURATED, p.TARED, p.TARE_DONE, p.OVERFLOW) == (1, 2, 4, 8)


@pytest.mark.parametrize("n", [0, 79])
def test_frame_sample_count_limits(n):
    with pytest.raises(ValueError):
        p.encode_data_frame(0, 0, 0, 1000, 0, [0] * n)


def test_max_frame_fits_length_byte():
    frame = p.encode_data_frame(0, 0, 0, 500, 0, [0] * 78)
    assert frame[3] == 20 + 3 * 78 == 254
