"""Research API: sessions, holds as pandas DataFrames, force as arrays, reliability (docs/research.md).

Needs the research extra (``pip install 'nmt-monitor[research]'``) for the tables::

    from nmt_monitor import research as R

    s = R.open_session("recordings/example-steady.h5")   # metadata, markers, arrays
    t, f = R.force("recordings/example-steady.h5")         # time (s) and force (N), float64
    holds = R.holds_table(["recordings/"], jobs=2)        # DataFrame: one row per hold, metadata as columns
    holds.attrs["provenance"]                              # versions, engine parameters, inputs (SHA-256)
    sessions = R.sessions_table(["recordings/"])          # DataFrame: one row per session
    R.between_hold_cv(holds, by=("source", "site"))      # variability of repeated holds
    R.icc_by(holds, subject="site", value="mean_N")       # ICC (with its 95 % CI) when a site is measured repeatedly
    R.icc(matrix, form="2,1")                             # subjects x measurements

Also the machinery of ``nmt-monitor analyze`` and ``grade`` over many files: ``map_files`` /
``imap_files`` (parallel processes, or a Dask cluster with ``scheduler=``, results in input
order) and ``Progress`` (a bar on stderr when it is a terminal). These need no extra.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from nmt_monitor import __version__
from nmt_monitor.console import Progress  # a rich bar on a terminal, plain lines otherwise
from nmt_monitor.flags import flags_text
from nmt_monitor.storage import open_session  # noqa: F401 - re-exported for notebooks

__all__ = [
    "HOLD_COLUMNS", "ICCResult", "META_COLUMNS", "SESSION_COLUMNS", "Batch", "Progress", "Provenance", "analyze_file",
    "batch", "between_hold_cv", "force", "holds_table", "icc", "icc_by", "imap_files", "map_files", "open_session",
    "provenance", "read_parquet", "rows_for", "sessions_table", "to_csv", "write_parquet",
]

#: Session columns of the tidy holds table (one row per hold), then the hold's own columns.
META_COLUMNS = (
    "source", "session_id", "session_start_time", "therapist", "client", "site", "contact_tip", "tip_area_cm2",
    "tolerance_N", "target_band_low_N", "target_band_high_N", "target_hold_s", "sample_rate_hz",
)
HOLD_COLUMNS = (
    "hold", "start_s", "end_s", "duration_s", "mean_N", "sd_N", "cv_pct", "drift_pct", "drift_N_per_s",
    "level_start_N", "level_end_N", "peak_N", "mean_N_per_cm2", "ramp_in_s", "ramp_rate_N_per_s", "overshoot_N",
    "overshoot_pct", "time_over_tolerance_s", "time_in_target_s", "time_in_target_pct", "gap_s", "zero_N",
    "ended_by", "flags",
)
#: Provenance columns on every row: the software version and the engine options that differ
#: from that version's defaults (JSON; "{}" = all defaults), so each row says what made it.
PROVENANCE_COLUMNS = ("software_version", "engine_overrides")
COLUMNS = META_COLUMNS + HOLD_COLUMNS + PROVENANCE_COLUMNS


# ---- arrays ---------------------------------------------------------------------------------

def force(path) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) and force (N) of a recording (.h5 session or .csv), as float64 arrays."""
    from nmt_monitor.loaders import load_recording

    rec = load_recording(str(path))
    return rec.time_s, rec.force_n


# ---- one file -> rows ----------------------------------------------------------------------

@dataclass
class FileResult:
    """What a worker sends back for one file (small: no sample arrays)."""

    source: str
    n_samples: int
    duration_s: float
    metadata: dict
    attrs: dict
    analysis: object  # HoldAnalysis without events
    sha256: str
    size_bytes: int
    #: where the file was analysed: host and process (and the Dask worker's address on a cluster)
    ran_on: str = field(default_factory=lambda: _where())


def _where() -> str:
    import socket

    return f"{socket.gethostname()} pid {os.getpid()}"


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def analyze_file(path: str, params=None, tolerance_n: float | None = None, target_band_n=None,
                 hash_file: bool = True) -> FileResult:
    """Load one recording and run the hold engine; the session's own tolerance and band apply
    unless ``tolerance_n`` / ``target_band_n`` are given."""
    from nmt_monitor.dsp import HoldParams, analyze_holds
    from nmt_monitor.errors import UserError
    from nmt_monitor.loaders import load_recording

    rec = load_recording(path)
    params = params or HoldParams()
    own_hold = params.target_hold_s is None
    session_hold = rec.setting_at("target_hold_s", -math.inf)  # as recording started
    if own_hold and session_hold:
        params = params.replace(target_hold_s=float(session_hold))  # the session's own target time
    tol = tolerance_n if tolerance_n is not None else rec.tolerance_n
    band = target_band_n if target_band_n is not None else rec.target_band_n
    try:
        a = analyze_holds(rec.time_s, rec.force_n, params, tol, band,
                          changes=own_changes(rec, tolerance_n is None, target_band_n is None, own_hold),
                          live_updates=False)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None
    a.events = []  # not needed by callers; keeps the result small across processes
    dur = float(rec.time_s[-1] - rec.time_s[0]) if rec.time_s.size > 1 else 0.0
    meta = dict(rec.metadata or {})
    meta["_markers"] = [m for m in (rec.markers or []) if m.get("kind") == "site"]
    return FileResult(source=path, n_samples=int(rec.time_s.size), duration_s=dur, metadata=meta,
                      attrs=dict(rec.attrs or {}), analysis=a,
                      sha256=_sha256(path) if hash_file else "", size_bytes=os.path.getsize(path))


