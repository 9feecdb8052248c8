"""Device side of the NMT wire protocol, version 1 (docs/protocol.md), written from the doc.

Frames: ``A5 5A | type | length | payload | crc16 (big-endian)``; the CRC is
CRC-16/CCITT-FALSE over ``type``, ``length`` and ``payload``.  Integers in the payload
are little-endian; samples are signed 24-bit two's complement.
"""

from __future__ import annotations

import struct
from typing import Iterable

import numpy as np

SYNC = b"\xa5\x5a"
TYPE_DATA = 0x44  # 'D'
TYPE_REPLY = 0x52  # 'R'
MAX_SAMPLES_PER_FRAME = 78
FRAME_PERIOD_US = 10_000  # version 1 devices: one frame per 10 ms or per 78 samples
DATA_HEADER_LEN = 20  # payload bytes before the counts
COUNTS_MIN = -(1 << 23)
COUNTS_MAX = (1 << 23) - 1
PROTO_VERSION = 1
MAX_COMMAND_LEN = 64

# status bits
SATURATED = 0x01
TARED = 0x02
TARE_DONE = 0x04
OVERFLOW = 0x08
STATUS_SATURATED, STATUS_TARED, STATUS_TARE_DONE, STATUS_OVERFLOW = SATURATED, TARED, TARE_DONE, OVERFLOW


def _make_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
        table.append(crc)
    return table


_CRC_TABLE = _make_table()


def crc16_ccitt_false(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR."""
    table = _CRC_TABLE
    for b in bytes(data):
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ b]
    return crc


def _frame(ftype: int, payload: bytes) -> bytes:
    if len(payload) > 255:
        raise ValueError(f"payload too long: {len(payload)} > 255")
    body = bytes((ftype, len(payload))) + payload
    return SYNC + body + crc16_ccitt_false(body).to_bytes(2, "big")


def pack_counts(counts: Iterable[int] | np.ndarray) -> bytes:
    """Signed 24-bit little-endian, 3 bytes per sample (values clipped to the 24-bit range)."""
    arr = np.clip(np.asarray(counts, dtype=np.int64), COUNTS_MIN, COUNTS_MAX).astype("<i4")
    return arr.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def encode_data_frame(frame_seq: int, first_sample: int, device_time_us: int, interval_us: int,
                      status: int, counts) -> bytes:
    """A complete sample-data frame (type 0x44) with 1-78 samples."""
    counts = np.asarray(counts)
    n = int(counts.size)
    if not 1 <= n <= MAX_SAMPLES_PER_FRAME:
        raise ValueError(f"a data frame holds 1-{MAX_SAMPLES_PER_FRAME} samples, got {n}")
    if not 0 < interval_us <= 0xFFFF:
        raise ValueError(f"interval_us out of range: {interval_us}")
    header = struct.pack("<IIQHBB", frame_seq & 0xFFFFFFFF, first_sample & 0xFFFFFFFF,
                         device_time_us & 0xFFFFFFFFFFFFFFFF, interval_us, status & 0xFF, n)
    return _frame(TYPE_DATA, header + pack_counts(counts.ravel()))


def encode_reply(text: str) -> bytes:
    """A reply frame (type 0x52): ASCII text, no terminator, at most 255 bytes."""
    payload = text.encode("ascii", "replace")[:255]
    return _frame(TYPE_REPLY, payload)


__all__ = [
    "SYNC", "TYPE_DATA", "TYPE_REPLY", "MAX_SAMPLES_PER_FRAME", "FRAME_PERIOD_US", "COUNTS_MIN",
    "COUNTS_MAX", "SATURATED", "TARED", "TARE_DONE", "OVERFLOW", "STATUS_SATURATED", "STATUS_TARED",
    "STATUS_TARE_DONE", "STATUS_OVERFLOW", "crc16_ccitt_false", "encode_data_frame", "encode_reply",
    "pack_counts", "PROTO_VERSION",
]
