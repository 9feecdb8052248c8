"""HDF5 files from elsewhere are untrusted: every check made before any data is read.

A session file may come from another clinic's machine, a student's laptop or an attacker. HDF5
can keep a dataset's bytes in another file (external storage), link to other files (external
links), loop or dangle soft links, assemble a dataset from other files (virtual datasets) and
declare a dataset of 10^12 elements in a 100 kB file (chunks never written read as the fill
value; deflate compresses up to 1032:1). So before reading anything, ``check_structure`` walks
every link in the file and refuses

- external links, soft links that dangle, loop or lead through an external link, links of
  unknown (user-defined) kinds;
- datasets with external raw storage, virtual datasets, filters other than deflate, shuffle,
  fletcher32 and lzf, chunks over ``MAX_CHUNK_BYTES``, contiguous data past the end of the
  file, and datasets declaring more than ``MAX_EXPANSION`` times the bytes they store;

and the layout checks (``dataset``, ``table_columns``, ``session_number`` ...) compare every
dataset's shape and dtype with the session's own counts (``n_samples``, a table's columns)
before it is read. What passes can be read in memory proportional to the file's size.
Problems are ``SessionFileError`` (a ``UserError``): one line naming the file and the problem.
The layout is docs/hdf5-layout.md; what is checked and why is in docs/reliability.md.
"""

from __future__ import annotations

import math
import os
import posixpath
from pathlib import Path

import numpy as np

from nmt_monitor.errors import UserError


class SessionFileError(UserError):
    """A file that is not a readable nmt-monitor session (message names the file and problem)."""


#: Deflate cannot expand more than 1032:1; more declared than this times the stored bytes
#: is fill value (chunks never written) or a crafted file.
MAX_EXPANSION = 1100
#: Datasets declaring less than this are never refused for their expansion.
SMALL_BYTES = 1 << 20
#: The writer uses 32768-element chunks (256 kiB of float64); one chunk must fit in memory.
MAX_CHUNK_BYTES = 16 << 20
#: Links walked at most (a session has ~70): a file of a million groups is not a session.
MAX_LINKS = 20_000
#: Soft links followed in a row before a chain is called a loop.
MAX_SOFT_HOPS = 32
#: Path components looked up while resolving all soft links of a file (links to links to
#: links ... can otherwise make the work grow exponentially).
MAX_SOFT_STEPS = 10_000
#: Elements of one attribute read at most (colnames has ~25).
MAX_ATTRIBUTE_ELEMENTS = 4096
#: HDF5 filters a session may use (others need plugins, or expand without bound).
ALLOWED_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 32000: "lzf"}
#: Rows of a string column read at once (bounds what shared heap objects could expand to).
STRING_SLICE = 64


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def fail(path, message: str) -> SessionFileError:
    return SessionFileError(f"{path}: {message}")


# ---- opening -----------------------------------------------------------------------------

def open_file(path: Path | str):
    """Open an HDF5 file read-only; a missing, unreadable or non-HDF5 file is one line."""
    import h5py

    path = Path(path)
    try:
        if path.is_dir():
            raise fail(path, "is a directory, not a session file")
        if path.stat().st_size == 0:
            raise fail(path, "not a readable HDF5 file (it is empty)")
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise fail(path, "no such file") from None
    except PermissionError:
        raise fail(path, "permission denied") from None
    except OSError as exc:
        text = str(exc)
        if "truncated file" in text:
            raise fail(path, "not a readable HDF5 file (truncated: copied or downloaded only in part?)") from None
        if "signature" in text or "superblock" in text or "not an HDF5 file" in text.lower():
            raise fail(path, "not a readable HDF5 file (no valid HDF5 header: not an HDF5 file, or damaged)") from None
        raise fail(path, f"not a readable HDF5 file ({_first_line(exc)})") from None


# ---- the whole file: links and storage -------------------------------------------------------