def own_changes(rec, tolerance: bool = True, band: bool = True, hold: bool = True) -> list:
    """The recording's settings changes the engine replays, without those of the settings the
    caller overrides for the whole file (``--tolerance``, ``--target``, an explicit target hold)."""
    drop = {k for k, keep in (("tolerance_n", tolerance), ("target_band_n", band), ("target_hold_s", hold))
            if not keep}
    out = []
    for t, settings in rec.changes or ():
        kept = {k: v for k, v in settings.items() if k not in drop}
        if kept:
            out.append((t, kept))
    return out


def _site_at(meta: dict, t: float) -> str:
    """The treatment site at time t: the last 'site' marker before it, else the session's site."""
    site = str(meta.get("site") or "")
    for m in sorted(meta.get("_markers") or [], key=lambda m: m["time_s"]):
        if m["time_s"] <= t and m.get("text"):
            site = m["text"]
    return site


def engine_overrides(params) -> dict:
    from nmt_monitor.dsp import HoldParams

    default = HoldParams().to_dict()
    # target_hold_s is a session setting (its own column), not an engine override
    return {k: v for k, v in params.to_dict().items() if default.get(k) != v and k != "target_hold_s"}


def rows_for(result: FileResult) -> list[dict]:
    """Tidy rows (one per hold) for one analysed file."""
    a = result.analysis
    meta = result.metadata
    band = a.target_band_n
    area = meta.get("tip_area_cm2")
    base = {
        "source": result.source,
        "session_id": meta.get("session_id") or result.attrs.get("session_id") or "",
        "session_start_time": result.attrs.get("session_start_time", ""),
        "therapist": meta.get("therapist", ""),
        "client": meta.get("client", ""),
        "site": "",
        "contact_tip": meta.get("contact_tip", ""),
        "tip_area_cm2": area,
        "tolerance_N": a.tolerance_n,
        "target_band_low_N": band[0] if band else None,
        "target_band_high_N": band[1] if band else None,
        "target_hold_s": a.params.target_hold_s,
        "sample_rate_hz": round(a.sample_rate_hz, 1) if math.isfinite(a.sample_rate_hz) else None,
    }
    prov = {"software_version": __version__,
            "engine_overrides": json.dumps(engine_overrides(a.params), sort_keys=True, separators=(",", ":"))}
    rows = []
    for i, hold in enumerate(a.holds, start=1):
        d = hold.to_dict()
        row = dict(base)
        row["site"] = _site_at(meta, hold.start_s)
        row["hold"] = i
        for k in HOLD_COLUMNS[1:]:
            if k == "flags":
                row[k] = flags_text(d["flags"], ";")
            elif k == "mean_N_per_cm2":
                row[k] = round(hold.mean_N / area, 3) if area else None
            else:
                row[k] = d.get(k)
        row.update(prov)
        rows.append(row)
    return rows


# ---- DataFrames (the research extra) -------------------------------------------------------------

#: Columns of the holds DataFrame that are categories (few distinct values, repeated on many rows).
CATEGORY_COLUMNS = ("source", "session_id", "therapist", "client", "site", "contact_tip", "ended_by", "flags",
                    "software_version", "engine_overrides")
#: Columns that are timestamps with a zone (UTC: sessions recorded in different zones share one column).
TIME_COLUMNS = ("session_start_time",)
#: One row per session: what it is, what was found, and where it was analysed.
SESSION_COLUMNS = (
    "source", "session_id", "session_start_time", "session_end_time", "therapist", "client", "site", "contact_tip",
    "tip_area_cm2", "tolerance_N", "target_band_low_N", "target_band_high_N", "target_hold_s", "notes",
    "sample_rate_hz", "n_samples", "duration_s", "n_holds", "n_over_tolerance", "time_over_tolerance_s",
    "recorded_with", "recovered", "size_bytes", "sha256", "software_version", "engine_overrides",
)
_SESSION_CATEGORIES = ("source", "session_id", "therapist", "client", "site", "contact_tip", "recorded_with",
                       "software_version", "engine_overrides")
_SESSION_TIMES = ("session_start_time", "session_end_time")
_TEXT_COLUMNS = ("notes", "sha256")


class Provenance(dict):
    """What produced a table (``DataFrame.attrs["provenance"]``): a JSON-able dict, shared by
    the frames derived from it (pandas deep-copies ``attrs`` on every operation; this one is
    not copied, so a table of 10^5 sessions stays fast). Treat it as read-only."""

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self


def _pandas(feature: str = "research tables"):
    from nmt_monitor.extras import require

    return require("pandas", feature)


def _frame(rows: list[dict], columns: Sequence[str], categories: Sequence[str], times: Sequence[str],
           texts: Sequence[str] = (), integers: Sequence[str] = ()):
    """A DataFrame with proper dtypes: categories, UTC timestamps, float64 numbers (NaN for
    missing), int64 counts, and pandas' string dtype for free text."""
    pd = _pandas()
    data = {}
    for c in columns:
        values = [r.get(c) for r in rows]
        if c in categories:
            data[c] = pd.Categorical([None if v is None else str(v) for v in values])
        elif c in times:
            data[c] = pd.to_datetime([v or None for v in values], utc=True, format="ISO8601")
        elif c in texts:
            data[c] = pd.array([None if v is None else str(v) for v in values], dtype="string")
        elif c in integers:
            data[c] = np.array([int(v) for v in values], dtype=np.int64)
        elif c == "recovered":
            data[c] = np.array([bool(v) for v in values], dtype=bool)
        else:
            data[c] = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return pd.DataFrame(data, columns=list(columns))


def holds_frame(rows: list[dict], provenance_doc: dict | None = None):
    """The holds DataFrame of ``rows`` (dicts as ``rows_for`` makes them), provenance in ``attrs``."""
    df = _frame(rows, COLUMNS, CATEGORY_COLUMNS, TIME_COLUMNS, integers=("hold",))
    if provenance_doc is not None:
        df.attrs["provenance"] = Provenance(provenance_doc)
    return df


