"""From decoded frames to calibrated sample blocks: sequence tracking, gaps, clock mapping."""

from __future__ import annotations

from collections import deque

import numpy as np

from nmt_monitor.acquisition.blocks import LinkEvent, SampleBlock
from nmt_monitor.acquisition.nmt_protocol import (
    ADC_MAX,
    ADC_MIN,
    STATUS_SATURATED,
    STATUS_TARE_DONE,
    STATUS_TARED,
    DecodedFrames,
)

U32 = 1 << 32
HALF_U32 = 1 << 31


class ClockMapper:
    """Maps device time to host time, monotonically.

    Each chunk gives one observation ``host_receive_time - device_time_of_its_last_sample``:
    the true offset plus a non-negative transport latency. The smallest observation over a
    sliding window (``window_s``) is the offset estimate. The offset actually applied follows
    the estimate at a limited slew rate (``max_slew``, seconds per device second), spread
    linearly over each block, so host times never step, never go backwards, and absorb a device
    clock that runs fast or slow (hundreds of ppm) without jumps. ``floor_s`` keeps a new
    segment from starting before the previous one ended.
    """

    def __init__(self, window_s: float = 30.0, max_slew: float = 1e-3) -> None:
        self.window_s = window_s
        self.max_slew = max_slew
        self._obs: deque[tuple[float, float]] = deque()
        self._target: float | None = None
        self._applied: float | None = None
        self._last_device_s: float | None = None

    def reset(self) -> None:
        self._obs.clear()
        self._target = None
        self._applied = None
        self._last_device_s = None

    def observe(self, device_time_s: float, host_time_s: float) -> None:
        offset = host_time_s - device_time_s
        obs = self._obs
        # Monotonic deque of candidates for the minimum (classic sliding-window minimum).
        while obs and obs[-1][1] >= offset:
            obs.pop()
        obs.append((device_time_s, offset))
        while obs and obs[0][0] < device_time_s - self.window_s:
            obs.popleft()
        self._target = obs[0][1]

    @property
    def offset_s(self) -> float | None:
        return self._applied

    def to_host(self, device_time_s: np.ndarray, floor_s: float | None = None) -> np.ndarray:
        """Host times for consecutive device times (call once per block, in order)."""
        if self._target is None:
            raise RuntimeError("no clock observation yet")
        if self._applied is None:
            offset = self._target
            if floor_s is not None and device_time_s.size and device_time_s[0] + offset <= floor_s:
                offset = floor_s - device_time_s[0] + 1e-6
            self._applied = offset
            self._last_device_s = float(device_time_s[-1]) if device_time_s.size else None
            return device_time_s + offset
        if device_time_s.size == 0:
            return device_time_s.copy()
        span = float(device_time_s[-1]) - self._last_device_s
        allowed = self.max_slew * max(span, 0.0)
        new = self._applied + float(np.clip(self._target - self._applied, -allowed, allowed))
        # Ramp from the previous offset to the new one across the block.
        frac = (device_time_s - self._last_device_s) / span if span > 0 else np.ones_like(device_time_s)
        out = device_time_s + (self._applied + (new - self._applied) * frac)
        self._applied = new
        self._last_device_s = float(device_time_s[-1])
        return out


