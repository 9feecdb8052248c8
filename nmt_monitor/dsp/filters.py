"""Building blocks with explicit state: time binning, the data's own sampling interval, and a
low-pass that carries its state. NumPy only."""

from __future__ import annotations

import math

import numpy as np

_EMPTY_F = np.empty(0, dtype=np.float64)
_EMPTY_I = np.empty(0, dtype=np.int64)


class Binner:
    """Averages samples into bins ``[t0 + (j-1/2)*dt, t0 + (j+1/2)*dt)``, centred on the grid
    ``t0 + j*dt`` (t0 = the first sample's time).

    Centring matters: data sampled at exactly the bin rate (50 Hz) puts each sample in the
    middle of its bin, so float error in the times (``123.456 + k*0.02``, rounded to ms) cannot
    move a sample into its neighbour's bin and leave an empty bin (an invented gap) behind.

    A bin is emitted once a sample of a later bin has arrived (or at ``final``); the samples
    of the still-open bin are carried, so any chunking yields exactly the same bins.
    Samples whose force is not finite are dropped (they count as missing).

    Time must not go backwards; it may repeat. Host loggers stamp lines with a 1 ms or
    15.6 ms clock behind a 16 ms USB latency timer, so several readings of one USB burst
    share a stamp (field-notes.md): they are averaged into the same bin.
    """

    def __init__(self, dt: float) -> None:
        self.dt = float(dt)
        self.t0: float | None = None
        self.last_t = -np.inf
        self._ct = _EMPTY_F
        self._cf = _EMPTY_F
        self.n_samples = 0
        self.first_t: float | None = None

    def push(self, t: np.ndarray, f: np.ndarray, final: bool = False):
        """Returns (j, mean, count) of the completed, non-empty bins, in order."""
        if t.size:
            if not t[0] >= self.last_t or (t.size > 1 and not np.all(t[1:] >= t[:-1])):
                raise ValueError("time must not go backwards (across chunks too)")
            if not np.isfinite(t[-1]) or not np.isfinite(t[0]):
                raise ValueError("time must be finite")
            self.last_t = float(t[-1])
            ok = np.isfinite(f)
            if not ok.all():
                t, f = t[ok], f[ok]
        if t.size:
            if self.t0 is None:
                self.t0 = float(t[0])
                self.first_t = self.t0
            self.n_samples += t.size
        if self._ct.size:
            t = np.concatenate((self._ct, t))
            f = np.concatenate((self._cf, f))
        if t.size == 0:
            return _EMPTY_I, _EMPTY_F, _EMPTY_I
        j = np.floor((t - self.t0) / self.dt + 0.5).astype(np.int64)
        if final:
            n = t.size
        else:
            n = int(np.searchsorted(j, j[-1], side="left"))
        self._ct, self._cf = t[n:], f[n:]
        if n == 0:
            return _EMPTY_I, _EMPTY_F, _EMPTY_I
        jc = j[:n]
        if n == 1 or jc[0] == jc[-1]:
            starts = np.zeros(1, dtype=np.int64)
        else:
            starts = np.flatnonzero(np.concatenate(([True], jc[1:] != jc[:-1])))
        sums = np.add.reduceat(f[:n], starts)
        counts = np.diff(np.append(starts, n))
        return jc[starts], sums / counts, counts