def session_row(r: FileResult) -> dict:
    """One session's row of ``sessions_table``."""
    a, meta, attrs = r.analysis, r.metadata, r.attrs
    band = a.target_band_n
    return {
        "source": r.source, "session_id": meta.get("session_id") or attrs.get("session_id") or "",
        "session_start_time": attrs.get("session_start_time") or None,
        "session_end_time": attrs.get("session_end_time") or None,
        "therapist": meta.get("therapist", ""), "client": meta.get("client", ""), "site": meta.get("site", ""),
        "contact_tip": meta.get("contact_tip", ""), "tip_area_cm2": meta.get("tip_area_cm2"),
        "tolerance_N": a.tolerance_n, "target_band_low_N": band[0] if band else None,
        "target_band_high_N": band[1] if band else None, "target_hold_s": a.params.target_hold_s,
        "notes": meta.get("notes", ""),
        "sample_rate_hz": round(a.sample_rate_hz, 1) if math.isfinite(a.sample_rate_hz) else None,
        "n_samples": r.n_samples, "duration_s": round(r.duration_s, 3), "n_holds": len(a.holds),
        "n_over_tolerance": len(a.over_tolerance),
        "time_over_tolerance_s": round(sum(o.duration_s for o in a.over_tolerance), 3),
        "recorded_with": attrs.get("recording_software_version") or attrs.get("software_version") or "",
        "recovered": bool(attrs.get("recovered", 0)), "size_bytes": r.size_bytes, "sha256": r.sha256 or None,
        "software_version": __version__,
        "engine_overrides": json.dumps(engine_overrides(a.params), sort_keys=True, separators=(",", ":")),
    }


def sessions_frame(results: Sequence[FileResult], provenance_doc: dict | None = None):
    df = _frame([session_row(r) for r in results], SESSION_COLUMNS, _SESSION_CATEGORIES, _SESSION_TIMES,
                texts=_TEXT_COLUMNS, integers=("n_samples", "n_holds", "n_over_tolerance", "size_bytes"))
    if provenance_doc is not None:
        df.attrs["provenance"] = Provenance(provenance_doc)
    return df


@dataclass
class Batch:
    """Recordings analysed together: ``holds`` and ``sessions`` DataFrames (provenance in their
    ``attrs``), the files that could not be used (``skipped``), and the provenance itself."""

    results: list[FileResult]
    skipped: list
    provenance: Provenance

    @property
    def holds(self):
        return holds_frame([row for r in self.results for row in rows_for(r)], self.provenance)

    @property
    def sessions(self):
        return sessions_frame(self.results, self.provenance)


def batch(paths, *, params=None, tolerance_n=None, target_band_n=None, jobs: int | None = 1,
          progress: bool = False, scheduler: str | None = None, skip_errors: bool = False) -> Batch:
    """Analyse recordings and folders (searched recursively): in this process (``jobs=1``), in
    ``jobs`` worker processes, or on the Dask cluster at ``scheduler`` ("tcp://host:8786"; the
    workers read the files, so the paths must be valid on them). ``skip_errors``: a file that
    cannot be used is listed in ``skipped`` instead of raising."""
    from nmt_monitor.dsp import HoldParams

    _pandas()  # say at once if the tables cannot be made
    params = params or HoldParams()
    paths = [str(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])]
    job = _AnalyzeJob(params, tolerance_n, target_band_n)
    executor = None
    if scheduler:
        executor = DaskExecutor(scheduler)
        try:
            files = executor.expand(paths)
        except BaseException:
            executor.close()
            raise
    else:
        from nmt_monitor.loaders import expand_paths

        files = expand_paths(paths)
    try:
        bar = Progress(len(files)) if progress else None
        out = map_files(job, files, jobs=jobs, progress=bar, skip_errors=skip_errors, executor=executor)
        results = [r for r in out if not isinstance(r, Skipped)]
        skipped = [r for r in out if isinstance(r, Skipped)]
        doc = provenance(results, params, tolerance_override_N=tolerance_n,
                         target_override_N=list(target_band_n) if target_band_n else None,
                         executor=executor.describe() if executor else local_executor(jobs, len(files)),
                         skipped=[{"source": x.source, "error": x.message} for x in skipped])
    finally:
        if executor is not None:
            executor.close()
    return Batch(results, skipped, Provenance(doc))


def holds_table(paths, *, params=None, tolerance_n=None, target_band_n=None, jobs: int | None = 1,
                progress: bool = False, scheduler: str | None = None):
    """One row per hold over recordings and folders (searched recursively), the session's
    metadata as columns: a pandas DataFrame (columns as ``analyze --csv``; categories for the
    names, ``session_start_time`` as a UTC timestamp), the provenance in ``attrs["provenance"]``."""
    return batch(paths, params=params, tolerance_n=tolerance_n, target_band_n=target_band_n, jobs=jobs,
                 progress=progress, scheduler=scheduler).holds


def sessions_table(paths, *, params=None, tolerance_n=None, target_band_n=None, jobs: int | None = 1,
                   progress: bool = False, scheduler: str | None = None):
    """One row per recording: its metadata, start and end time (UTC), samples, duration, holds
    and over-tolerance found, file size and SHA-256; provenance in ``attrs["provenance"]``."""
    return batch(paths, params=params, tolerance_n=tolerance_n, target_band_n=target_band_n, jobs=jobs,
                 progress=progress, scheduler=scheduler).sessions


