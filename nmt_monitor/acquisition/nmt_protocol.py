"""Host side of the NMT sensor wire protocol, version 1 (docs/protocol.md).

``FrameDecoder`` turns a byte stream, in chunks of any size, into decoded data frames and
reply texts. It behaves exactly like a receiver that hunts for the sync bytes, checks type,
length and CRC, and on any failure discards one byte and hunts again; but it does so for a
whole chunk at a time with NumPy (candidate search, header parsing, 24-bit unpacking) and
C-level CRCs, because per-frame Python overhead would dominate at kHz rates.

After a frame it accepted, the receiver hunts on from the frame's CRC (its last two bytes),
not after it: a frame cut short by one or two bytes can still pass its CRC when the next
frame's first bytes happen to complete it (1 in 256 such truncations; its content is intact,
the CRC says so), and the next frame, which begins inside that CRC, is then found too.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field

import numpy as np

SYNC = b"\xa5\x5a"
TYPE_DATA = 0x44
TYPE_REPLY = 0x52
HEADER_BYTES = 4  # sync(2) type(1) length(1)
CRC_BYTES = 2
DATA_HEADER_BYTES = 20  # frame_seq, first_sample, device_time_us, interval_us, status, n
MAX_SAMPLES_PER_FRAME = 78
MAX_FRAME_BYTES = HEADER_BYTES + 255 + CRC_BYTES

STATUS_SATURATED = 0x01
STATUS_TARED = 0x02
STATUS_TARE_DONE = 0x04
STATUS_OVERFLOW = 0x08

ADC_MAX = 8388607
ADC_MIN = -8388608

_DATA_HEADER_DTYPE = np.dtype(
    [
        ("frame_seq", "<u4"),
        ("first_sample", "<u4"),
        ("device_time_us", "<u8"),
        ("interval_us", "<u2"),
        ("status", "u1"),
        ("n", "u1"),
    ]
)
assert _DATA_HEADER_DTYPE.itemsize == DATA_HEADER_BYTES


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): ``b"123456789"`` gives 0x29B1."""
    return binascii.crc_hqx(data, 0xFFFF)


def encode_command(command: str) -> bytes:
    """A host command line as sent on the wire (``"RATE 1000"`` -> ``b"RATE 1000\\n"``)."""
    return command.strip().encode("ascii") + b"\n"


@dataclass
class DecodedFrames:
    """Data frames decoded from one chunk, one entry per frame, plus the samples they carry."""

    frame_seq: np.ndarray  # uint32, per frame
    first_sample: np.ndarray  # uint32, per frame
    device_time_us: np.ndarray  # uint64, per frame (time of its first sample)
    interval_us: np.ndarray  # uint16, per frame
    status: np.ndarray  # uint8, per frame
    n_samples: np.ndarray  # int64, per frame
    counts: np.ndarray  # int32, all samples of all frames, in order
    replies: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.frame_seq.size)

    @staticmethod
    def empty() -> DecodedFrames:
        return DecodedFrames(
            frame_seq=np.empty(0, np.uint32),
            first_sample=np.empty(0, np.uint32),
            device_time_us=np.empty(0, np.uint64),
            interval_us=np.empty(0, np.uint16),
            status=np.empty(0, np.uint8),
            n_samples=np.empty(0, np.int64),
            counts=np.empty(0, np.int32),
        )


@dataclass
class DecoderCounters:
    """What the byte-level decoder has seen since it was made."""

    bytes_in: int = 0
    bytes_skipped: int = 0  # bytes that were not part of any accepted frame
    frames_ok: int = 0  # data frames accepted
    replies_ok: int = 0
    crc_failures: int = 0  # complete candidates with a plausible header whose CRC failed


