"""The engine's per-bin history: arrays addressed by absolute bin position."""

from __future__ import annotations

import numpy as np


class BinBuffer:
    """Per-bin arrays addressed by absolute position (bins since the engine started).

    ``j`` bin index on the time grid, ``x`` bin mean (NaN where data is missing), ``xf`` the
    same with missing bins filled by the last value (what the filters see), ``s`` the 2 Hz
    smoothed force, ``f`` the 6 Hz alert force, ``valid`` whether the bin holds data (or is
    interpolated between samples of a slowly sampled sensor), ``z`` the zero in effect there
    (written by the engine's state machine after the bin is appended), ``tol``, ``blo``,
    ``bhi`` the client's tolerance and target band in force when the bin was completed (NaN:
    none).
    """

    NAMES = ("j", "x", "xf", "s", "f", "valid", "z", "tol", "blo", "bhi")

    def __init__(self) -> None:
        self.base = 0
        self.n = 0
        cap = 1024
        self.j = np.zeros(cap, dtype=np.int64)
        self.x = np.zeros(cap)
        self.xf = np.zeros(cap)
        self.s = np.zeros(cap)
        self.f = np.zeros(cap)
        self.valid = np.zeros(cap, dtype=bool)
        self.z = np.zeros(cap)
        self.tol = np.zeros(cap)
        self.blo = np.zeros(cap)
        self.bhi = np.zeros(cap)

    @property
    def end(self) -> int:
        return self.base + self.n

    def append(self, j, x, xf, s, f, valid) -> None:
        m = j.size
        if self.n + m > self.j.size:
            cap = max(2 * self.j.size, self.n + m)
            for name in self.NAMES:
                old = getattr(self, name)
                new = np.zeros(cap, dtype=old.dtype)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        sl = slice(self.n, self.n + m)
        self.j[sl] = j
        self.x[sl] = x
        self.xf[sl] = xf
        self.s[sl] = s
        self.f[sl] = f
        self.valid[sl] = valid
        self.n += m

    def trim(self, keep_from: int) -> None:
        """Forget bins before ``keep_from`` (lazily: only when at least half the buffer goes)."""
        drop = keep_from - self.base
        if drop <= 0 or drop < self.n // 2 or drop < 4096:
            return
        for name in self.NAMES:
            arr = getattr(self, name)
            arr[: self.n - drop] = arr[drop : self.n]
        self.n -= drop
        self.base = keep_from

    def set(self, name: str, p0: int, values: np.ndarray) -> None:
        getattr(self, name)[p0 - self.base : p0 - self.base + values.size] = values

    def fill(self, name: str, p0: int, p1: int, value: float) -> None:
        getattr(self, name)[p0 - self.base : p1 - self.base] = value

    def get(self, name: str, p0: int, p1: int) -> np.ndarray:
        return getattr(self, name)[p0 - self.base : p1 - self.base]

    def at(self, name: str, p: int):
        return getattr(self, name)[p - self.base]