def to_csv(df, path_or_file) -> None:
    """Write a table as CSV, safe to open in a spreadsheet: text that a spreadsheet would run
    as a formula (``=``, ``+``, ``-``, ``@`` ...) gets a leading ``'``; numbers are left alone."""
    from nmt_monitor.safetext import spreadsheet_cell

    out = df.copy(deep=False)
    for c in out.columns:
        if out[c].dtype.kind == "M" or str(out[c].dtype).startswith("datetime64"):  # ISO 8601, with its zone
            out[c] = [None if v is None or v != v else v.isoformat() for v in out[c].astype(object)]
        elif out[c].dtype.kind not in "biufcm":  # text and categories
            out[c] = [None if v is None or v != v else spreadsheet_cell(v) for v in out[c].astype(object)]
    out.to_csv(path_or_file, index=False, lineterminator="\n")


# ---- Parquet (pyarrow) -------------------------------------------------------------------------

#: Key of the provenance (JSON) in a Parquet file's metadata; pandas also restores it into
#: ``DataFrame.attrs`` from its own key ``PANDAS_ATTRS``.
PARQUET_PROVENANCE_KEY = "nmt_monitor.provenance"


class ParquetSink:
    """Holds rows written to a Parquet file in row groups as they come (memory stays flat
    however many sessions), with the provenance in the file's metadata at the end. Written to
    a temporary name and renamed, so a reader never sees half a file."""

    def __init__(self, path, *, overwrite: bool = True, row_group: int = 5_000) -> None:
        from nmt_monitor.extras import require

        self.pa = require("pyarrow", "--parquet")
        self.pq = require("pyarrow.parquet", "--parquet")
        _pandas("--parquet")
        self.path = os.fspath(path)
        self.overwrite = overwrite
        self.row_group = row_group
        self._rows: list[dict] = []
        self._writer = None
        from pathlib import Path

        from nmt_monitor.storage.h5writer import new_partial_file

        fd, tmp = new_partial_file(Path(self.path))  # .<name>.XXXXXXXX.partial beside it
        os.close(fd)
        self._tmp = str(tmp)
        self.n_rows = 0

    def _schema(self, table):
        pa = self.pa
        fields = []
        for f in table.schema:
            t = f.type
            if pa.types.is_dictionary(t):
                t = pa.dictionary(pa.int32(), pa.string())
            elif pa.types.is_null(t):
                t = pa.float64()
            fields.append(pa.field(f.name, t))
        return pa.schema(fields, metadata=table.schema.metadata)

    def _flush(self) -> None:
        if not self._rows and self._writer is not None:
            return
        table = self.pa.Table.from_pandas(holds_frame(self._rows), preserve_index=False)
        if self._writer is None:
            self._schema_ = self._schema(table)
            self._writer = self.pq.ParquetWriter(self._tmp, self._schema_, compression="zstd")
        self._writer.write_table(table.cast(self._schema_))
        self.n_rows += len(self._rows)
        self._rows = []

    def add(self, rows: list[dict]) -> None:
        self._rows.extend(rows)
        if len(self._rows) >= self.row_group:
            self._flush()

    def close(self, provenance_doc: dict | str) -> None:
        """Finish the file; ``provenance_doc``: the document, or its JSON text."""
        self._flush()
        import base64

        text = provenance_doc if isinstance(provenance_doc, str) else json.dumps(provenance_doc)
        # The provenance is known only now (the inputs), but the Arrow schema stored in the file
        # was written at the start: store it again with the provenance in its metadata, so that
        # pandas.read_parquet restores DataFrame.attrs too ("PANDAS_ATTRS", as pandas writes it).
        # (One copy in each place, intermediates dropped at once: the inputs make the text about
        # 0.5 kB a file, so 10^5 files are ~50 MB of JSON.)
        meta = dict(self._schema_.metadata or {})
        meta[b"PANDAS_ATTRS"] = ('{"provenance": ' + text + "}").encode()
        schema = self._schema_.with_metadata(meta)
        del meta
        serialized = schema.serialize()
        del schema
        arrow_schema = base64.b64encode(memoryview(serialized)).decode("ascii")
        del serialized
        self._writer.add_key_value_metadata({PARQUET_PROVENANCE_KEY: text, "ARROW:schema": arrow_schema})
        del arrow_schema, text
        self._writer.close()
        self._writer = None
        if self.overwrite:
            os.replace(self._tmp, self.path)
        else:
            try:
                os.link(self._tmp, self.path)
            finally:
                os.unlink(self._tmp)

    def discard(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - we are cleaning up after another error
                pass
        try:
            os.unlink(self._tmp)
        except OSError:
            pass


def write_parquet(df, path) -> None:
    """Write a holds (or sessions) DataFrame as Parquet, with ``attrs["provenance"]`` in the
    file's metadata."""
    from nmt_monitor.extras import require

    pa = require("pyarrow", "Parquet")
    pq = require("pyarrow.parquet", "Parquet")
    table = pa.Table.from_pandas(df, preserve_index=False)
    prov = df.attrs.get("provenance")
    if prov is not None:
        meta = dict(table.schema.metadata or {})
        meta[PARQUET_PROVENANCE_KEY.encode()] = json.dumps(prov).encode()
        meta[b"PANDAS_ATTRS"] = json.dumps({"provenance": prov}).encode()
        table = table.replace_schema_metadata(meta)
    pq.write_table(table, path, compression="zstd")


def read_parquet(path):
    """A table written by ``analyze --parquet`` or ``write_parquet``: categories and timestamps
    as written, the provenance back in ``attrs["provenance"]``."""
    pd = _pandas("read_parquet")
    from nmt_monitor.extras import require

    pq = require("pyarrow.parquet", "Parquet")
    df = pd.read_parquet(path)
    meta = pq.read_metadata(path).metadata or {}
    text = meta.get(PARQUET_PROVENANCE_KEY.encode())
    if text:
        df.attrs["provenance"] = Provenance(json.loads(text))
    return df


@dataclass
class _AnalyzeJob:
    params: object = None
    tolerance_n: float | None = None
    target_band_n: tuple | None = None
    hash_file: bool = True

    def __call__(self, path: str) -> FileResult:
        return analyze_file(path, self.params, self.tolerance_n, self.target_band_n, self.hash_file)


def input_record(r: FileResult, params=None) -> dict:
    """One input of the provenance: the file, its size and SHA-256, what was found, where it ran."""
    p = params.to_dict() if params is not None else None
    return {"source": r.source, "size_bytes": r.size_bytes, "sha256": r.sha256, "n_samples": r.n_samples,
            "duration_s": round(r.duration_s, 3), "n_holds": len(r.analysis.holds),
            "tolerance_N": r.analysis.tolerance_n,
            "target_band_N": list(r.analysis.target_band_n) if r.analysis.target_band_n else None,
            "engine_parameters_changed": {k: v for k, v in r.analysis.params.to_dict().items()
                                          if p is None or p.get(k) != v},
            "ran_on": r.ran_on}


def local_executor(jobs: int | None, n_items: int) -> dict:
    """Where a local run ran (for the provenance)."""
    import platform
    import socket

    n = default_jobs(n_items) if jobs is None else max(1, min(int(jobs), max(1, n_items)))
    return {"kind": "local processes" if n > 1 else "in-process", "host": socket.gethostname(),
            "platform": f"{platform.system()} {platform.release()} {platform.machine()}", "processes": n}


def provenance_text(doc: dict, inputs: Sequence[str], indent: int | None = None) -> str:
    """The provenance as JSON, with ``inputs`` given as the JSON text of each input (a batch of
    10^5 files keeps ~0.4 kB of text per file instead of a dict of ~2 kB)."""
    text = json.dumps({**doc, "inputs": []}, indent=indent)
    head, _, tail = text.rpartition('"inputs": []')
    if indent is None:
        return head + '"inputs": [' + ", ".join(inputs) + "]" + tail
    pad = "\n" + " " * (2 * indent)
    body = ("[" + pad + ("," + pad).join(inputs) + "\n" + " " * indent + "]") if inputs else "[]"
    return head + '"inputs": ' + body + tail


def provenance(results: Sequence, params, argv: Sequence[str] | None = None, **extra) -> dict:
    """What produced a table: versions, the engine parameters, the inputs (size, SHA-256, where
    each was analysed). ``results``: ``FileResult``s, or their ``input_record``s."""
    import platform

    import h5py
    import scipy

    p = params.to_dict() if params is not None else None
    return {
        "software": "nmt-monitor",
        "software_version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "h5py": h5py.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": list(argv) if argv is not None else None,
        "engine_parameters": p,
        "engine_overrides": engine_overrides(params) if params is not None else None,
        **extra,
        "inputs": [r if isinstance(r, dict) else input_record(r, params) for r in results],
    }


# ---- many files, in parallel, with a progress bar ---------------------------------------------

def default_jobs(n_items: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, n_items))


