"""Building blocks of realistic hand-force traces and of the instruments that record them.

NumPy only. Every block is deterministic given the ``numpy.random.Generator`` it is handed.
The physiology and instrumentation behind each choice, with sources, is in docs/corpus.md;
the short form is repeated in each docstring.

The physical signal is built on an internal grid of ``FS`` = 1000 Hz ("physical time");
instrument models then sample, average, quantise and time-stamp it.
"""

from __future__ import annotations

import math

import numpy as np

#: Internal grid of the physical force (Hz). Instruments sample from it.
FS = 1000.0

#: Newtons per unit (same constants as nmt_monitor.units, repeated so this package stays
#: independent of the code under test).
NEWTONS_PER_KGF = 9.80665
NEWTONS_PER_LBF = 4.4482216152605
UNIT_SCALE = {"N": 1.0, "kgf": NEWTONS_PER_KGF, "lbf": NEWTONS_PER_LBF}

#: "Settled" / "departed": the noise-free force is within this fraction of the hold level.
#: 2 % is below the hold's own fluctuation (CV >= 1.7 %, Taylor 2003), so the rest of the
#: ramp is indistinguishable from the plateau (docs/corpus.md, "Ground truth").
SETTLE_FRAC = 0.02


# --------------------------------------------------------------------------------------------
# Ramps (Flash & Hogan 1985)
# --------------------------------------------------------------------------------------------

def minjerk(tau):
    """Minimum-jerk position profile s(tau) = 10 tau^3 - 15 tau^4 + 6 tau^5 on [0, 1] (clipped).

    Flash & Hogan (1985): point-to-point human movements follow the trajectory that minimises
    the integrated squared jerk; zero velocity and acceleration at both ends.
    """
    tau = np.clip(np.asarray(tau, dtype=np.float64), 0.0, 1.0)
    return tau ** 3 * (10.0 - 15.0 * tau + 6.0 * tau * tau)


def minjerk_inverse(s: float) -> float:
    """The tau in [0, 1] where minjerk(tau) == s (bisection; s clipped to [0, 1])."""
    s = min(max(float(s), 0.0), 1.0)
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(minjerk(mid)) < s:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def minjerk_ramp(n: int, f0: float, f1: float) -> np.ndarray:
    """``n`` samples of a minimum-jerk ramp from f0 (first sample) towards f1 (reached one
    sample after the last)."""
    tau = np.arange(n, dtype=np.float64) / max(n, 1)
    return f0 + (f1 - f0) * minjerk(tau)


def hann_bump(n: int) -> np.ndarray:
    """A raised-cosine bump of ``n`` samples, 0 at both ends, 1 in the middle (brief corrections)."""
    if n <= 1:
        return np.zeros(n)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / (n - 1))


# --------------------------------------------------------------------------------------------
# Fluctuation of a force held by hand
# --------------------------------------------------------------------------------------------

def _fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (FFTs of prime lengths are slow; noise is drawn longer and cut)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def pink_noise(n: int, fs: float, rng: np.random.Generator, f_lo: float = 0.02, f_hi: float = 4.0) -> np.ndarray:
    """Unit-SD noise with a 1/f power spectrum between ``f_lo`` and ``f_hi``.

    Force fluctuation during a steady isometric contraction is 1/f-like (Slifkin & Newell 1999)
    with most of its power below ~4 Hz (Vaillancourt 2002; Lakie 2015); above ``f_hi`` the power
    falls as 1/f^3. Below ``f_lo`` the spectrum is flat (no infinite wander over a session).
    Shaped in the frequency domain from white Gaussian noise.
    """
    if n < 2:
        return np.zeros(n)
    m = _fast_len(n)
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.fft.rfftfreq(m, 1.0 / fs)
    amp = 1.0 / np.sqrt(np.maximum(f, f_lo))
    high = f > f_hi
    amp[high] *= f_hi / f[high]  # amplitude ~ f^-1.5 above f_hi: power ~ f^-3
    amp[0] = 0.0
    x = np.fft.irfft(spec * amp, m)[:n]
    sd = x.std()
    return x / sd if sd > 0 else x