class FrameDecoder:
    """Incremental decoder for protocol v1 frames; feed it bytes in chunks of any size."""

    def __init__(self) -> None:
        self._pending = b""
        self._owned = 0  # bytes at the head of _pending that belong to a frame already accepted
        self.counters = DecoderCounters()

    def reset(self) -> None:
        """Forget any unfinished frame (e.g. after a reconnect); the counters are kept."""
        self.counters.bytes_skipped += len(self._pending) - self._owned
        self._pending = b""
        self._owned = 0

    @property
    def buffered_bytes(self) -> int:
        return len(self._pending)

    #: Below this many buffered bytes a plain scan beats NumPy's per-call overhead (a live
    #: link delivers one or two frames per read; files and backlogs come in large chunks).
    SMALL_CHUNK_BYTES = 1024

    def feed(self, data: bytes) -> DecodedFrames:
        """Decode everything complete in ``pending + data``; keep an unfinished tail."""
        self.counters.bytes_in += len(data)
        buf = self._pending + bytes(data) if self._pending else bytes(data)
        size = len(buf)
        if size < 2:
            self._pending = buf
            return DecodedFrames.empty()
        if size <= self.SMALL_CHUNK_BYTES:
            acc_starts, acc_ends, cut, crc_failures = scan_frames_reference(buf)
        else:
            acc_starts, acc_ends, cut, crc_failures = scan_frames_vectorized(buf)
        self.counters.crc_failures += crc_failures
        # Every byte before the cut is now either part of an accepted frame or given up for
        # good; bytes from the cut on are kept (and counted when their fate is known).
        covered, owned = _coverage(acc_starts, acc_ends, cut, self._owned)
        self.counters.bytes_skipped += cut - covered
        self._pending = buf[cut:]
        self._owned = owned
        return self._decode_accepted(buf, acc_starts, acc_ends)

    def _decode_accepted(self, buf: bytes, starts: np.ndarray, ends: np.ndarray) -> DecodedFrames:
        if starts.size == 0:
            return DecodedFrames.empty()
        replies: list[str] = []
        data_starts: list[int] = []
        for s, e in zip(starts.tolist(), ends.tolist()):
            if buf[s + 2] == TYPE_REPLY:
                replies.append(buf[s + HEADER_BYTES : e - CRC_BYTES].decode("ascii", errors="replace"))
            else:
                data_starts.append(s)
        self.counters.replies_ok += len(replies)
        nf = len(data_starts)
        self.counters.frames_ok += nf
        if nf == 0:
            out = DecodedFrames.empty()
            out.replies = replies
            return out
        arr = np.frombuffer(buf, dtype=np.uint8)
        if nf <= 8:
            # Few frames (a live link): slicing beats fancy indexing.
            header = np.frombuffer(
                b"".join(buf[s + HEADER_BYTES : s + HEADER_BYTES + DATA_HEADER_BYTES] for s in data_starts),
                dtype=_DATA_HEADER_DTYPE,
            )
            n_samples = header["n"].astype(np.int64)
            payload = np.frombuffer(
                b"".join(
                    buf[s + HEADER_BYTES + DATA_HEADER_BYTES : s + HEADER_BYTES + DATA_HEADER_BYTES + 3 * int(n)]
                    for s, n in zip(data_starts, n_samples.tolist())
                ),
                dtype=np.uint8,
            ).reshape(-1, 3)
            raw = payload[:, 0].astype(np.int32) | (payload[:, 1].astype(np.int32) << 8) | (
                payload[:, 2].astype(np.int32) << 16)
        else:
            ds = np.asarray(data_starts, np.int64)
            header_idx = (ds + HEADER_BYTES)[:, None] + np.arange(DATA_HEADER_BYTES)
            header = np.ascontiguousarray(arr[header_idx]).view(_DATA_HEADER_DTYPE).reshape(nf)
            n_samples = header["n"].astype(np.int64)
            total = int(n_samples.sum())
            # Byte offsets of every sample: frame payload start + 3*i.
            sample_base = np.repeat(ds + HEADER_BYTES + DATA_HEADER_BYTES, n_samples)
            within = np.arange(total) - np.repeat(np.cumsum(n_samples) - n_samples, n_samples)
            offs = sample_base + 3 * within
            raw = (
                arr[offs].astype(np.int32)
                | (arr[offs + 1].astype(np.int32) << 8)
                | (arr[offs + 2].astype(np.int32) << 16)
            )
        counts = (raw ^ 0x800000) - 0x800000
        return DecodedFrames(
            frame_seq=header["frame_seq"].copy(),
            first_sample=header["first_sample"].copy(),
            device_time_us=header["device_time_us"].copy(),
            interval_us=header["interval_us"].copy(),
            status=header["status"].copy(),
            n_samples=n_samples,
            counts=counts.astype(np.int32, copy=False),
            replies=replies,
        )