def _name(item) -> str:
    return str(item[0] if isinstance(item, tuple) else item)


@dataclass
class Skipped:
    """A file a batch could not use (``map_files(..., skip_errors=True)``): its name and why,
    in one line that names the file."""

    source: str
    message: str


def _skipped(item, exc: BaseException) -> Skipped:
    from nmt_monitor.errors import UserError

    name = _name(item)
    if isinstance(exc, UserError):
        message = str(exc)
    else:  # a bug or an exhausted resource: still one line, and the batch goes on
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        message = f"cannot be used (unexpected {type(exc).__name__}{': ' + lines[0] if lines else ''})"
    if name not in message:
        message = f"{name}: {message}"
    return Skipped(name, " ".join(message.split("\n")))


def map_files(fn: Callable[[str], object], items: Sequence, *, jobs: int | None = None,
              progress: Progress | None = None, skip_errors: bool = False, executor=None) -> list:
    """``[fn(x) for x in items]`` in ``jobs`` worker processes (None: one per CPU; 1: in this
    process), or on a Dask cluster (``executor``: a ``DaskExecutor``). Results come back in
    input order; the first exception is raised (pending work is cancelled). ``fn`` must be
    picklable (a module-level function or a dataclass instance).

    ``skip_errors``: an item whose ``fn`` raises gives a ``Skipped`` (file and one-line reason)
    in its place and the others go on; exceptions with a true ``fatal`` attribute (e.g. the
    report's disk is full) still stop everything."""
    return list(imap_files(fn, items, jobs=jobs, progress=progress, skip_errors=skip_errors, executor=executor))


def imap_files(fn: Callable[[str], object], items: Sequence, *, jobs: int | None = None,
               progress: Progress | None = None, skip_errors: bool = False, executor=None,
               window: int | None = None) -> Iterator:
    """``map_files`` as a generator: each result is yielded, in input order, as soon as it and
    all before it are done. At most ``window`` items (default 4 per worker) are in flight or
    waiting to be yielded, so memory stays flat however many files there are."""
    items = list(items)
    jobs = default_jobs(len(items)) if jobs is None else max(1, min(int(jobs), max(1, len(items))))

    def settle(i: int, outcome):
        if isinstance(outcome, _Failed):
            exc = outcome.exc
            if not skip_errors or not isinstance(exc, Exception) or getattr(exc, "fatal", False):
                raise exc
            return _skipped(items[i], exc)
        return outcome

    try:
        if executor is not None:
            source = executor.imap(fn, items, window=window)
        elif jobs == 1 or len(items) <= 1:
            source = (_call(fn, x) for x in items)
        else:
            source = _pool_imap(fn, items, jobs, window or 4 * jobs)
        for i, outcome in enumerate(source):
            result = settle(i, outcome)
            if progress:
                progress.update(1, _name(items[i]))
            yield result
    finally:
        if progress:
            progress.close()