def check_structure(f, path) -> None:
    """Walk every link of the open file ``f`` and check every dataset's storage (see the
    module docstring). Raises ``SessionFileError``. Low-level h5py calls: nothing is read."""
    from h5py import h5d, h5g, h5l, h5o

    file_size = _file_size(f, path)
    seen: set = set()
    steps = [MAX_SOFT_STEPS]  # shared by every soft link's resolution
    stack = [("/", f.id)]
    links = 0
    while stack:
        gpath, gid = stack.pop()
        try:
            names = list(gid.__iter__())  # link names, without opening anything
        except Exception as exc:  # noqa: BLE001 - h5py raises several kinds on damaged groups
            raise fail(path, f"cannot list the group {gpath} ({_first_line(exc)})") from None
        for bname in names:
            links += 1
            if links > MAX_LINKS:
                raise fail(path, f"more than {MAX_LINKS} objects: not a session file")
            name = bname.decode("utf-8", "replace")
            full = posixpath.join(gpath, name)
            kind = _link_type(gid, bname, path, full)
            if kind == h5l.TYPE_EXTERNAL:
                filename, target = gid.links.get_val(bname)
                raise fail(path, f"{full.lstrip('/')} is an external link to "
                                 f"{filename.decode('utf-8', 'replace')}:{target.decode('utf-8', 'replace')}: "
                                 "data from outside the file is never read")
            if kind == h5l.TYPE_SOFT:
                target = gid.links.get_val(bname).decode("utf-8", "replace")
                resolve_soft_link(f, gpath, target, path, full, steps=steps)
                continue  # the object it names is reached through its own hard link
            if kind != h5l.TYPE_HARD:
                raise fail(path, f"{full.lstrip('/')} is a link of an unknown (user-defined) kind: refused")
            try:
                oid = h5o.open(gid, bname)
            except Exception as exc:  # noqa: BLE001
                raise fail(path, f"cannot open {full.lstrip('/')} ({_first_line(exc)})") from None
            if oid in seen:  # ObjectIDs compare by file and address
                continue  # a second hard link to an object already checked (or a cycle)
            seen.add(oid)
            if isinstance(oid, h5g.GroupID):
                stack.append((full, oid))
            elif isinstance(oid, h5d.DatasetID):
                check_storage(oid, full.lstrip("/"), path, file_size)


def _link_type(gid, bname, path, full) -> int:
    try:
        return gid.links.get_info(bname).type
    except Exception as exc:  # noqa: BLE001
        raise fail(path, f"cannot read the link {full.lstrip('/')} ({_first_line(exc)})") from None


def _file_size(f, path) -> int:
    try:
        return int(f.id.get_filesize())
    except Exception:  # noqa: BLE001
        return int(os.path.getsize(path))


def resolve_soft_link(f, base: str, target: str, path, name: str, hops: int = 0, steps: list | None = None) -> str:
    """The absolute path a soft link at ``base``/``name`` leads to, following further soft links;
    refuses links that dangle, loop or pass through an external link. ``steps``: a one-item list,
    the look-ups left for the whole file."""
    import h5py
    from h5py import h5l

    steps = [MAX_SOFT_STEPS] if steps is None else steps
    shown = name.lstrip("/")
    cur = "/"
    parts = [p for p in (target if target.startswith("/") else posixpath.join(base, target)).split("/") if p]
    for part in parts:
        steps[0] -= 1
        if steps[0] < 0:
            raise fail(path, f"{shown}: soft links that lead to soft links too many times: refused")
        if part == ".":
            continue
        if part == "..":
            cur = posixpath.dirname(cur) or "/"
            continue
        group = f.get(cur) if cur != "/" else f["/"]
        if not isinstance(group, h5py.Group):
            raise fail(path, f"{shown} is a dangling soft link (to {target}: {cur} is not a group)")
        bpart = part.encode("utf-8")
        try:
            exists = group.id.links.exists(bpart)
        except Exception:  # noqa: BLE001
            exists = False
        if not exists:
            raise fail(path, f"{shown} is a dangling soft link (to {target}, which does not exist)")
        kind = _link_type(group.id, bpart, path, posixpath.join(cur, part))
        if kind == h5l.TYPE_EXTERNAL:
            raise fail(path, f"{shown} is a soft link to {target}, which passes through an external link: "
                             "data from outside the file is never read")
        if kind == h5l.TYPE_SOFT:
            if hops + 1 > MAX_SOFT_HOPS:
                raise fail(path, f"{shown} is a soft link that loops (to {target})")
            inner = group.id.links.get_val(bpart).decode("utf-8", "replace")
            cur = resolve_soft_link(f, cur, inner, path, name, hops + 1, steps)
        elif kind == h5l.TYPE_HARD:
            cur = posixpath.join(cur, part)
        else:
            raise fail(path, f"{shown} is a soft link through a link of an unknown kind: refused")
    return cur


