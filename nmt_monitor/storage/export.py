"""Exporting a session's samples as CSV (``time_s,force_N``, the same as ``stream --format csv``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nmt_monitor.storage.session_file import open_session

CSV_HEADER = "time_s,force_N"


def export_csv(session_path: Path | str, csv_path: Path | str, *, overwrite: bool = False, chunk: int = 200_000) -> int:
    """Write ``time_s,force_N`` rows (time since session start) to ``csv_path``; returns the
    number of rows. Written to a temporary name and renamed, so a reader never sees half a file."""
    session = open_session(session_path, arrays=("time_s", "force_n"))
    csv_path = Path(csv_path)
    if csv_path.exists() and not overwrite:
        raise FileExistsError(csv_path)
    tmp = csv_path.with_name(f".{csv_path.name}.partial")
    t, f = session.time_s, session.force_n
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write(CSV_HEADER + "\n")
        for i in range(0, t.size, chunk):
            block = np.column_stack([t[i:i + chunk], f[i:i + chunk]])
            np.savetxt(out, block, fmt=("%.6f", "%.4f"), delimiter=",")
    if overwrite:
        os.replace(tmp, csv_path)
    else:
        try:
            os.link(tmp, csv_path)
        finally:
            tmp.unlink()
    return int(t.size)
