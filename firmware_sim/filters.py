"""Linear filters for the simulator in plain NumPy.

``scipy.signal`` takes longer to import (~0.7 s) than the rest of ``nmt-monitor live``'s
start-up, so the simulator designs its Butterworth filters itself (the same design as
``scipy.signal.butter``: analog prototype, pre-warped band edges, bilinear transform) and filters
by FFT convolution with the exact impulse response (from the poles' residues), which matches
``sosfilt`` from a zero state to ~1e-12 of the signal's scale.
"""

from __future__ import annotations

import math

import numpy as np


def butter_zpk(order: int, wn, btype: str = "low") -> tuple[np.ndarray, np.ndarray, float]:
    """Digital Butterworth zeros, poles and gain; ``wn`` is normalised (1 = Nyquist), a pair for
    ``btype="band"``. Same result as ``scipy.signal.butter(order, wn, btype, output="zpk")``."""
    m = np.arange(-order + 1, order, 2)
    p = -np.exp(1j * math.pi * m / (2 * order))  # analog prototype, cut-off 1 rad/s
    z = np.empty(0, dtype=complex)
    k = 1.0
    fs = 2.0
    warped = 2 * fs * np.tan(math.pi * np.atleast_1d(np.asarray(wn, dtype=float)) / fs)
    if btype == "low":
        p = p * warped[0]
        k = k * warped[0] ** order
    elif btype == "band":
        w1, w2 = warped
        wo, bw = math.sqrt(w1 * w2), w2 - w1
        p_lp = p * bw / 2
        root = np.sqrt(p_lp ** 2 - wo ** 2)
        p = np.concatenate((p_lp + root, p_lp - root))
        z = np.zeros(order, dtype=complex)
        k = k * bw ** order
    else:
        raise ValueError(f"btype must be 'low' or 'band', not {btype!r}")
    fs2 = 2 * fs
    degree = len(p) - len(z)
    z_d = np.concatenate(((fs2 + z) / (fs2 - z), -np.ones(degree)))
    p_d = (fs2 + p) / (fs2 - p)
    k_d = k * float(np.real(np.prod(fs2 - z) / np.prod(fs2 - p)))
    return z_d, p_d, k_d


def impulse_response(z: np.ndarray, p: np.ndarray, k: float, n_max: int, tol: float = 1e-15) -> np.ndarray:
    """The first samples of the impulse response of ``k * prod(1 - z/q) / prod(1 - p/q)`` (q = the
    z-transform variable; distinct poles inside the unit circle, as many zeros as poles), up to
    where it has decayed below ``tol`` of its scale, at most ``n_max``."""
    n_poles = len(p)
    d = k * np.prod(z) / np.prod(p)  # the direct term
    residues = np.empty(n_poles, dtype=complex)
    for i, pi in enumerate(p):
        b = k * np.prod(1 - z / pi)
        others = np.delete(p, i)
        residues[i] = b / np.prod(1 - others / pi)
    radius = float(np.max(np.abs(p)))
    length = n_max if radius <= 0 else min(n_max, max(1, int(math.ceil(math.log(tol) / math.log(radius))) + 1))
    n = np.arange(length)
    h = np.real((residues[None, :] * p[None, :] ** n[:, None]).sum(axis=1))
    h[0] += float(np.real(d))
    return h


def filter_zpk(z: np.ndarray, p: np.ndarray, k: float, x: np.ndarray) -> np.ndarray:
    """``x`` filtered causally from a zero state (as ``sosfilt`` of the same filter)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    h = impulse_response(z, p, k, x.size)
    return convolve_head(x, h)


def convolve_head(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The first ``len(x)`` samples of the convolution of ``x`` and ``h``."""
    n = x.size
    if min(n, h.size) <= 64:
        return np.convolve(x, h)[:n]
    nfft = 1 << (n + h.size - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(h, nfft), nfft)[:n]


def first_order(x: np.ndarray, alpha: float, y0: float) -> np.ndarray:
    """``y[i] = y[i-1] + alpha * (x[i] - y[i-1])`` from ``y[-1] = y0`` (as
    ``lfilter([alpha], [1, alpha - 1], x, zi=[(1 - alpha) * y0])``)."""
    x = np.asarray(x, dtype=np.float64)
    r = 1.0 - alpha
    powers = r ** np.arange(1, x.size + 1)
    h = np.concatenate(([1.0], powers[:-1])) * alpha
    return convolve_head(x, h) + y0 * powers