def check_storage(dsid, name: str, path, file_size: int) -> None:
    """Refuse a dataset (a low-level ``DatasetID``) whose bytes live elsewhere or that
    declares far more than it stores."""
    from h5py import h5d

    try:
        dcpl = dsid.get_create_plist()
        layout = dcpl.get_layout()
        virtual = layout == h5d.VIRTUAL
        external = dcpl.get_external_count() > 0
        type_size = int(dsid.get_type().get_size())
        shape = dsid.shape
        stored = int(dsid.get_storage_size())
        filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())] if layout == h5d.CHUNKED else []
        chunks = dcpl.get_chunk() if layout == h5d.CHUNKED else None
        offset = dsid.get_offset() if layout == h5d.CONTIGUOUS and not external else None
        where = ", ".join(dcpl.get_external(i)[0].decode("utf-8", "replace")
                          for i in range(min(2, dcpl.get_external_count()))) if external else ""
    except Exception as exc:  # noqa: BLE001
        raise fail(path, f"cannot inspect the dataset {name} ({_first_line(exc)})") from None
    if virtual:
        raise fail(path, f"{name} is a virtual dataset (assembled from other datasets or files): refused")
    if external:
        raise fail(path, f"{name} keeps its data in an external file ({where}): data from outside the file "
                         "is never read")
    for code in filters:
        if code not in ALLOWED_FILTERS:
            raise fail(path, f"{name} is compressed with HDF5 filter {code}, which sessions never use "
                             f"(allowed: {', '.join(ALLOWED_FILTERS.values())})")
    elements = math.prod(shape) if shape else (1 if shape == () else 0)
    declared = elements * type_size
    if chunks:
        chunk_bytes = math.prod(chunks) * type_size
        if chunk_bytes > MAX_CHUNK_BYTES:
            raise fail(path, f"{name} is stored in chunks of {_size(chunk_bytes)} (at most "
                             f"{_size(MAX_CHUNK_BYTES)} are read at once): refused")
    if offset is not None and offset + declared > file_size:
        raise fail(path, f"{name} runs past the end of the file (truncated?)")
    if declared > SMALL_BYTES and declared > MAX_EXPANSION * stored:
        raise fail(path, f"{name} declares {elements} values ({_size(declared)}) but stores only "
                         f"{_size(stored)} in the file: not recorded data (a crafted or damaged file)")


# ---- the layout: shapes, dtypes, values ------------------------------------------------------

NUMERIC = "fiu"  # real floats, signed and unsigned integers (no bool, complex, enum, compound)


def is_string_dtype(dtype) -> bool:
    import h5py

    return h5py.check_string_dtype(dtype) is not None


def group(f, name: str, path, required: bool = True):
    """The group ``name`` or None if absent (``required``: missing is an error)."""
    import h5py

    obj = _get(f, name, path)
    if obj is None:
        if required:
            raise fail(path, f"{name} is missing (not a complete nmt-monitor session)")
        return None
    if not isinstance(obj, h5py.Group):
        raise fail(path, f"{name} should be a group, not a {type(obj).__name__.lower()}")
    return obj


def _get(parent, name: str, path):
    try:
        return parent.get(name)
    except Exception as exc:  # noqa: BLE001 - structure was checked; still never a traceback
        raise fail(path, f"cannot open {name} ({_first_line(exc)})") from None


def dataset(parent, name: str, path, *, full: str, kinds: str = NUMERIC, length: int | None = None,
            required: bool = True):
    """The 1-D dataset ``parent[name]`` with a dtype of ``kinds`` (numpy kind letters, or
    "str") and ``length`` elements; None if absent and not ``required``."""
    import h5py

    obj = _get(parent, name, path)
    if obj is None:
        if required:
            raise fail(path, f"{full} is missing (not a complete nmt-monitor session)")
        return None
    if not isinstance(obj, h5py.Dataset):
        raise fail(path, f"{full} should be a dataset, not a {type(obj).__name__.lower()}")
    shape = obj.shape
    if shape is None or len(shape) != 1:
        what = "scalar" if shape == () else "empty (null)" if shape is None else f"{len(shape)}-D {shape}"
        raise fail(path, f"{full} should be 1-D, but is {what}")
    try:
        dtype = obj.dtype
    except Exception as exc:  # noqa: BLE001 - a type h5py cannot map
        raise fail(path, f"{full} has a data type that cannot be read ({_first_line(exc)})") from None
    if kinds == "str":
        if not is_string_dtype(dtype):
            raise fail(path, f"{full} should hold text, not {_dtype_name(dtype)}")
    elif is_string_dtype(dtype) or dtype.kind not in kinds or dtype.names or dtype.subdtype:
        want = {"f": "floating-point numbers", "i": "integers", "iu": "integers"}.get(kinds, "numbers")
        raise fail(path, f"{full} should hold {want}, not {_dtype_name(dtype)}")
    if length is not None and shape[0] != length:
        raise fail(path, f"{full} has {shape[0]} values, but the session declares {length} (n_samples)")
    return obj