class NmtSampleAssembler:
    """Turns ``DecodedFrames`` into ``SampleBlock``s and link events, with explicit state.

    ``counts_to_newtons(counts, tared) -> force_n`` is the calibration; ``full_scale_n`` marks
    samples beyond full scale as saturated.
    """

    def __init__(self, counts_to_newtons, full_scale_n: float) -> None:
        self.counts_to_newtons = counts_to_newtons
        self.full_scale_n = full_scale_n
        self.clock = ClockMapper()
        self.segment = 0
        self._last_frame_seq: int | None = None
        self._next_sample: int | None = None  # unwrapped index expected next
        self._last_device_time_s: float | None = None
        self._last_host_time_s: float | None = None  # kept across segments: time never goes back
        self.frames_lost = 0
        self.samples_lost = 0
        self.saturated_samples = 0
        self.frames = 0
        self.samples = 0

    def new_segment(self) -> None:
        """A reconnect: counters on the device restart, so forget what we expect."""
        self.segment += 1
        self._last_frame_seq = None
        self._next_sample = None
        self._last_device_time_s = None
        self.clock.reset()

    def assemble(self, frames: DecodedFrames, host_receive_time_s: float) -> tuple[list[SampleBlock], list[LinkEvent]]:
        """Samples of the decoded frames, as one block per segment, and what happened.

        Per-frame bookkeeping (sequence numbers, gaps, resets) is plain Python on a few ints
        per frame; everything per sample is NumPy. A live link delivers one or two frames per
        call, where NumPy's per-call overhead would dominate.
        """
        nf = frames.n_frames
        if nf == 0:
            return [], []
        blocks: list[SampleBlock] = []
        events: list[LinkEvent] = []
        seqs = frames.frame_seq.tolist()
        firsts = frames.first_sample.tolist()
        ns = frames.n_samples.tolist()
        times_us = frames.device_time_us.tolist()
        intervals_us = frames.interval_us.tolist()
        run_lo = 0
        run_first: list[int] = []  # unwrapped index of each frame's first sample, this run
        for k in range(nf):
            seq, first, n = seqs[k], firsts[k], ns[k]
            if self._last_frame_seq is not None:
                seq_step = (seq - self._last_frame_seq) % U32
                sample_step = (first - self._next_sample) % U32
                went_back = self._last_device_time_s is not None and times_us[k] * 1e-6 < self._last_device_time_s - 1e-3
                if seq_step == 0 or seq_step >= HALF_U32 or sample_step >= HALF_U32 or went_back:
                    # Counters went backwards: the device restarted (power cycle, reset).
                    if k > run_lo:
                        blocks.append(self._block(frames, run_lo, k, run_first, host_receive_time_s))
                    events.append(LinkEvent("device_reset", host_receive_time_s, {"frame_seq": seq}))
                    self.new_segment()
                    run_lo, run_first = k, []
            if self._last_frame_seq is None:
                start = first
            else:
                lost_frames = seq_step - 1
                start = self._next_sample + sample_step
                if sample_step or lost_frames:
                    self.samples_lost += sample_step
                    self.frames_lost += lost_frames
                    events.append(
                        LinkEvent(
                            "gap",
                            host_receive_time_s,
                            {
                                "samples": sample_step,
                                "frames": lost_frames,
                                "device_time_from_s": self._last_device_time_s,
                                "device_time_to_s": times_us[k] * 1e-6,
                                "segment": self.segment,
                            },
                        )
                    )
            run_first.append(start)
            self._next_sample = start + n
            self._last_frame_seq = seq
            # Device time just after this frame's last sample: where a following gap begins.
            self._last_device_time_s = (times_us[k] + n * intervals_us[k]) * 1e-6
        blocks.append(self._block(frames, run_lo, nf, run_first, host_receive_time_s))
        if np.any(frames.status & STATUS_TARE_DONE):
            events.append(LinkEvent("tare", host_receive_time_s, {"segment": self.segment}))
        return blocks, events

    def _block(self, frames: DecodedFrames, lo: int, hi: int, first_unwrapped: list[int],
               host_receive_time_s: float) -> SampleBlock:
        """Per-sample arrays of frames ``lo:hi`` (one segment)."""
        n = frames.n_samples[lo:hi]
        sample_lo = int(frames.n_samples[:lo].sum()) if lo else 0
        total = int(n.sum())
        counts = frames.counts[sample_lo : sample_lo + total]
        t0_s = frames.device_time_us[lo:hi] * 1e-6
        interval_s = frames.interval_us[lo:hi] * 1e-6
        status = frames.status[lo:hi]
        if hi - lo == 1:
            within = np.arange(total)
            sample_index = first_unwrapped[0] + within
            device_time_s = t0_s[0] + within * interval_s[0]
            tared = bool(status[0] & STATUS_TARED)
        else:
            within = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
            sample_index = np.repeat(np.asarray(first_unwrapped, np.int64), n) + within
            device_time_s = np.repeat(t0_s, n) + within * np.repeat(interval_s, n)
            tared = np.repeat((status & STATUS_TARED) != 0, n)
        force_n = self.counts_to_newtons(counts, tared)
        # At a rail, or clearly beyond full scale (5 % margin: a load at full scale is a valid
        # calibration point, and the host's calibration need not match the device's nominal
        # one). After a tare the counts are offset, so a railed reading no longer sits at the
        # rail: then the frame's SATURATED bit (set by the device, which sees raw readings)
        # marks its samples near full scale.
        saturated = (counts >= ADC_MAX) | (counts <= ADC_MIN) | (np.abs(force_n) > 1.05 * self.full_scale_n)
        frame_saturated = (status & STATUS_SATURATED) != 0
        if frame_saturated.any():
            flagged = frame_saturated[0] if hi - lo == 1 else np.repeat(frame_saturated, n)
            saturated |= flagged & (np.abs(force_n) >= 0.9 * self.full_scale_n)
        self.saturated_samples += int(np.count_nonzero(saturated))
        self.clock.observe(float(device_time_s[-1]), host_receive_time_s)
        host_time_s = self.clock.to_host(device_time_s, floor_s=self._last_host_time_s)
        self._last_host_time_s = float(host_time_s[-1])
        self.frames += hi - lo
        self.samples += total
        return SampleBlock(
            host_time_s=host_time_s,
            device_time_s=device_time_s,
            seq=sample_index,
            counts=counts,
            force_n=force_n,
            saturated=saturated,
            segment=self.segment,
        )
