"""What acquisition hands out: blocks of samples as NumPy arrays, link events, statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SampleBlock:
    """Consecutive samples from one sensor, as arrays of equal length.

    ``host_time_s``: when the sample was taken, on the host's clock (Unix epoch seconds),
    mapped from device time for our sensor, the receive time for a gauge.
    ``device_time_s``: the device's own clock, seconds since it powered up (NaN for gauges).
    ``seq``: sample index from the device, unwrapped (our sensor), or a reading counter (gauges);
    a jump in ``seq`` within a segment is a gap of lost samples.
    ``counts``: raw ADC counts (our sensor), or None for gauges.
    ``force_n``: calibrated force in newtons, compression positive.
    ``saturated``: the sample was at an ADC rail or beyond full scale: do not trust it.
    ``segment``: increments at each reconnect or device reset; device time and seq restart.
    """

    host_time_s: np.ndarray
    device_time_s: np.ndarray
    seq: np.ndarray
    counts: np.ndarray | None
    force_n: np.ndarray
    saturated: np.ndarray
    segment: int = 0

    def __len__(self) -> int:
        return int(self.force_n.size)


@dataclass(frozen=True)
class LinkEvent:
    """Something that happened on the link: ``kind`` is one of

    ``connected`` (detail: protocol, serial, ...), ``disconnected`` (detail: reason),
    ``reconnected`` (detail: ``serial_number``, ``same_sensor``: true, false, or null when it
    cannot be told), ``gap`` (samples lost: detail ``samples``, ``frames``, device times),
    ``device_reset`` (the device restarted its counters), ``reply`` (a command's reply text),
    ``tare`` (the device applied a new zero), ``warning`` (detail: ``message``, and for some a
    ``code``: ``no_readings``, ``format_changed``, ``sensor_changed``, ``identity_unknown``),
    ``info`` (detail: ``message``, ``code``: ``readings_resumed``), ``fatal`` (the reading
    thread stopped), ``link_stats`` (the link's counters when the stream ended).
    """

    kind: str
    host_time_s: float
    detail: dict = field(default_factory=dict)


@dataclass
class LinkStats:
    """Counters of a link; a snapshot is a copy (``dataclasses.replace``)."""

    port: str = ""
    protocol: str = ""
    state: str = "connecting"  # connecting | streaming | no readings | reconnecting | stopped | failed
    samples: int = 0
    rate_hz: float = 0.0  # achieved sample rate over the last few seconds
    frames: int = 0
    frames_lost: int = 0
    samples_lost: int = 0
    crc_failures: int = 0
    bytes_in: int = 0
    bytes_skipped: int = 0
    reconnects: int = 0
    saturated_samples: int = 0
    gauge_errors: int = 0  # error replies from a gauge (e.g. Mark-10 "*10")
    unknown_units: int = 0  # gauge lines in a unit we cannot convert (readings dropped)
    lines_rejected: int = 0  # gauge lines not read: noise, another format, implausible
    format_changes: int = 0  # times the gauge's lines changed format
    serial_number: str = ""

    def summary(self) -> str:
        if self.protocol == "gauge":
            detail = (f"lines rejected {self.lines_rejected}, error replies {self.gauge_errors}, "
                      f"format changes {self.format_changes}")
        else:
            detail = (f"frames lost {self.frames_lost}, samples lost {self.samples_lost}, "
                      f"CRC failures {self.crc_failures}")
        return (
            f"{self.port} {self.protocol or '?'} {self.state}: {self.samples} samples "
            f"@ {self.rate_hz:.1f} Hz, {detail}, bytes skipped {self.bytes_skipped}, "
            f"reconnects {self.reconnects}"
        )


def concat_blocks(blocks: list[SampleBlock]) -> SampleBlock:
    """One block from many (e.g. to analyse a whole stream); segments are not preserved."""
    if not blocks:
        empty = np.empty(0)
        return SampleBlock(empty, empty, np.empty(0, np.int64), None, empty, np.empty(0, bool))
    counts = None
    if all(b.counts is not None for b in blocks):
        counts = np.concatenate([b.counts for b in blocks])
    return SampleBlock(
        host_time_s=np.concatenate([b.host_time_s for b in blocks]),
        device_time_s=np.concatenate([b.device_time_s for b in blocks]),
        seq=np.concatenate([b.seq for b in blocks]),
        counts=counts,
        force_n=np.concatenate([b.force_n for b in blocks]),
        saturated=np.concatenate([b.saturated for b in blocks]),
        segment=blocks[-1].segment,
    )