def band_noise(n: int, fs: float, rng: np.random.Generator, f_c: float, bw: float) -> np.ndarray:
    """Unit-SD narrow-band Gaussian noise centred on ``f_c`` (Gaussian spectral peak, FWHM ~ bw)."""
    if n < 2:
        return np.zeros(n)
    m = _fast_len(n)
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.fft.rfftfreq(m, 1.0 / fs)
    sigma = bw / 2.355
    x = np.fft.irfft(spec * np.exp(-0.5 * ((f - f_c) / sigma) ** 2), m)[:n]
    sd = x.std()
    return x / sd if sd > 0 else x


def tremor(n: int, fs: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Physiological tremor: unit-SD band noise with its peak at 8-12 Hz (Lakie 2015; Taylor 2003).

    Returns the noise and its centre frequency."""
    f_c = float(rng.uniform(8.0, 12.0))
    return band_noise(n, fs, rng, f_c, bw=2.0), f_c


def breathing(n: int, fs: float, rng: np.random.Generator, f_mean: float | None = None) -> tuple[np.ndarray, float]:
    """Breathing of a prone client: a sinusoid at 0.2-0.3 Hz whose rate wanders by ~5 %.

    Multiply by depth (0.5-2 % of the contact force, field-notes "Signals as they really arrive")
    and by the contact force. Returns the unit-amplitude wave and its mean rate.
    """
    if f_mean is None:
        f_mean = float(rng.uniform(0.2, 0.3))
    wander = pink_noise(n, fs, rng, f_lo=0.005, f_hi=0.05) if n > 1 else np.zeros(n)
    f_inst = f_mean * (1.0 + 0.05 * wander)
    phase = 2.0 * np.pi * np.cumsum(f_inst) / fs + rng.uniform(0, 2 * np.pi)
    return np.sin(phase), f_mean


def force_sd(level, a_n: float, b_rel: float):
    """Signal-dependent SD of a held force: SD = a + b * F.

    The SD of force grows in proportion to the force (Harris & Wolpert 1998; Slifkin & Newell
    1999) with a floor, so the CV (SD / F) is larger at low forces (Enoka 2003). With a = 0.08-0.2 N
    and b = 1.5-3.5 % the CV is ~1.7-5 % at 20-60 N and 5-9 % at 3-5 N.
    """
    return a_n + b_rel * np.asarray(level, dtype=np.float64)


def exp_drift(tt, depth: float, tau_s: float):
    """Multiplicative drift factor 1 - depth * (1 - exp(-tt / tau)) for tt >= 0 (1 before).

    Without visual feedback, a held force decays roughly exponentially (tau ~10-20 s) by up to
    ~35 % (Ambike 2015; Hirose 2020; Vaillancourt & Russell 2002). Negative depth: drift up.
    """
    tt = np.maximum(np.asarray(tt, dtype=np.float64), 0.0)
    return 1.0 - depth * (1.0 - np.exp(-tt / tau_s))


def design_drift_pct(force: np.ndarray, fs: float, window_s: float = 2.0) -> float:
    """design.md: 100 x (mean over the last 2 s - mean over the first 2 s) / mean over the first 2 s."""
    w = max(1, int(round(window_s * fs)))
    first = float(np.mean(force[:w]))
    last = float(np.mean(force[-w:]))
    return 100.0 * (last - first) / first if first != 0 else float("nan")


def moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average of ``n`` samples (edges use what is there)."""
    if n <= 1:
        return x.copy()
    c = np.cumsum(np.concatenate(([0.0], x)))
    half = n // 2
    idx = np.arange(x.size)
    lo = np.clip(idx - half, 0, x.size)
    hi = np.clip(idx - half + n, 0, x.size)
    return (c[hi] - c[lo]) / (hi - lo)


# --------------------------------------------------------------------------------------------
# The unloaded cell: zero offset, thermal drift, wander, tare
# --------------------------------------------------------------------------------------------

def thermal_zero(t: np.ndarray, rng: np.random.Generator, amp_range=(0.2, 1.0)) -> tuple[np.ndarray, dict]:
    """Thermal zero shift as the hand warms the cell: A (1 - exp(-t / tau)).

    0.2-1 N over minutes (field-notes: zero shift with temperature; tau 60-300 s), either sign.
    """
    amp = float(rng.uniform(*amp_range)) * float(rng.choice([-1.0, 1.0]))
    tau = float(rng.uniform(60.0, 300.0))
    return amp * (1.0 - np.exp(-t / tau)), {"thermal_amp_N": amp, "thermal_tau_s": tau}


def wandering_zero(t: np.ndarray, rng: np.random.Generator, p2p_range=(1.0, 3.0)) -> tuple[np.ndarray, dict]:
    """A zero that wanders 1-3 N peak to peak over the session (untared, warming sensor; issue 9).

    Smooth random process (1/f noise limited to below 1/30 Hz), scaled to the drawn peak-to-peak.
    """
    n = t.size
    x = pink_noise(n, FS, rng, f_lo=0.002, f_hi=1.0 / 30.0)
    x = x - x[0]
    p2p = float(rng.uniform(*p2p_range))
    span = float(x.max() - x.min())
    return x * (p2p / span if span > 0 else 0.0), {"wander_p2p_N": p2p}


# --------------------------------------------------------------------------------------------
# Instruments and loggers
# --------------------------------------------------------------------------------------------

def _interp(ts: np.ndarray, t: np.ndarray, f: np.ndarray) -> np.ndarray:
    return np.interp(ts, t, f)


def _window_mean(ts: np.ndarray, period: float, t: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Mean of f over (ts - period, ts] on the internal grid (an averaging ADC / gauge output)."""
    c = np.concatenate(([0.0], np.cumsum(f)))
    hi = np.clip(np.searchsorted(t, ts, side="right"), 1, t.size)
    lo = np.clip(np.searchsorted(t, ts - period, side="right"), 0, t.size - 1)
    lo = np.minimum(lo, hi - 1)
    return (c[hi] - c[lo]) / (hi - lo)


def quantise(x: np.ndarray, step: float) -> np.ndarray:
    """Round to the display resolution ``step`` (in the gauge's unit)."""
    return np.round(x / step) * step


def drop_frames(n: int, rng: np.random.Generator, per_minute: float, frame_range=(5, 50), rate_hz: float = 1000.0) -> np.ndarray:
    """A keep-mask with rare runs of dropped samples (lost frames leave gaps in time)."""
    keep = np.ones(n, dtype=bool)
    minutes = n / rate_hz / 60.0
    for _ in range(int(rng.poisson(per_minute * minutes))):
        k = int(rng.integers(0, n))
        keep[k:k + int(rng.integers(frame_range[0], frame_range[1] + 1))] = False
    keep[0] = keep[-1] = True
    return keep


def own_sensor(t: np.ndarray, f: np.ndarray, rng: np.random.Generator, rate_hz: float,
               noise_n: float, ppm: float = 0.0, drops_per_minute: float = 0.0, t0: float = 0.0):
    """Our own handheld sensor: ``rate_hz`` samples with device time (µs resolution).

    The device clock runs ``ppm`` fast or slow (crystal, +-50 ppm); electronic noise is white,
    ``noise_n`` SD (chip ~1 mN, real modules ~20 mN; field-notes "Sensor physics"). Dropped frames
    (sequence gaps) leave gaps in time.
    Returns (time_s, force_N, time_map) where time_map = (scale, offset): t_file = t_phys * scale + offset.
    """
    dt = 1.0 / rate_hz
    k = np.arange(int(np.floor((t[-1] - t[0]) / (dt * (1 + ppm * 1e-6)))) + 1)
    ts_phys = t[0] + k * dt * (1.0 + ppm * 1e-6)
    val = _interp(ts_phys, t, f) + noise_n * rng.standard_normal(k.size)
    dev = t0 + np.round(k * dt, 6)
    keep = drop_frames(k.size, rng, drops_per_minute, rate_hz=rate_hz) if drops_per_minute > 0 else np.ones(k.size, bool)
    scale = 1.0 / (1.0 + ppm * 1e-6)
    return dev[keep], val[keep], (scale, t0 - t[0] * scale)


def host_stamps(emit_s: np.ndarray, line_bytes: int, rng: np.random.Generator, baud: int,
                clock_res_s: float, latency_s: float = 0.016, stalls_per_minute: float = 1.5,
                stall_range=(0.03, 0.2), origin_s: float = 0.0, usb_packet_bytes: int = 62) -> np.ndarray:
    """Host-clock stamps of ASCII lines that reach the host through an FTDI USB-serial bridge.

    - each line takes ``line_bytes`` x 10 bits / baud on the UART (8N1);
    - the FTDI chip sends its buffer when it holds ``usb_packet_bytes`` (62 payload bytes) or
      when the latency timer (default 16 ms) expires (FTDI AN232B-04);
    - the logger thread wakes when a packet arrives and stamps each line with the host clock,
      whose resolution is 1 ms or 15.625 ms (Windows' default 64 Hz tick), so the lines of one
      packet share a stamp;
    - rarely (``stalls_per_minute``) the logger is descheduled for 30-200 ms and everything that
      arrived meanwhile gets the stamp of when it resumes.
    Returns non-decreasing stamps (s), ``origin_s`` + host time.
    """
    n = emit_s.size
    tx = line_bytes * 10.0 / baud
    done = (emit_s + tx).tolist()  # the line's last byte is in the FTDI buffer
    arrive = [0.0] * n
    phase = float(rng.uniform(0.0, latency_s))
    buf = 0
    first_in_buf = 0
    tick = 0.0
    for i in range(n):
        if buf == 0:
            # the latency timer expires at the first tick after this packet's first byte
            tick = phase + latency_s * math.ceil((done[i] - phase) / latency_s)
        buf += line_bytes
        if buf >= usb_packet_bytes or i == n - 1 or done[i + 1] > tick:
            when = done[i] if buf >= usb_packet_bytes else max(tick, done[i])
            for j in range(first_in_buf, i + 1):
                arrive[j] = when
            buf = 0
            first_in_buf = i + 1
    arrive = np.maximum.accumulate(np.asarray(arrive))
    # the reader wakes 0-2 ms after a packet arrives (scheduler) and handles its lines together
    packets, first = np.unique(arrive, return_inverse=True)
    wake = arrive + rng.uniform(0.0, 0.002, packets.size)[first]
    wake = np.maximum.accumulate(wake)
    minutes = (emit_s[-1] - emit_s[0]) / 60.0 if n > 1 else 0.0
    for _ in range(int(rng.poisson(stalls_per_minute * minutes))):
        s0 = float(rng.uniform(emit_s[0], emit_s[-1]))
        s1 = s0 + float(rng.uniform(*stall_range))
        inside = (wake >= s0) & (wake < s1)
        wake[inside] = s1
    wake = np.maximum.accumulate(wake)
    stamps = np.floor(wake / clock_res_s) * clock_res_s
    return origin_s + stamps


def gauge(t: np.ndarray, f: np.ndarray, rng: np.random.Generator, rate_hz: float, unit: str, resolution: float,
          noise_n: float = 0.005):
    """A commercial force gauge streaming 10-50 readings/s over RS-232/USB (Mark-10, Wagner FDIX
    ``C.5..C100``, Imada, Shimpo; field-notes "Commercial force gauges").

    Each reading is the mean over its output period (the gauge averages its fast internal ADC
    between outputs) and is quantised to the display resolution in the gauge's unit (0.1 N,
    0.01 lbf, 0.001 kgf). Its clock is its own (+-0.5 %). Returns the physical output times and
    values in ``unit``; stamp them with ``host_stamps``.
    """
    period = 1.0 / (rate_hz * (1.0 + rng.uniform(-0.005, 0.005)))
    ts = t[0] + period + np.arange(int((t[-1] - t[0]) / period)) * period
    val = _window_mean(ts, period, t, f) + noise_n * rng.standard_normal(ts.size)
    return ts, quantise(val / UNIT_SCALE[unit], resolution)


def hx711(t: np.ndarray, f: np.ndarray, rng: np.random.Generator, rate_hz: float, ma_n: int, noise_n: float):
    """An HX711 board (10 or 80 samples/s from its own oscillator, +-5 %) and a firmware moving
    average of ``ma_n`` readings (HX711 datasheet; common Arduino libraries average 1-128 readings).

    Each conversion averages the input over its period; noise is white (``noise_n`` SD, higher at
    80 Hz). Returns physical output times and values in N (before printing).
    """
    period = 1.0 / (rate_hz * (1.0 + rng.uniform(-0.05, 0.05)))
    ts = t[0] + period + np.arange(int((t[-1] - t[0]) / period)) * period
    val = _window_mean(ts, period, t, f) + noise_n * rng.standard_normal(ts.size)
    if ma_n > 1:  # causal moving average of the last ma_n readings, as firmware does
        c = np.concatenate(([0.0], np.cumsum(val)))
        idx = np.arange(1, val.size + 1)
        lo = np.maximum(idx - ma_n, 0)
        val = (c[idx] - c[lo]) / (idx - lo)
    return ts, val