@dataclass
class _Failed:
    """An item whose function raised (carried back from a worker as a value)."""

    exc: BaseException


def _call(fn, x):
    try:
        return fn(x)
    except Exception as exc:  # noqa: BLE001 - the caller decides (skip or raise)
        return _Failed(exc)


def _pool_imap(fn, items: list, jobs: int, window: int) -> Iterator:
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=jobs) as ex:
        pending: deque = deque()
        next_item = 0
        try:
            while pending or next_item < len(items):
                while next_item < len(items) and len(pending) < window:
                    pending.append(ex.submit(_call, fn, items[next_item]))
                    next_item += 1
                fut = pending.popleft()
                try:
                    outcome = fut.result()
                except BrokenProcessPool:
                    from nmt_monitor.errors import UserError

                    raise UserError(f"a worker process died (out of memory?) near "
                                    f"{_name(items[next_item - len(pending) - 1])}; try --jobs 1") from None
                except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be sent back
                    outcome = _Failed(exc)
                yield outcome
        finally:
            for p in pending:
                p.cancel()


# ---- a Dask cluster ------------------------------------------------------------------------------

def check_inputs(paths: Sequence[str], cwd: str | None = None) -> list[str]:
    """Folders expanded to the recordings in them (recursively), every file checked to exist and
    to be of a known type; raises a one-line ``UserError`` naming the first that is not. Names
    stay as given; relative ones are looked up in ``cwd`` (default: the current folder)."""
    from nmt_monitor.errors import UserError
    from nmt_monitor.loaders import LOADERS, expand_paths

    out = []
    for given in map(str, paths):
        real = given if cwd is None or os.path.isabs(given) else os.path.join(cwd, given)
        found = expand_paths([real])
        for f in found:
            name = given + f[len(real):] if f.startswith(real) else f
            suffix = os.path.splitext(f)[1].lower()
            if not os.path.exists(f):
                raise UserError(f"{name}: no such file")
            if suffix not in LOADERS:
                raise UserError(f"{name}: unknown file type {suffix or '(none)'!r} (known: {', '.join(sorted(LOADERS))})")
            if os.path.isdir(f):
                raise UserError(f"{name}: is a directory, not a recording")
            out.append(name)
    return out


def _worker_identity() -> dict:
    """What a Dask worker runs (checked before any work: results must equal a local run's)."""
    import platform

    import scipy

    return {"nmt_monitor": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "python": platform.python_version(), "host": _where()}


def _run_chunk(fn, names: list[str], cwd: str) -> list:
    """On a Dask worker: ``fn`` on each file of a chunk, relative names looked up in the
    client's folder ``cwd``; results (or ``_Failed``) in order, each saying where it ran."""
    try:
        from distributed import get_worker

        where = f"{get_worker().address} ({_where()})"
    except (ImportError, ValueError):
        where = _where()
    out = []
    for name in names:
        real = name if os.path.isabs(name) else os.path.join(cwd, name)
        outcome = _call(fn, real)
        if isinstance(outcome, _Failed):
            from nmt_monitor.errors import UserError

            exc = outcome.exc
            if real != name and type(exc) is UserError:  # name the file as the user gave it
                outcome = _Failed(UserError(str(exc).replace(real, name), exc.exit_code))
        else:
            if hasattr(outcome, "source") and outcome.source == real:
                outcome.source = name
            if hasattr(outcome, "ran_on"):
                outcome.ran_on = where
        out.append(outcome)
    return out


def _check_on_worker(paths: list[str], cwd: str):
    try:
        return check_inputs(paths, cwd)
    except Exception as exc:  # noqa: BLE001 - carried back as a value: one line on the client
        return _Failed(exc)