class SampleSpacing:
    """The data's own typical interval between samples, in bins, and which runs of empty
    bins are therefore just sampling (a 10 Hz gauge fills one 20 ms bin in five) rather
    than missing data.

    The typical interval is the mean over the last ``history`` non-empty bins of (bins
    spanned / samples): repeated stamps and clumped arrival average out, and a run of
    empty bins is judged by the bins before it only, so any chunking gives the same answer.
    """

    def __init__(self, factor: float, max_run: int, history: int = 16) -> None:
        self.factor = factor
        self.max_run = max_run
        self.history = history
        self._spans = _EMPTY_F
        self._counts = _EMPTY_F

    def reset(self) -> None:
        self._spans = _EMPTY_F
        self._counts = _EMPTY_F

    def allowed_empty(self, empty_before: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """For each new bin (``empty_before`` empty bins before it, ``counts`` samples in it):
        how many empty bins before it are sampling. One empty bin always is."""
        spans = np.minimum(empty_before, self.max_run).astype(np.float64) + 1.0
        c = counts.astype(np.float64)
        m = self._spans.size
        S = np.concatenate((self._spans, spans))
        C = np.concatenate((self._counts, c))
        cs = np.concatenate(([0.0], np.cumsum(S)))
        cc = np.concatenate(([0.0], np.cumsum(C)))
        idx = np.arange(m, m + spans.size)
        lo = np.maximum(idx - self.history, 0)
        n = cc[idx] - cc[lo]
        typical = np.where(n > 0, (cs[idx] - cs[lo]) / np.maximum(n, 1.0), 0.0)
        self._spans = S[-self.history :]
        self._counts = C[-self.history :]
        return np.floor(np.maximum(self.factor * typical, 2.0) - 1.0).astype(np.int64)


class LowPass:
    """2nd-order Butterworth low-pass (one biquad, direct form II transposed) with carried state.

    The coefficients are the bilinear transform's in closed form (what ``scipy.signal.butter``
    gives, to the last bit or two), and the recurrence runs in plain Python: ~0.2 us a bin, so
    an hour at 50 bins/s takes ~40 ms, while importing ``scipy.signal`` alone costs ~0.7 s,
    more than analysing a short recording. One code path: chunking cannot change a number.
    """

    def __init__(self, cutoff_hz: float, fs: float) -> None:
        k = math.tan(math.pi * cutoff_hz / fs)
        norm = 1.0 + math.sqrt(2.0) * k + k * k
        b0 = k * k / norm
        b1, b2 = 2.0 * b0, b0
        a1 = 2.0 * (k * k - 1.0) / norm
        a2 = (1.0 - math.sqrt(2.0) * k + k * k) / norm
        self._c = (b0, b1, b2, a1, a2)
        self.sos = np.array([[b0, b1, b2, 1.0, a1, a2]])
        # steady state for a constant input of 1 (the DC gain is 1)
        self._zi_unit = (b1 + b2 - a1 - a2, b2 - a2)
        self.fs = float(fs)
        self.z1 = 0.0
        self.z2 = 0.0
        impulse = np.zeros(int(20 * fs / cutoff_hz) + 16)
        impulse[0] = 1.0
        #: SD of the output for white input of SD 1
        self.noise_gain = float(np.sqrt(np.sum(self._copy()._run(impulse) ** 2)))

    def _copy(self) -> LowPass:
        twin = object.__new__(LowPass)
        twin.__dict__.update(self.__dict__)
        twin.z1 = twin.z2 = 0.0
        return twin

    def reset(self, x0: float) -> None:
        """Start in steady state at ``x0`` (no start-up transient)."""
        self.z1 = self._zi_unit[0] * float(x0)
        self.z2 = self._zi_unit[1] * float(x0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._run(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        b0, b1, b2, a1, a2 = self._c
        z1, z2 = self.z1, self.z2
        out = [0.0] * x.size
        for i, xi in enumerate(x.tolist()):
            y = b0 * xi + z1
            z1 = b1 * xi - a1 * y + z2
            z2 = b2 * xi - a2 * y
            out[i] = y
        self.z1, self.z2 = z1, z2
        return np.array(out, dtype=np.float64)

    def group_delay_s(self, fs: float, freq_hz: float = 0.1) -> float:
        """Group delay (s) at ``freq_hz``: minus the derivative of the phase response."""
        b0, b1, b2, a1, a2 = self._c

        def phase(f: float) -> float:
            z = np.exp(-2j * np.pi * f / fs)
            return float(np.angle((b0 + b1 * z + b2 * z * z) / (1.0 + a1 * z + a2 * z * z)))

        df = 1e-4 * max(freq_hz, 1e-3)
        return -(phase(freq_hz + df) - phase(freq_hz - df)) / (2.0 * df) / (2.0 * np.pi)
