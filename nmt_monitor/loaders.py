"""Loading recordings for ``analyze``: time in s and force in N from a file.

CSV is handled here. Other formats plug in through ``LOADERS`` (suffix -> function
returning a ``Recording``); HDF5 sessions (``.h5``) are read with ``nmt_monitor.storage``. Every problem is raised as a one-line ``UserError`` naming the file (and line/column).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nmt_monitor.errors import UserError
from nmt_monitor.units import NEWTONS_PER_KGF, NEWTONS_PER_LBF


@dataclass
class Recording:
    """A force recording: time (s) that never goes backwards (it may repeat) and force (N)."""

    source: str
    time_s: np.ndarray
    force_n: np.ndarray
    unit: str = "N"  # the unit the file was written in
    #: the session's own settings as recording started, when the file has them
    tolerance_n: float | None = None
    target_band_n: tuple[float, float] | None = None
    #: what the session is about (``general/session`` of an .h5: therapist, client, site, ...);
    #: empty for CSV files
    metadata: dict = field(default_factory=dict)
    #: root attributes of an .h5 session (session_start_time, software_version, ...)
    attrs: dict = field(default_factory=dict)
    #: markers of an .h5 session: dicts with time_s, kind, text
    markers: list = field(default_factory=list)
    #: settings changed while recording (tolerance, band, target hold), as the hold engine
    #: replays them: ``analyze_holds(..., changes=recording.changes)``
    changes: list = field(default_factory=list)
    #: every settings change of an .h5 session: dicts with time_s, field, value, previous
    settings_changes: list = field(default_factory=list)

    def setting_at(self, name: str, time_s: float):
        """A session setting (``general/session`` name, e.g. ``tolerance_N``) in force at
        ``time_s``: the value as recording started, then each change from its time on."""
        value = self.metadata.get(name)
        rows = [r for r in self.settings_changes if r["field"] == name]
        if rows:
            value = rows[0]["previous"]
            for r in rows:
                if r["time_s"] <= time_s:
                    value = r["value"]
        return value


#: Force columns a CSV may have, and newtons per unit of each.
FORCE_COLUMNS: dict[str, tuple[str, float]] = {
    "force_n": ("N", 1.0),
    "force_kgf": ("kgf", NEWTONS_PER_KGF),
    "force_lbf": ("lbf", NEWTONS_PER_LBF),
}


def _fail(path: str, message: str) -> UserError:
    return UserError(f"{path}: {message}")


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except IsADirectoryError:
        raise _fail(path, "is a directory, not a recording") from None
    except PermissionError:
        raise _fail(path, "permission denied") from None
    except OSError as exc:
        raise _fail(path, f"cannot read file ({exc.strerror or exc})") from None
    if b"\x00" in data[:4096]:
        raise _fail(path, "not a text CSV file (binary data)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(path, f"not a UTF-8 text file (bad byte at offset {exc.start})") from None


def load_csv(path: str) -> Recording:
    """Read a CSV with a header ``time_s,force_N`` (or ``force_kgf`` / ``force_lbf``).

    Blank lines and lines starting with ``#`` are skipped; other columns are ignored.
    """
    text = _read_text(path)
    lines = text.splitlines()
    header_no = None
    for no, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            header_no = no
            break
    if header_no is None:
        raise _fail(path, "empty file (expected a header line time_s,force_N and samples)")
    names = [c.strip() for c in lines[header_no - 1].split(",")]
    lower = [n.lower() for n in names]
    if "time_s" not in lower:
        raise _fail(path, f"line {header_no}: missing column time_s (header is {lines[header_no - 1].strip()!r}; "
                          "expected time_s,force_N)")
    force_col = next((c for c in FORCE_COLUMNS if c in lower), None)
    if force_col is None:
        raise _fail(path, f"line {header_no}: missing force column force_N, force_kgf or force_lbf "
                          f"(header is {lines[header_no - 1].strip()!r})")
    ti, fi = lower.index("time_s"), lower.index(force_col)
    unit, scale = FORCE_COLUMNS[force_col]
    body = "\n".join(lines[header_no:])
    data = None
    if body.strip():
        try:
            data = np.loadtxt(io.StringIO(body), delimiter=",", usecols=(ti, fi), comments="#", ndmin=2,
                              dtype=np.float64)
        except (ValueError, IndexError):
            _locate_bad_row(path, lines, header_no, names, ti, fi)
            raise _fail(path, "cannot parse the samples") from None
    if data is None or data.shape[0] == 0:
        raise _fail(path, "no samples after the header (empty recording)")
    t = data[:, 0]
    f = data[:, 1] * scale
    if not np.all(np.isfinite(t)):
        bad = int(np.flatnonzero(~np.isfinite(t))[0])
        raise _fail(path, f"line {_data_line(lines, header_no, bad)}, column {names[ti]}: time is not a finite number")
    if t.size > 1:
        # host loggers repeat a stamp for every reading of one USB burst: time may repeat,
        # it must not go backwards (docs/metrics.md "Time")
        d = np.diff(t)
        if not np.all(d >= 0):
            bad = int(np.flatnonzero(~(d >= 0))[0]) + 1
            raise _fail(path, f"line {_data_line(lines, header_no, bad)}, column {names[ti]}: time goes backwards "
                              f"({float(t[bad - 1]):g} then {float(t[bad]):g}); sort the rows by time")
    return Recording(source=path, time_s=np.ascontiguousarray(t), force_n=np.ascontiguousarray(f), unit=unit)


def _data_rows(lines: list[str], header_no: int):
    for no in range(header_no + 1, len(lines) + 1):
        stripped = lines[no - 1].strip()
        if stripped and not stripped.startswith("#"):
            yield no, stripped


def _data_line(lines: list[str], header_no: int, index: int) -> int:
    for i, (no, _row) in enumerate(_data_rows(lines, header_no)):
        if i == index:
            return no
    return header_no + 1 + index


def _locate_bad_row(path: str, lines, header_no: int, names: list[str], ti: int, fi: int) -> None:
    """Find the first row that does not parse and raise an error naming its line and column."""
    need = max(ti, fi) + 1
    for no, row in _data_rows(lines, header_no):
        cells = row.split("#", 1)[0].split(",")
        if len(cells) < need:
            raise _fail(path, f"line {no}: expected {len(names)} columns, found {len(cells)}")
        for col in (ti, fi):
            cell = cells[col].strip()
            try:
                float(cell)
            except ValueError:
                shown = cell if len(cell) <= 20 else cell[:20] + "..."
                raise _fail(path, f"line {no}, column {names[col]}: {shown!r} is not a number") from None


def load_session_file(path: str) -> Recording:
    """An HDF5 session recorded by nmt-monitor (docs/hdf5-layout.md): force in N on its time axis."""
    from nmt_monitor.storage import open_session  # h5py only when an .h5 file is analysed

    session = open_session(path, arrays=("time_s", "force_n"))
    time_s = np.asarray(session.time_s, dtype=np.float64)
    force_n = np.asarray(session.force_n, dtype=np.float64)
    if time_s.size == 0:
        raise _fail(path, "the session holds no samples")
    return Recording(
        source=path,
        time_s=time_s,
        force_n=force_n,
        unit="N",
        tolerance_n=session.initial_tolerance_n,
        target_band_n=session.initial_target_band_n,
        metadata=dict(session.metadata),
        attrs=dict(session.attrs),
        markers=list(session.markers),
        changes=session.engine_changes(),
        settings_changes=list(session.settings_changes),
    )


#: Loaders by file suffix (lower case).
LOADERS: dict[str, Callable[[str], Recording]] = {
    ".csv": load_csv,
    ".txt": load_csv,
    ".h5": load_session_file,
    ".hdf5": load_session_file,
}


def register_loader(suffix: str, loader: Callable[[str], Recording]) -> None:
    """Let another module (e.g. the HDF5 reader) handle files ending in ``suffix``."""
    LOADERS[suffix.lower()] = loader


def _is_recording(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in LOADERS and not name.startswith(".")


def find_recordings(folder: str, recursive: bool = True) -> list[str]:
    """The supported recordings in ``folder`` (and, if ``recursive``, every folder below it,
    hidden folders skipped), sorted by path."""
    found: list[str] = []
    if recursive:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(os.path.join(root, name) for name in files if _is_recording(name))
    else:
        found = [os.path.join(folder, name) for name in os.listdir(folder)
                 if _is_recording(name) and os.path.isfile(os.path.join(folder, name))]
    return sorted(found)


def expand_paths(paths: list[str], recursive: bool = True) -> list[str]:
    """Files as given; a folder stands for the supported recordings in it and (``recursive``)
    in every folder below it, in sorted path order."""
    out: list[str] = []
    for path in paths:
        path = str(path)
        if os.path.isdir(path):
            found = find_recordings(path, recursive)
            if not found:
                known = ", ".join(sorted(LOADERS))
                raise _fail(path, f"is a directory with no recordings in it ({known})")
            out.extend(found)
        else:
            out.append(path)
    return out


def load_recording(path: str) -> Recording:
    """Load any supported recording; the format is chosen by the file suffix."""
    suffix = os.path.splitext(path)[1].lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        if not os.path.exists(path):
            raise _fail(path, "no such file")
        known = ", ".join(sorted(LOADERS))
        raise _fail(path, f"unknown file type {suffix or '(none)'!r} (known: {known})")
    return loader(path)