class DaskExecutor:
    """The per-file work on a Dask distributed cluster (``analyze --scheduler tcp://host:port``).

    The workers read the files: a path must name the same file on every worker (a shared file
    system mounted at the same place; relative paths are taken from the client's current
    folder). Work goes out in chunks of files, a few per worker at a time, and results come
    back in input order, identical to a local run (the workers must run the same versions of
    nmt-monitor, NumPy and SciPy: checked before any work)."""

    def __init__(self, address: str, *, chunk: int | None = None, timeout_s: float = 10.0) -> None:
        import re

        from nmt_monitor.errors import UserError
        from nmt_monitor.extras import require

        if not re.fullmatch(r"(tcp|tls|inproc|ws|wss|ucx)://[^\s/]+(:\d+)?/?", address or ""):
            raise UserError(f"--scheduler {address!r}: not a scheduler address (e.g. tcp://10.0.0.5:8786)")
        require("dask", "--scheduler")
        distributed = require("distributed", "--scheduler")
        self.address = address
        self.chunk = chunk
        self.cwd = os.getcwd()
        import logging

        logging.getLogger("distributed").setLevel(logging.ERROR)  # its own chatter is not ours to print
        try:
            self.client = distributed.Client(address, timeout=f"{timeout_s}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"--scheduler {address}: cannot connect ({first})") from None
        try:
            self.workers = self._check_workers()
        except BaseException:
            self.close()
            raise

    def _check_workers(self) -> dict:
        from nmt_monitor.errors import UserError

        try:
            self.client.wait_for_workers(1, timeout=30)
        except (TimeoutError, OSError):
            raise UserError(f"--scheduler {self.address}: no worker joined the cluster within 30 s") from None
        try:
            idents = self.client.run(_worker_identity)
        except (ImportError, ModuleNotFoundError) as exc:
            raise UserError(f"--scheduler {self.address}: the workers cannot import nmt_monitor ({exc}); "
                            "install the same nmt-monitor on them") from None
        mine = _worker_identity()
        for addr, ident in sorted(idents.items()):
            for key in ("nmt_monitor", "numpy", "scipy"):
                if ident.get(key) != mine[key]:
                    raise UserError(f"--scheduler {self.address}: worker {addr} runs {key} {ident.get(key)}, "
                                    f"here {mine[key]}: results would differ; install the same versions")
        return idents

    def expand(self, paths: Sequence[str]) -> list[str]:
        """Folders expanded and files checked on a worker (where the files are read)."""
        out = self.client.submit(_check_on_worker, list(map(str, paths)), self.cwd, pure=False).result()
        if isinstance(out, _Failed):
            raise out.exc
        return out

    def imap(self, fn, items: list, window: int | None = None) -> Iterator:
        from collections import deque

        n_workers = max(1, len(self.workers))
        threads = sum(self.client.nthreads().values()) or n_workers
        chunk = self.chunk or max(1, min(64, len(items) // (8 * threads) or 1))
        chunks = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        ahead = max(2, (window or 4 * threads * chunk) // chunk)
        pending: deque = deque()
        nxt = 0
        try:
            while pending or nxt < len(chunks):
                while nxt < len(chunks) and len(pending) < ahead:
                    pending.append(self.client.submit(_run_chunk, fn, chunks[nxt], self.cwd, pure=False))
                    nxt += 1
                fut = pending.popleft()
                outcomes = fut.result()
                fut.release()
                yield from outcomes
        finally:
            for f in pending:
                f.cancel()

    def describe(self) -> dict:
        import dask
        import distributed

        return {"kind": "dask", "scheduler": self.address, "dask": dask.__version__,
                "distributed": distributed.__version__,
                "workers": {addr: ident["host"] for addr, ident in sorted(self.workers.items())}}

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing after the work is done or failed
            pass


# ---- reliability ---------------------------------------------------------------------------------

def _records(table) -> list[dict]:
    """Rows of a DataFrame, or the dicts given."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        return table.astype(object).where(table.notna(), None).to_dict("records")
    return list(table)


def between_hold_cv(table, by: Sequence[str] = ("source", "site"), value: str = "mean_N", min_holds: int = 2):
    """Between-hold CV: for each group (default: per session and site), 100 x SD (n-1) / mean
    of the holds' ``value``. Groups with fewer than ``min_holds`` holds are left out. ``table``:
    the holds DataFrame (or dicts); returns a DataFrame, one row per group."""
    pd = _pandas("between_hold_cv")
    groups: dict[tuple, list[float]] = {}
    for r in _records(table):
        v = r.get(value)
        if v is None or not math.isfinite(float(v)):
            continue
        groups.setdefault(tuple(r.get(k) for k in by), []).append(float(v))
    out = []
    for key, vals in groups.items():
        if len(vals) < min_holds:
            continue
        x = np.asarray(vals)
        mean = float(x.mean())
        sd = float(x.std(ddof=1))
        out.append({**dict(zip(by, key)), "n_holds": len(vals), f"mean_{value}": round(mean, 4),
                    f"sd_{value}": round(sd, 4), "cv_pct": round(100.0 * sd / mean, 3) if mean else None})
    columns = [*by, "n_holds", f"mean_{value}", f"sd_{value}", "cv_pct"]
    df = pd.DataFrame(out, columns=columns)
    prov = getattr(table, "attrs", {}).get("provenance")
    if prov is not None:
        df.attrs["provenance"] = prov
    return df


@dataclass(frozen=True)
class ICCResult:
    """An intraclass correlation, its confidence interval, and the two-way ANOVA it came from."""

    form: str  # "1,1", "2,1", "3,1", "1,k", "2,k", "3,k"
    value: float
    n_subjects: int
    k: int
    ms_rows: float  # between subjects
    ms_cols: float  # between measurements (raters / occasions)
    ms_error: float  # residual
    ms_within: float  # within subjects (one-way)
    f_value: float  # MS_rows / MS_error (MS_within for ICC(1,·))
    description: str
    ci_low: float = float("nan")  # the confidence interval (McGraw & Wong 1996), at ``confidence``
    ci_high: float = float("nan")
    confidence: float = 0.95
    df1: int = 0  # degrees of freedom of the F test (subjects)
    df2: float = 0  # (residual)
    p_value: float = float("nan")  # of H0: ICC = 0 (F test)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __str__(self) -> str:
        pct = round(100 * self.confidence)
        return (f"ICC({self.form}) = {self.value:.3f}, {pct} % CI {self.ci_low:.3f} to {self.ci_high:.3f} "
                f"(n = {self.n_subjects}, k = {self.k}; {self.description})")


_ICC_DESCRIPTION = {
    "1,1": "one-way random effects, single measurement (Shrout & Fleiss ICC(1,1); McGraw & Wong ICC(1))",
    "1,k": "one-way random effects, mean of k measurements (ICC(1,k))",
    "2,1": "two-way random effects, absolute agreement, single measurement (ICC(2,1); McGraw & Wong ICC(A,1))",
    "2,k": "two-way random effects, absolute agreement, mean of k (ICC(2,k); ICC(A,k))",
    "3,1": "two-way mixed effects, consistency, single measurement (ICC(3,1); McGraw & Wong ICC(C,1))",
    "3,k": "two-way mixed effects, consistency, mean of k (ICC(3,k); ICC(C,k))",
}


def icc(data, form: str = "2,1", confidence: float = 0.95) -> ICCResult:
    """Intraclass correlation of an n x k matrix (rows: subjects, e.g. sites; columns: repeated
    measurements, e.g. holds or sessions), by Shrout & Fleiss (1979) from a two-way ANOVA::

        ICC(1,1) = (MSR - MSW) / (MSR + (k-1) MSW)
        ICC(2,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)
        ICC(3,1) = (MSR - MSE) / (MSR + (k-1) MSE)
        ICC(1,k) = (MSR - MSW) / MSR;  ICC(2,k) = (MSR - MSE) / (MSR + (MSC - MSE) / n);
        ICC(3,k) = (MSR - MSE) / MSR

    with its ``confidence`` interval from the F distribution (McGraw & Wong 1996, Table 7;
    ICC(2,·) by Satterthwaite's approximation, as in Shrout & Fleiss). The matrix must be
    complete (no NaN): drop subjects or measurements first.
    """
    from scipy.stats import f as fdist

    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"icc needs an n x k matrix with n >= 2 subjects and k >= 2 measurements, not {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("icc needs a complete matrix (no NaN or infinite values)")
    if form not in _ICC_DESCRIPTION:
        raise ValueError(f"unknown ICC form {form!r} (known: {', '.join(_ICC_DESCRIPTION)})")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    n, k = x.shape
    grand = x.mean()
    ss_total = float(((x - grand) ** 2).sum())
    ss_rows = float(k * ((x.mean(axis=1) - grand) ** 2).sum())
    ss_cols = float(n * ((x.mean(axis=0) - grand) ** 2).sum())
    ss_err = ss_total - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    msw = (ss_total - ss_rows) / (n * (k - 1))
    if form == "1,1":
        num, den = msr - msw, msr + (k - 1) * msw
    elif form == "2,1":
        num, den = msr - mse, msr + (k - 1) * mse + k * (msc - mse) / n
    elif form == "3,1":
        num, den = msr - mse, msr + (k - 1) * mse
    elif form == "1,k":
        num, den = msr - msw, msr
    elif form == "2,k":
        num, den = msr - mse, msr + (msc - mse) / n
    else:  # "3,k"
        num, den = msr - mse, msr
    value = num / den if den != 0 else float("nan")
    one_way = form.startswith("1")
    fden = msw if one_way else mse
    df1, df2 = n - 1, (n * (k - 1) if one_way else (n - 1) * (k - 1))
    f_value = msr / fden if fden > 0 else float("inf")
    q = 1 - (1 - confidence) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        if form[0] in "13":
            f_low = f_value / fdist.ppf(q, df1, df2)
            f_high = f_value * fdist.ppf(q, df2, df1)
            if form.endswith(",1"):
                lo, hi = (f_low - 1) / (f_low + k - 1), (f_high - 1) / (f_high + k - 1)
            else:
                lo, hi = 1 - 1 / f_low, 1 - 1 / f_high
        else:  # two-way random, absolute agreement: Satterthwaite's degrees of freedom
            r1 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
            fj = msc / mse if mse > 0 else float("inf")
            vn = (n - 1) * (k - 1) * (k * r1 * fj + n * (1 + (k - 1) * r1) - k * r1) ** 2
            vd = (n - 1) * k ** 2 * r1 ** 2 * fj ** 2 + (n * (1 + (k - 1) * r1) - k * r1) ** 2
            v = vn / vd
            f_u = fdist.ppf(q, n - 1, v)
            f_l = fdist.ppf(q, v, n - 1)
            lo = n * (msr - f_u * mse) / (f_u * (k * msc + (k * n - k - n) * mse) + n * msr)
            hi = n * (f_l * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_l * msr)
            if form == "2,k":  # Spearman-Brown of the single-measurement bounds
                lo, hi = lo * k / (1 + lo * (k - 1)), hi * k / (1 + hi * (k - 1))
        p_value = float(fdist.sf(f_value, df1, df2)) if math.isfinite(f_value) else 0.0
    return ICCResult(form=form, value=float(value), n_subjects=n, k=k, ms_rows=msr, ms_cols=msc, ms_error=mse,
                     ms_within=msw, f_value=float(f_value), description=_ICC_DESCRIPTION[form],
                     ci_low=float(lo), ci_high=float(hi), confidence=confidence, df1=df1, df2=df2,
                     p_value=p_value)


def icc_by(table, subject: str | Sequence[str] = "site", value: str = "mean_N",
           k: int | None = None, form: str = "2,1", confidence: float = 0.95) -> ICCResult | None:
    """ICC of repeated holds: subjects are groups of holds with the same ``subject`` column(s)
    (e.g. "site", or ("client", "site")); each subject's first ``k`` holds in time order
    (session start, then hold start) are its repeated measurements. ``k`` defaults to the
    largest number every subject with at least 2 holds has; subjects with fewer are dropped.
    ``table``: the holds DataFrame (or dicts). Returns None when fewer than 2 subjects qualify."""
    keys = (subject,) if isinstance(subject, str) else tuple(subject)
    groups: dict[tuple, list[tuple]] = {}
    for r in _records(table):
        v = r.get(value)
        if v is None or not math.isfinite(float(v)):
            continue
        when = r.get("session_start_time")
        when = when.isoformat() if hasattr(when, "isoformat") else str(when or "")
        order = (when, str(r.get("source") or ""), float(r.get("start_s") or 0))
        groups.setdefault(tuple(r.get(c) for c in keys), []).append((order, float(v)))
    series = [[v for _, v in sorted(g)] for g in groups.values() if len(g) >= 2]
    if k is None:
        if len(series) < 2:
            return None
        k = min(len(s) for s in series)
    series = [s[:k] for s in series if len(s) >= k]
    if len(series) < 2 or k < 2:
        return None
    return icc(np.array(series), form, confidence)
