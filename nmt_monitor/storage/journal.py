"""The recording journal: an append-only file of checked records, the source of truth while recording.

File layout (all integers little-endian)::

    magic    8 bytes  b"NMTJRNL1"
    record*  header (12 bytes) + payload
             u8  type       (RECORD_* below)
             u8  flags      (0)
             u16 reserved   (0)
             u32 length     payload length in bytes
             u32 crc32      zlib.crc32 over the first 8 header bytes and the payload

Record types:

- ``META`` (JSON): the first record; session metadata, software version, target file name.
- ``SENSOR`` (JSON): the connected sensor (``describe_sensor`` plus calibration details).
- ``BLOCK`` (binary): one ``SampleBlock``: ``u32 n, i32 segment, u8 has_counts, 3 pad`` then the
  arrays host_time f8[n], device_time f8[n], seq i8[n], counts i4[n] (if has_counts), force f8[n],
  saturated u1[n].
- ``EVENT`` (JSON): a ``LinkEvent`` ``{"kind", "host_time_s", "detail"}``.
- ``MARKER`` (JSON): ``{"host_time_s", "kind", "text"}``.
- ``END`` (JSON): the recording stopped cleanly ``{"host_time_s", "reason"}``.
- ``SETTINGS`` (JSON): session metadata changed while recording ``{"host_time_s", "set_at_s",
  "changes": {field: new value}}``; the new values apply to samples from ``host_time_s`` on
  (``set_at_s``: when the user saved them). Journals from before this record type still read.

A reader accepts records up to the first one that is incomplete or fails its CRC (a torn tail
after a crash) and reports where it stopped; nothing after a bad record is trusted.
Nothing is ever unpickled: payloads are JSON or raw little-endian arrays.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmt_monitor.acquisition.blocks import LinkEvent, SampleBlock

MAGIC = b"NMTJRNL1"
RECORD_META = 1
RECORD_SENSOR = 2
RECORD_BLOCK = 3
RECORD_EVENT = 4
RECORD_MARKER = 5
RECORD_END = 6
RECORD_SETTINGS = 7
RECORD_NAMES = {
    RECORD_META: "meta",
    RECORD_SENSOR: "sensor",
    RECORD_BLOCK: "block",
    RECORD_EVENT: "event",
    RECORD_MARKER: "marker",
    RECORD_END: "end",
    RECORD_SETTINGS: "settings",
}
_HEADER = struct.Struct("<BBHII")
_BLOCK_HEADER = struct.Struct("<IiB3x")
MAX_RECORD_BYTES = 1 << 28  # a larger length can only be garbage


class JournalError(ValueError):
    """A file that is not a journal at all (bad magic or no metadata)."""


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _clean_json(value):
    """JSON has no NaN/inf: turn them into None so every record is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_json(v) for v in value]
    return value


