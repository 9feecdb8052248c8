"""Minimal test-side decoder of the NMT protocol (independent of nmt_monitor)."""

import binascii
import struct

import pytest


def parse_frames(buf: bytes):
    """Return (frames, leftover): frames are ('R', text) or ('D', dict); garbage is skipped."""
    frames = []
    i = 0
    while True:
        j = buf.find(b"\xa5\x5a", i)
        if j < 0 or len(buf) - j < 6:
            return frames, buf[j:] if j >= 0 else b""
        ftype, length = buf[j + 2], buf[j + 3]
        if len(buf) - j < 6 + length:
            return frames, buf[j:]
        body = buf[j + 2:j + 4 + length]
        crc = int.from_bytes(buf[j + 4 + length:j + 6 + length], "big")
        if binascii.crc_hqx(body, 0xFFFF) != crc or ftype not in (0x44, 0x52):
            i = j + 1
            continue
        payload = body[2:]
        if ftype == 0x52:
            frames.append(("R", payload.decode("ascii")))
        else:
            seq, first, t_us, iv, status, n = struct.unpack("<IIQHBB", payload[:20])
            if n == 0 or length != 20 + 3 * n:
                i = j + 1
                continue
            counts = [int.from_bytes(payload[20 + 3 * k:23 + 3 * k], "little", signed=True) for k in range(n)]
            frames.append(("D", {"seq": seq, "first": first, "t_us": t_us, "iv": iv, "status": status,
                                 "n": n, "counts": counts}))
        i = j + 6 + length


@pytest.fixture
def parse():
    return parse_frames
