"""Research API: sessions, holds as a table, force as arrays, reliability (docs/research.md).

No pandas needed (``pandas.DataFrame(table.rows)`` works if you have it)::

    from nmt_monitor import research as R

    s = R.open_session("recordings/example-steady.h5")   # metadata, markers, arrays
    t, f = R.force("recordings/example-steady.h5")         # time (s) and force (N), float64
    holds = R.holds_table(["recordings/"], jobs=2)        # one row (dict) per hold, metadata as columns
    holds.column("cv_pct")                                 # a NumPy array
    R.between_hold_cv(holds, by=("source", "site"))      # variability of repeated holds
    R.icc_by(holds, subject="site", value="mean_N")       # ICC when a site is measured repeatedly
    R.icc(matrix, form="2,1")                             # subjects x measurements

Also the machinery of ``nmt-monitor analyze`` and ``grade`` over many files: ``map_files``
(parallel processes, results in input order) and ``Progress`` (a bar on stderr when it is a terminal).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from nmt_monitor import __version__
from nmt_monitor.console import Progress  # a rich bar on a terminal, plain lines otherwise
from nmt_monitor.flags import flags_text
from nmt_monitor.storage import open_session  # noqa: F401 - re-exported for notebooks

__all__ = [
    "HOLD_COLUMNS", "ICCResult", "META_COLUMNS", "Progress", "Table", "analyze_file", "between_hold_cv", "force",
    "holds_table", "icc", "icc_by", "map_files", "open_session", "provenance", "rows_for",
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


# ---- the table ---------------------------------------------------------------------------------

class Table:
    """Rows (dicts with the same keys) with column access; no pandas needed."""

    def __init__(self, rows: Iterable[dict], columns: Sequence[str] | None = None) -> None:
        self.rows = list(rows)
        self.columns = list(columns) if columns is not None else (list(self.rows[0]) if self.rows else [])

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def __repr__(self) -> str:
        return f"Table({len(self.rows)} rows x {len(self.columns)} columns)"

    def column(self, name: str) -> np.ndarray:
        """A column as a NumPy array (float64 with NaN for missing numbers; else object)."""
        values = [r.get(name) for r in self.rows]
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
            return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        return np.array(values, dtype=object)

    def where(self, **equal) -> Table:
        return Table([r for r in self.rows if all(r.get(k) == v for k, v in equal.items())], self.columns)

    def groupby(self, *keys: str) -> dict[tuple, Table]:
        out: dict[tuple, list] = {}
        for r in self.rows:
            out.setdefault(tuple(r.get(k) for k in keys), []).append(r)
        return {k: Table(v, self.columns) for k, v in out.items()}

    def to_csv(self, path_or_file) -> None:
        """Write the table as CSV; text that a spreadsheet would run as a formula (``=``, ``+``,
        ``-``, ``@`` ...) gets a leading ``'`` (numbers are left alone)."""
        import csv

        from nmt_monitor.safetext import spreadsheet_cell

        own = isinstance(path_or_file, (str, os.PathLike))
        fh = open(path_or_file, "w", newline="", encoding="utf-8") if own else path_or_file
        try:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(self.columns)
            for r in self.rows:
                w.writerow(["" if r.get(c) is None else spreadsheet_cell(r.get(c)) for c in self.columns])
        finally:
            if own:
                fh.close()


def holds_table(paths, *, params=None, tolerance_n=None, target_band_n=None, jobs: int | None = 1,
                progress: bool = False) -> Table:
    """One row per hold over recordings and folders (searched recursively), metadata as columns."""
    from nmt_monitor.loaders import expand_paths

    files = expand_paths([str(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])])
    results = map_files(_AnalyzeJob(params, tolerance_n, target_band_n), files, jobs=jobs,
                        progress=Progress(len(files)) if progress else None)
    rows = [row for r in results for row in rows_for(r)]
    return Table(rows, COLUMNS)


@dataclass
class _AnalyzeJob:
    params: object = None
    tolerance_n: float | None = None
    target_band_n: tuple | None = None
    hash_file: bool = True

    def __call__(self, path: str) -> FileResult:
        return analyze_file(path, self.params, self.tolerance_n, self.target_band_n, self.hash_file)