def dumps_json(value) -> bytes:
    return json.dumps(_clean_json(value), default=_json_default, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def encode_record(record_type: int, payload: bytes) -> bytes:
    head = struct.pack("<BBHI", record_type, 0, 0, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + struct.pack("<I", crc) + payload


def encode_block(block: SampleBlock) -> bytes:
    n = len(block)
    has_counts = block.counts is not None
    parts = [
        _BLOCK_HEADER.pack(n, int(block.segment), 1 if has_counts else 0),
        np.ascontiguousarray(block.host_time_s, dtype="<f8").tobytes(),
        np.ascontiguousarray(block.device_time_s, dtype="<f8").tobytes(),
        np.ascontiguousarray(block.seq, dtype="<i8").tobytes(),
    ]
    if has_counts:
        parts.append(np.ascontiguousarray(block.counts, dtype="<i4").tobytes())
    parts.append(np.ascontiguousarray(block.force_n, dtype="<f8").tobytes())
    parts.append(np.ascontiguousarray(block.saturated, dtype="u1").tobytes())
    return encode_record(RECORD_BLOCK, b"".join(parts))


def decode_block(payload: bytes) -> SampleBlock:
    n, segment, has_counts = _BLOCK_HEADER.unpack_from(payload, 0)
    expected = _BLOCK_HEADER.size + n * (8 + 8 + 8 + (4 if has_counts else 0) + 8 + 1)
    if len(payload) != expected:
        raise ValueError(f"block record of {len(payload)} bytes, expected {expected} for {n} samples")
    pos = _BLOCK_HEADER.size

    def take(dtype: str, size: int) -> np.ndarray:
        nonlocal pos
        arr = np.frombuffer(payload, dtype=dtype, count=n, offset=pos)
        pos += n * size
        return arr

    host = take("<f8", 8)
    dev = take("<f8", 8)
    seq = take("<i8", 8)
    counts = take("<i4", 4) if has_counts else None
    force = take("<f8", 8)
    sat = take("u1", 1).astype(bool)
    return SampleBlock(host, dev, seq, counts, force, sat, segment=int(segment))


def encode_json_record(record_type: int, value) -> bytes:
    return encode_record(record_type, dumps_json(value))


def encode_event(event: LinkEvent) -> bytes:
    return encode_json_record(
        RECORD_EVENT, {"kind": event.kind, "host_time_s": event.host_time_s, "detail": event.detail}
    )


@dataclass
class Marker:
    """Something the therapist or instructor marked: ``kind`` is e.g. ``discomfort``,
    ``release_felt``, ``site`` (text: the site label) or ``note`` (free text)."""

    host_time_s: float
    kind: str
    text: str = ""


@dataclass
class SettingsChange:
    """Session metadata changed while recording: ``changes`` (field -> new value) apply to the
    samples from ``host_time_s`` on; ``set_at_s`` is when the user saved them."""

    host_time_s: float
    changes: dict
    set_at_s: float | None = None

    def to_json(self) -> dict:
        return {"host_time_s": self.host_time_s, "set_at_s": self.set_at_s, "changes": self.changes}


def settings_change(value: dict) -> SettingsChange:
    """A SETTINGS record's JSON as a ``SettingsChange`` (TypeError/ValueError on a bad shape)."""
    t = value.get("host_time_s")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise ValueError("host_time_s is not a number")
    changes = value.get("changes")
    if not isinstance(changes, dict) or not all(isinstance(k, str) for k in changes):
        raise TypeError("changes is not an object")
    at = value.get("set_at_s")
    at = float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) and math.isfinite(at) else None
    return SettingsChange(float(t), dict(changes), at)


@dataclass
class JournalScan:
    """Where reading a journal stopped: ``valid_bytes`` of ``total_bytes`` were good records."""

    valid_bytes: int = 0
    total_bytes: int = 0
    records: int = 0
    torn: bool = False
    reason: str = ""

    @property
    def discarded_bytes(self) -> int:
        return self.total_bytes - self.valid_bytes


class JournalReader:
    """Iterate the good records of a journal; afterwards ``scan`` says where it stopped."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.scan = JournalScan()

    def raw_records(self) -> Iterator[tuple[int, bytes]]:
        scan = self.scan = JournalScan()
        with open(self.path, "rb") as f:
            scan.total_bytes = os.fstat(f.fileno()).st_size
            magic = f.read(len(MAGIC))
            if magic != MAGIC:
                if len(magic) < len(MAGIC) and MAGIC.startswith(magic):
                    scan.torn, scan.reason = True, "empty journal (torn header)"
                    return
                raise JournalError(f"{self.path}: not an nmt-monitor journal (bad magic)")
            scan.valid_bytes = len(MAGIC)
            while True:
                head = f.read(_HEADER.size)
                if not head:
                    return
                if len(head) < _HEADER.size:
                    scan.torn, scan.reason = True, f"torn record header at byte {scan.valid_bytes}"
                    return
                record_type, _flags, _reserved, length, crc = _HEADER.unpack(head)
                if record_type not in RECORD_NAMES or length > MAX_RECORD_BYTES:
                    scan.torn, scan.reason = True, f"bad record header at byte {scan.valid_bytes}"
                    return
                payload = f.read(length)
                if len(payload) < length:
                    scan.torn, scan.reason = True, f"torn record at byte {scan.valid_bytes}"
                    return
                if zlib.crc32(payload, zlib.crc32(head[:8])) != crc:
                    scan.torn, scan.reason = True, f"CRC mismatch at byte {scan.valid_bytes}"
                    return
                scan.valid_bytes += _HEADER.size + length
                scan.records += 1
                yield record_type, payload

    def items(self) -> Iterator[tuple[str, object]]:
        """Decoded records: ("meta"|"sensor"|"end", dict), ("block", SampleBlock),
        ("event", LinkEvent), ("marker", Marker), ("settings", SettingsChange)."""
        for record_type, payload in self.raw_records():
            if record_type == RECORD_BLOCK:
                try:
                    block = decode_block(payload)
                except (ValueError, struct.error) as exc:
                    self._bad_record(payload, f"bad block record: {exc}")
                    return
                yield "block", block
                continue
            try:
                value = json.loads(payload.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                self._bad_record(payload, f"bad JSON record: {exc}")
                return
            name = RECORD_NAMES[record_type]
            try:  # a journal from elsewhere may hold any JSON: only the expected shapes are used
                if not isinstance(value, dict):
                    raise TypeError("not a JSON object")
                if record_type == RECORD_EVENT:
                    item = LinkEvent(str(value.get("kind", "")), float(value.get("host_time_s") or 0.0),
                                     dict(value.get("detail") or {}))
                elif record_type == RECORD_MARKER:
                    item = Marker(float(value.get("host_time_s") or 0.0), str(value.get("kind", "note")),
                                  str(value.get("text", "")))
                elif record_type == RECORD_SETTINGS:
                    item = settings_change(value)
                else:
                    item = value
            except (TypeError, ValueError) as exc:
                self._bad_record(payload, f"bad {name} record: {exc}")
                return
            yield name, item

    def _bad_record(self, payload: bytes, reason: str) -> None:
        """A complete record (its CRC is right) whose content cannot be used: reading stops
        here, and the record counts as discarded, like a torn tail."""
        self.scan.torn, self.scan.reason = True, reason
        self.scan.valid_bytes -= _HEADER.size + len(payload)
        self.scan.records -= 1


def read_meta(path: Path) -> dict:
    """The META record of a journal (raises ``JournalError`` when there is none)."""
    reader = JournalReader(path)
    for kind, value in reader.items():
        if kind == "meta":
            return value
        break
    raise JournalError(f"{path}: journal has no metadata record")


class JournalWriter:
    """Appends records with plain ``os.write`` (no user-space buffer: a killed process loses
    nothing the OS accepted) and ``fsync``s at most every ``sync_interval_s``."""

    def __init__(self, path: Path, sync_interval_s: float = 1.0, clock=None) -> None:
        import time

        self.path = Path(path)
        self.sync_interval_s = sync_interval_s
        self._clock = clock or time.monotonic
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        for _attempt in range(3):
            self._fd = os.open(self.path, flags, 0o644)
            self._locked = _lock(self._fd)
            # A recovery that locked the brand-new (still empty) journal before us may have
            # removed it as empty: then create it again.
            if os.fstat(self._fd).st_nlink > 0:
                break
            os.close(self._fd)
        else:
            raise FileExistsError(f"{self.path}: removed by another program while being created")
        self.bytes_written = 0
        self._last_sync = self._clock()
        self._dirty = False
        self.write(MAGIC)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
            self.bytes_written += n
        self._dirty = True

    def maybe_sync(self) -> bool:
        now = self._clock()
        if self._dirty and now - self._last_sync >= self.sync_interval_s:
            self.sync()
            return True
        return False

    def sync(self) -> None:
        os.fsync(self._fd)
        self._dirty = False
        self._last_sync = self._clock()

    def close(self) -> None:
        if self._fd is not None:
            try:
                if self._dirty:
                    os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)  # also releases the lock
            self._fd = None


def _lock(fd: int) -> bool:
    """Hold an exclusive advisory lock while recording, so ``recover`` leaves a live session alone."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; recover relies on the END record
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        pass
    # Only a recovery looking at our brand-new, empty journal can hold it: briefly.
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    except OSError:
        return False


def journal_in_use(path: Path) -> bool:
    """True if a live recorder holds the journal's lock."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
