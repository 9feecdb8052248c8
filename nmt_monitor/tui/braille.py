"""Drawing a force trace with braille cells (2 x 4 dots per terminal cell), in plain NumPy.

``trace_grid`` turns samples into a boolean dot grid; ``grid_to_cells`` packs the dots into
braille code points. The widget adds colours, the target band and the tolerance line.
"""

from __future__ import annotations

import numpy as np

# Bit of each dot in a braille cell, indexed [row 0..3][col 0..1] (Unicode braille patterns).
_DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int32)
BRAILLE_BLANK = 0x2800


def column_ranges(t: np.ndarray, f: np.ndarray, t_start: float, t_end: float, n_cols: int):
    """Per dot column: (has_data, min, max, last) of the samples that fall in it."""
    has = np.zeros(n_cols, bool)
    lo = np.zeros(n_cols)
    hi = np.zeros(n_cols)
    last = np.zeros(n_cols)
    if t.size == 0 or n_cols <= 0 or t_end <= t_start:
        return has, lo, hi, last
    col = ((t - t_start) * (n_cols / (t_end - t_start))).astype(np.int64)
    keep = (col >= 0) & (col < n_cols)
    col, fk = col[keep], f[keep]
    if col.size == 0:
        return has, lo, hi, last
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])  # t sorted -> columns sorted
    cols = col[starts]
    has[cols] = True
    lo[cols] = np.minimum.reduceat(fk, starts)
    hi[cols] = np.maximum.reduceat(fk, starts)
    ends = np.r_[starts[1:], col.size] - 1
    last[cols] = fk[ends]
    return has, lo, hi, last


def value_to_dot_row(value, y_min: float, y_max: float, n_rows: int):
    """Dot row (0 = top) of a value; clipped to the grid."""
    scale = (n_rows - 1) / (y_max - y_min) if y_max > y_min else 0.0
    r = np.rint((y_max - np.asarray(value, dtype=np.float64)) * scale).astype(np.int64)
    return np.clip(r, 0, n_rows - 1)


def trace_grid(t, f, t_start: float, t_end: float, width_cells: int, height_cells: int,
               y_min: float, y_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Dots of the trace: a (4*height, 2*width) bool grid, and per dot column its peak force
    (NaN where no data), for colouring. Neighbouring columns are joined so the line has no holes."""
    nx, ny = 2 * width_cells, 4 * height_cells
    grid = np.zeros((ny, nx), bool)
    peak = np.full(nx, np.nan)
    if nx == 0 or ny == 0:
        return grid, peak
    has, lo, hi, last = column_ranges(np.asarray(t, float), np.asarray(f, float), t_start, t_end, nx)
    if not has.any():
        return grid, peak
    idx = np.flatnonzero(has)
    lo_r = value_to_dot_row(hi[idx], y_min, y_max, ny)  # larger force = smaller row
    hi_r = value_to_dot_row(lo[idx], y_min, y_max, ny)
    # join each column to the last value of the previous column that has data
    prev = value_to_dot_row(last[idx], y_min, y_max, ny)
    joined = np.flatnonzero(np.diff(idx) <= 2) + 1  # only across small holes
    lo_r[joined] = np.minimum(lo_r[joined], prev[joined - 1])
    hi_r[joined] = np.maximum(hi_r[joined], prev[joined - 1])
    rows = np.arange(ny)[:, None]
    grid[:, idx] = (rows >= lo_r[None, :]) & (rows <= hi_r[None, :])
    peak[idx] = hi[idx]
    return grid, peak


def grid_to_cells(grid: np.ndarray) -> np.ndarray:
    """Pack a (4h, 2w) dot grid into an (h, w) array of braille code points."""
    ny, nx = grid.shape
    h, w = ny // 4, nx // 2
    g = grid[: 4 * h, : 2 * w].reshape(h, 4, w, 2).astype(np.int32)
    bits = (g * _DOT_BITS[None, :, None, :]).sum(axis=(1, 3))
    return bits + BRAILLE_BLANK


def cells_to_text(cells: np.ndarray) -> list[str]:
    return ["".join(map(chr, row)) for row in cells.tolist()]