def provenance(results: Sequence[FileResult], params, argv: Sequence[str] | None = None, **extra) -> dict:
    """What produced a table: versions, the engine parameters, the inputs (size, SHA-256)."""
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
        "inputs": [{"source": r.source, "size_bytes": r.size_bytes, "sha256": r.sha256, "n_samples": r.n_samples,
                    "duration_s": round(r.duration_s, 3), "n_holds": len(r.analysis.holds),
                    "tolerance_N": r.analysis.tolerance_n,
                    "target_band_N": list(r.analysis.target_band_n) if r.analysis.target_band_n else None,
                    "engine_parameters_changed": {k: v for k, v in r.analysis.params.to_dict().items()
                                                  if p is None or p.get(k) != v}}
                   for r in results],
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
              progress: Progress | None = None, skip_errors: bool = False) -> list:
    """``[fn(x) for x in items]`` in ``jobs`` worker processes (None: one per CPU; 1: in this
    process). Results come back in input order; the first exception is raised (pending work is
    cancelled). ``fn`` must be picklable (a module-level function or a dataclass instance).

    ``skip_errors``: an item whose ``fn`` raises gives a ``Skipped`` (file and one-line reason)
    in its place and the others go on; exceptions with a true ``fatal`` attribute (e.g. the
    report's disk is full) still stop everything."""
    items = list(items)
    jobs = default_jobs(len(items)) if jobs is None else max(1, min(int(jobs), max(1, len(items))))
    out: list = [None] * len(items)

    def failed(i: int, exc: BaseException) -> None:
        if not skip_errors or not isinstance(exc, Exception) or getattr(exc, "fatal", False):
            raise exc
        out[i] = _skipped(items[i], exc)

    try:
        if jobs == 1 or len(items) <= 1:
            for i, x in enumerate(items):
                try:
                    out[i] = fn(x)
                except Exception as exc:  # noqa: BLE001 - see failed()
                    failed(i, exc)
                if progress:
                    progress.update(1, _name(x))
            return out
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        with ProcessPoolExecutor(max_workers=jobs) as ex:
            futures = {ex.submit(fn, x): i for i, x in enumerate(items)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = futures[fut]
                    exc = fut.exception()
                    if isinstance(exc, BrokenProcessPool):
                        from nmt_monitor.errors import UserError

                        for p in pending:
                            p.cancel()
                        raise UserError(f"a worker process died (out of memory?) near {_name(items[i])}; "
                                        "try --jobs 1") from None
                    if exc is not None:
                        try:
                            failed(i, exc)
                        except BaseException:
                            for p in pending:
                                p.cancel()
                            raise
                    else:
                        out[i] = fut.result()
                    if progress:
                        progress.update(1, _name(items[i]))
        return out
    finally:
        if progress:
            progress.close()


# ---- reliability ---------------------------------------------------------------------------------

def between_hold_cv(table: Iterable[dict], by: Sequence[str] = ("source", "site"), value: str = "mean_N",
                    min_holds: int = 2) -> list[dict]:
    """Between-hold CV: for each group (default: per session and site), 100 x SD (n-1) / mean
    of the holds' ``value``. Groups with fewer than ``min_holds`` holds are left out."""
    groups: dict[tuple, list[float]] = {}
    for r in table:
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
    return out


@dataclass(frozen=True)
class ICCResult:
    """An intraclass correlation and the two-way ANOVA it came from."""

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

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_ICC_DESCRIPTION = {
    "1,1": "one-way random effects, single measurement (Shrout & Fleiss ICC(1,1); McGraw & Wong ICC(1))",
    "1,k": "one-way random effects, mean of k measurements (ICC(1,k))",
    "2,1": "two-way random effects, absolute agreement, single measurement (ICC(2,1); McGraw & Wong ICC(A,1))",
    "2,k": "two-way random effects, absolute agreement, mean of k (ICC(2,k); ICC(A,k))",
    "3,1": "two-way mixed effects, consistency, single measurement (ICC(3,1); McGraw & Wong ICC(C,1))",
    "3,k": "two-way mixed effects, consistency, mean of k (ICC(3,k); ICC(C,k))",
}


def icc(data, form: str = "2,1") -> ICCResult:
    """Intraclass correlation of an n x k matrix (rows: subjects, e.g. sites; columns: repeated
    measurements, e.g. holds or sessions), by Shrout & Fleiss (1979) from a two-way ANOVA::

        ICC(1,1) = (MSR - MSW) / (MSR + (k-1) MSW)
        ICC(2,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)
        ICC(3,1) = (MSR - MSE) / (MSR + (k-1) MSE)
        ICC(1,k) = (MSR - MSW) / MSR;  ICC(2,k) = (MSR - MSE) / (MSR + (MSC - MSE) / n);
        ICC(3,k) = (MSR - MSE) / MSR

    The matrix must be complete (no NaN): drop subjects or measurements first.
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"icc needs an n x k matrix with n >= 2 subjects and k >= 2 measurements, not {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("icc needs a complete matrix (no NaN or infinite values)")
    if form not in _ICC_DESCRIPTION:
        raise ValueError(f"unknown ICC form {form!r} (known: {', '.join(_ICC_DESCRIPTION)})")
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
    fden = msw if form.startswith("1") else mse
    return ICCResult(form=form, value=float(value), n_subjects=n, k=k, ms_rows=msr, ms_cols=msc, ms_error=mse,
                     ms_within=msw, f_value=float(msr / fden) if fden > 0 else float("inf"),
                     description=_ICC_DESCRIPTION[form])


def icc_by(table: Iterable[dict], subject: str | Sequence[str] = "site", value: str = "mean_N",
           k: int | None = None, form: str = "2,1") -> ICCResult | None:
    """ICC of repeated holds: subjects are groups of holds with the same ``subject`` column(s)
    (e.g. "site", or ("client", "site")); each subject's first ``k`` holds in time order
    (session start, then hold start) are its repeated measurements. ``k`` defaults to the
    largest number every subject with at least 2 holds has; subjects with fewer are dropped.
    Returns None when fewer than 2 subjects qualify."""
    keys = (subject,) if isinstance(subject, str) else tuple(subject)
    groups: dict[tuple, list[tuple]] = {}
    for r in table:
        v = r.get(value)
        if v is None or not math.isfinite(float(v)):
            continue
        order = (str(r.get("session_start_time") or ""), str(r.get("source") or ""), float(r.get("start_s") or 0))
        groups.setdefault(tuple(r.get(c) for c in keys), []).append((order, float(v)))
    series = [[v for _, v in sorted(g)] for g in groups.values() if len(g) >= 2]
    if k is None:
        if len(series) < 2:
            return None
        k = min(len(s) for s in series)
    series = [s[:k] for s in series if len(s) >= k]
    if len(series) < 2 or k < 2:
        return None
    return icc(np.array(series), form)
