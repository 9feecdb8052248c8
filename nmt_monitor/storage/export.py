"""Exporting a session's samples as CSV (``time_s,force_N``, the same as ``stream --format csv``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

import numpy as np

from nmt_monitor.storage import layout as L
from nmt_monitor.storage.session_file import SessionFileError, open_session

CSV_HEADER = "time_s,force_N"
DEFAULT_CHUNK = 200_000
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5_file(path: Path | str) -> bool:
    """True for an HDF5 file (by its signature at offset 0, or its name): never a CSV target."""
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5", ".nwb"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def write_csv_rows(session_path: Path | str, out: TextIO, *, chunk: int = DEFAULT_CHUNK) -> int:
    """Write the header and ``time_s,force_N`` rows to the open text file ``out``, reading the
    datasets ``chunk`` samples at a time (memory stays flat however long the session)."""
    import h5py

    open_session(session_path, arrays=False)  # a readable nmt-monitor session, or SessionFileError
    with h5py.File(session_path, "r") as f:
        g = f[L.FORCE]
        t_ds, f_ds = g["timestamps"], g["data"]
        n = int(t_ds.shape[0])
        if int(f_ds.shape[0]) != n:
            raise SessionFileError(f"{session_path}: timestamps and data differ in length")
        out.write(CSV_HEADER + "\n")
        for i in range(0, n, chunk):
            block = np.column_stack([t_ds[i:i + chunk], f_ds[i:i + chunk].astype(np.float64)])
            np.savetxt(out, block, fmt=("%.6f", "%.4f"), delimiter=",")
    return n


def export_csv(session_path: Path | str, csv_path: Path | str, *, overwrite: bool = False,
               chunk: int = DEFAULT_CHUNK) -> int:
    """Write ``time_s,force_N`` rows (time since session start) to ``csv_path``; returns the
    number of rows. Written to a temporary name and then renamed (or linked, to never replace
    an existing file without ``overwrite``), so a reader never sees half a file and a failed
    export leaves nothing behind. An HDF5 file is never overwritten (``FileExistsError``)."""
    from nmt_monitor.storage.h5writer import link_no_overwrite, new_partial_file

    open_session(session_path, arrays=False)
    csv_path = Path(csv_path)
    if csv_path.exists():
        if not overwrite:
            raise FileExistsError(csv_path)
        if is_hdf5_file(csv_path):
            raise FileExistsError(f"{csv_path} is an HDF5 file (a recording?): never overwritten by an export")
    fd, tmp = new_partial_file(csv_path)
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            n = write_csv_rows(session_path, out, chunk=chunk)
        if overwrite:
            os.replace(tmp, csv_path)
        else:
            link_no_overwrite(tmp, csv_path)
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass
    return n
