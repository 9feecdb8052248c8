"""Exporting a session's samples as CSV (``time_s,force_N``, the same as ``stream --format csv``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

import numpy as np

from nmt_monitor.storage.session_file import SessionFileError, open_checked, open_session, read_session

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
    datasets ``chunk`` samples at a time (memory stays flat however long the session).

    The file is checked first (``open_checked``: links, storage, shapes against ``n_samples``),
    so exactly ``n_samples`` rows are written, never more than the file declares; a time that
    goes backwards or a non-finite value stops the export (``SessionFileError``)."""
    with open_checked(session_path) as cs:
        read_session(cs, arrays=False)  # metadata and tables must be readable too
        n = cs.n_samples
        if n == 0:
            raise SessionFileError(f"{cs.path}: the session holds no samples: nothing to export")
        out.write(CSV_HEADER + "\n")
        previous = None
        for i in range(0, n, chunk):
            rows = slice(i, min(n, i + chunk))
            t = cs.read_samples("timestamps", rows).astype(np.float64)
            cs.check_time(t, i, previous)
            x = cs.read_samples("data", rows)
            cs.check_force(x, i)
            previous = float(t[-1])
            np.savetxt(out, np.column_stack([t, x.astype(np.float64)]), fmt=("%.6f", "%.4f"), delimiter=",")
    return n


def export_csv(session_path: Path | str, csv_path: Path | str, *, overwrite: bool = False,
               chunk: int = DEFAULT_CHUNK) -> int:
    """Write ``time_s,force_N`` rows (time since session start) to ``csv_path``; returns the
    number of rows. Written to a temporary name and then renamed (or linked, to never replace
    an existing file without ``overwrite``), so a reader never sees half a file and a failed
    export leaves nothing behind. An HDF5 file is never overwritten (``FileExistsError``)."""
    from nmt_monitor.storage.h5writer import link_no_overwrite, new_partial_file

    open_session(session_path, arrays=False)  # refuse a bad file before creating anything
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