def _dtype_name(dtype) -> str:
    import h5py

    if h5py.check_string_dtype(dtype) is not None:
        return "text"
    if dtype.names:
        return "a compound type"
    if dtype.kind == "b":
        return "booleans"
    if dtype.kind == "c":
        return "complex numbers"
    if h5py.check_enum_dtype(dtype) is not None:
        return "an enumeration"
    if dtype.kind == "O":
        return "objects"
    return str(dtype)


def read(ds, full: str, path, rows: slice | None = None) -> np.ndarray:
    """Read a checked dataset (or ``rows`` of it); an HDF5 error is one line."""
    try:
        return ds[()] if rows is None else ds[rows]
    except Exception as exc:  # noqa: BLE001 - corrupt chunks: OSError, ValueError ...
        raise fail(path, f"cannot read {full} ({_first_line(exc)})") from None


def read_text_column(ds, full: str, path, budget: int) -> list[str]:
    """A string column as ``str``, read ``STRING_SLICE`` rows at a time; refuses once the text
    read exceeds ``budget`` bytes (each row's text is stored in the file: more than the file
    holds means rows share a crafted heap object)."""
    out: list[str] = []
    total = 0
    n = ds.shape[0]
    for i in range(0, n, STRING_SLICE):
        for x in read(ds, full, path, slice(i, min(n, i + STRING_SLICE))).tolist():
            s = x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
            total += len(s)
            if total > budget:
                raise fail(path, f"{full} holds more text than the file can store: refused")
            out.append(s)
    return out


def attributes(obj, where: str, path) -> dict:
    """Every attribute of ``obj`` as plain Python values (str, int, float, lists), each checked
    for size before it is read."""
    out = {}
    try:
        names = list(obj.attrs.keys())
    except Exception as exc:  # noqa: BLE001
        raise fail(path, f"cannot list the attributes of {where} ({_first_line(exc)})") from None
    for key in names:
        try:
            shape = obj.attrs.get_id(key).shape
        except Exception as exc:  # noqa: BLE001
            raise fail(path, f"cannot read the attribute {key} of {where} ({_first_line(exc)})") from None
        if shape and math.prod(shape) > MAX_ATTRIBUTE_ELEMENTS:
            raise fail(path, f"the attribute {key} of {where} has {math.prod(shape)} values: refused")
        try:
            out[key] = plain(obj.attrs[key])
        except Exception as exc:  # noqa: BLE001 - a type h5py cannot read, a broken heap ...
            raise fail(path, f"cannot read the attribute {key} of {where} ({_first_line(exc)})") from None
    return out


def plain(v):
    """HDF5 values as JSON-like Python values (bytes decoded as UTF-8)."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "OSU":
            return [plain(x) for x in v.tolist()]
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


# ---- values -------------------------------------------------------------------------------------

def count(value, what: str, path) -> int:
    """A count of things (``n_samples``, ``n_rows``): a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(path, f"{what} should be a whole number, not {_shown(value)}")
    if isinstance(value, float) and not (math.isfinite(value) and value == int(value)):
        raise fail(path, f"{what} should be a whole number, not {value!r}")
    if value < 0:
        raise fail(path, f"{what} is negative ({int(value)})")
    return int(value)


def number(value, what: str, path, *, positive: bool = False, low: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(path, f"{what} should be a number, not {_shown(value)}")
    x = float(value)
    if not math.isfinite(x):
        raise fail(path, f"{what} is not a finite number ({x})")
    if positive and not x > 0:
        raise fail(path, f"{what} should be positive, not {x:g}")
    if low is not None and x < low:
        raise fail(path, f"{what} should be at least {low:g}, not {x:g}")
    return x


def text(value, what: str, path) -> str:
    if not isinstance(value, str):
        raise fail(path, f"{what} should be text, not {_shown(value)}")
    return value


def band(value, what: str, path) -> tuple[float, float]:
    """A band LOW, HIGH: two finite numbers, 0 <= LOW < HIGH."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        n = f"{len(value)} values" if isinstance(value, (list, tuple)) else _shown(value)
        raise fail(path, f"{what} should be two numbers (low, high), not {n}")
    lo = number(value[0], f"{what}[0]", path, low=0.0)
    hi = number(value[1], f"{what}[1]", path)
    if not lo < hi:
        raise fail(path, f"{what} should be low < high, not {lo:g}, {hi:g}")
    return lo, hi


def _shown(value) -> str:
    if isinstance(value, str):
        return f"the text {value[:20]!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} values"
    return f"{type(value).__name__} {str(value)[:20]}"