def _coverage(starts: np.ndarray, ends: np.ndarray, cut: int, owned: int) -> tuple[int, int]:
    """(bytes before ``cut`` inside an accepted frame, or among the first ``owned`` bytes that
    an earlier frame took; bytes from ``cut`` on that an accepted frame took): frames may
    share up to CRC_BYTES bytes, and a frame may end just past the cut."""
    head = min(owned, cut)
    if not starts.size:
        return head, owned - cut if owned > cut else 0
    ends_c = np.minimum(ends, cut)
    before = np.empty_like(ends_c)  # where the previous frame ended (frames are in order)
    before[0] = head
    before[1:] = ends_c[:-1]
    covered = head + int(np.maximum(ends_c - np.maximum(starts, before), 0).sum())
    end = int(ends[-1])
    return covered, max(end - cut, owned - cut, 0)


def _data_length_ok(length: int) -> bool:
    return length >= DATA_HEADER_BYTES + 3 and (length - DATA_HEADER_BYTES) % 3 == 0


def scan_frames_reference(buf: bytes) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The receiver of docs/protocol.md, byte by byte: (starts, ends, cut, crc_failures).

    Hunts for the sync bytes; checks type, length, CRC and the sample count; on any failure
    discards one byte and hunts again; after a frame, hunts on from its CRC bytes; stops at a
    frame that is not complete yet (``cut``: where the unread tail begins).
    """
    size = len(buf)
    starts: list[int] = []
    ends: list[int] = []
    crc_failures = 0
    pos = 0
    view = memoryview(buf)
    while True:
        i = buf.find(SYNC, pos)
        if i < 0:
            cut = size - 1 if size > pos and buf[-1] == 0xA5 else size
            break
        if i + HEADER_BYTES > size:
            cut = i
            break
        ftype, length = buf[i + 2], buf[i + 3]
        if not (ftype == TYPE_REPLY or (ftype == TYPE_DATA and _data_length_ok(length))):
            pos = i + 1
            continue
        end = i + HEADER_BYTES + length + CRC_BYTES
        if end > size:
            cut = i
            break
        if binascii.crc_hqx(view[i + 2 : end - 2], 0xFFFF) != (buf[end - 2] << 8 | buf[end - 1]):
            crc_failures += 1
            pos = i + 1
            continue
        if ftype == TYPE_DATA:
            n = buf[i + HEADER_BYTES + DATA_HEADER_BYTES - 1]
            if n < 1 or length != DATA_HEADER_BYTES + 3 * n:
                pos = i + 1
                continue
        starts.append(i)
        ends.append(end)
        pos = end - CRC_BYTES  # a frame may begin inside the CRC of one cut short (module doc)
    return np.asarray(starts, np.int64), np.asarray(ends, np.int64), cut, crc_failures


def scan_frames_vectorized(buf: bytes) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Same result as ``scan_frames_reference``, for a whole chunk at a time with NumPy."""
    size = len(buf)
    arr = np.frombuffer(buf, dtype=np.uint8)
    candidates = np.flatnonzero((arr[:-1] == 0xA5) & (arr[1:] == 0x5A))

    # Header of each candidate, where the header bytes are present.
    has_header = candidates + HEADER_BYTES <= size
    head = candidates[has_header]
    ftype = arr[head + 2]
    length = arr[head + 3].astype(np.int64)
    end = head + HEADER_BYTES + length + CRC_BYTES
    plausible = (ftype == TYPE_REPLY) | (
        (ftype == TYPE_DATA) & (length >= DATA_HEADER_BYTES + 3) & ((length - DATA_HEADER_BYTES) % 3 == 0)
    )
    # Candidates that cannot be judged yet: header or body still incomplete.
    waiting = np.concatenate([candidates[~has_header], head[plausible & (end > size)]])
    complete = plausible & (end <= size)
    starts = head[complete]
    ends = end[complete]

    view = memoryview(buf)
    crc_ok = np.fromiter(
        (
            binascii.crc_hqx(view[s + 2 : e - 2], 0xFFFF) == (buf[e - 2] << 8 | buf[e - 1])
            for s, e in zip(starts.tolist(), ends.tolist())
        ),
        dtype=bool,
        count=starts.size,
    )
    # A data frame's sample count must agree with its length.
    is_data = arr[starts + 2] == TYPE_DATA
    n_field = np.zeros(starts.size, np.int64)
    if starts.size:
        n_field[is_data] = arr[starts[is_data] + HEADER_BYTES + DATA_HEADER_BYTES - 1]
    payload_len = ends - starts - HEADER_BYTES - CRC_BYTES
    consistent = ~is_data | ((n_field >= 1) & (payload_len == DATA_HEADER_BYTES + 3 * n_field))
    valid = crc_ok & consistent

    # The receiver only ever looks at candidates outside frames it accepted (or in their CRC
    # bytes); a CRC failure further inside an accepted frame was never seen by it.
    acc_starts = starts[valid]
    acc_ends = ends[valid]
    if acc_starts.size > 1 and np.any(acc_starts[1:] < acc_ends[:-1] - CRC_BYTES):
        acc_starts, acc_ends = _greedy_non_overlapping(acc_starts, acc_ends)

    # Where decoding must stop for now: the first waiting candidate that is not inside an
    # accepted frame (a real receiver would be waiting for that frame to complete).
    cut = size
    if waiting.size:
        waiting.sort()
        if acc_starts.size:
            k = np.searchsorted(acc_starts, waiting, side="right") - 1
            inside = (k >= 0) & (waiting < acc_ends[np.maximum(k, 0)] - CRC_BYTES)
            waiting = waiting[~inside]
        if waiting.size:
            cut = int(waiting[0])
    if cut == size and buf[-1] == 0xA5:
        cut = size - 1  # a lone first sync byte at the very end: the second may follow
    keep = acc_starts < cut
    acc_starts = acc_starts[keep]
    acc_ends = acc_ends[keep]

    failed = starts[~crc_ok]
    failed = failed[failed < cut]
    if acc_starts.size and failed.size:
        k = np.searchsorted(acc_starts, failed, side="right") - 1
        failed = failed[~((k >= 0) & (failed < acc_ends[np.maximum(k, 0)] - CRC_BYTES))]
    return acc_starts, acc_ends, cut, int(failed.size)


def _greedy_non_overlapping(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accept frames in stream order, skipping any that start inside an accepted one (before
    its CRC bytes).

    Only reached when a CRC-valid false frame overlaps a real one (rare), so a loop is fine.
    """
    keep_s: list[int] = []
    keep_e: list[int] = []
    last_end = -1
    for s, e in zip(starts.tolist(), ends.tolist()):
        if s >= last_end - CRC_BYTES:
            keep_s.append(s)
            keep_e.append(e)
            last_end = e
    return np.asarray(keep_s, np.int64), np.asarray(keep_e, np.int64)


def parse_reply(text: str) -> tuple[bool, str, dict[str, str]]:
    """Split a reply text ``"OK ID proto=1 serial=X"`` into (ok, command, fields)."""
    words = text.split()
    if not words:
        return False, "", {}
    ok = words[0] == "OK"
    command = words[1].upper() if len(words) > 1 else ""
    fields: dict[str, str] = {}
    for word in words[2:]:
        key, sep, value = word.partition("=")
        if sep:
            fields[key] = value
    return ok, command, fields
