"""A generated corpus of malformed and hostile session files (made in a temporary folder, never
committed): each case is a real HDF5 file on disk (or a file that pretends to be one) and a
fragment the one-line error must contain.

``make_corpus(directory)`` copies a good session and breaks one thing per file: missing or
renamed datasets, wrong dtypes and shapes, bad metadata, broken tables, external storage and
links, soft links that dangle or loop, virtual datasets, memory and disk bombs (datasets that
declare far more than the file holds), truncated and foreign files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[2]
GOOD = REPO / "recordings" / "example-steady.h5"

FORCE = "acquisition/force"


@dataclass
class Case:
    name: str
    path: Path
    expect: str  # a fragment of the one-line error
    #: a memory or disk bomb: reading it as declared would need far more than the file
    bomb: bool = False


def _replace(f, name: str, **kwargs):
    """Delete the dataset ``name`` and create it again with ``kwargs`` (attributes kept out)."""
    if name in f:
        del f[name]
    return f.create_dataset(name, **kwargs)


def _n(f) -> int:
    return int(f.attrs["n_samples"])


# ---- the cases: (name, expected fragment, mutate(f, directory), bomb) ------------------------------

def _missing_data(f, d):
    del f[f"{FORCE}/data"]


def _missing_timestamps(f, d):
    del f[f"{FORCE}/timestamps"]


def _renamed_data(f, d):
    f.move(f"{FORCE}/data", f"{FORCE}/force")


def _renamed_force_group(f, d):
    f.move(FORCE, "acquisition/forces")


def _no_acquisition(f, d):
    del f["acquisition"]


def _data_is_group(f, d):
    del f[f"{FORCE}/data"]
    f.create_group(f"{FORCE}/data")


def _session_is_dataset(f, d):
    del f["general/session"]
    f["general/session"] = np.arange(3)


def _data_strings(f, d):
    _replace(f, f"{FORCE}/data", data=[str(i) for i in range(_n(f))], dtype=h5py.string_dtype())


def _data_compound(f, d):
    dt = np.dtype([("a", "<f4"), ("b", "<i4")])
    _replace(f, f"{FORCE}/data", data=np.zeros(_n(f), dt))


def _time_complex(f, d):
    t = f[f"{FORCE}/timestamps"][()]
    _replace(f, f"{FORCE}/timestamps", data=t.astype(np.complex128))


def _data_bool_enum(f, d):
    _replace(f, f"{FORCE}/data", data=np.zeros(_n(f), bool))


def _data_2d(f, d):
    x = f[f"{FORCE}/data"][()]
    _replace(f, f"{FORCE}/data", data=np.c_[x, x])


def _time_2d(f, d):
    t = f[f"{FORCE}/timestamps"][()]
    _replace(f, f"{FORCE}/timestamps", data=t.reshape(1, -1))


def _data_scalar(f, d):
    _replace(f, f"{FORCE}/data", data=np.float32(1.0))


def _data_shorter(f, d):
    x = f[f"{FORCE}/data"][()]
    _replace(f, f"{FORCE}/data", data=x[:-10])


def _seq_longer(f, d):
    x = f[f"{FORCE}/seq"][()]
    _replace(f, f"{FORCE}/seq", data=np.r_[x, x])


def _n_samples_missing(f, d):
    del f.attrs["n_samples"]


def _n_samples_string(f, d):
    f.attrs["n_samples"] = "5009"


def _n_samples_negative(f, d):
    f.attrs["n_samples"] = np.int64(-1)


def _n_samples_huge(f, d):
    f.attrs["n_samples"] = np.int64(10**15)


def _schema_missing(f, d):
    del f.attrs["schema"]


def _schema_int(f, d):
    f.attrs["schema"] = np.int64(7)


def _schema_v2(f, d):
    f.attrs["schema_version"] = "2.0"


def _tolerance_string(f, d):
    f["general/session"].attrs["tolerance_N"] = "60N"


def _tolerance_negative(f, d):
    f["general/session"].attrs["tolerance_N"] = -5.0


def _tolerance_nan(f, d):
    f["general/session"].attrs["tolerance_N"] = float("nan")


def _tolerance_array(f, d):
    f["general/session"].attrs["tolerance_N"] = np.array([60.0, 70.0])


def _band_one_element(f, d):
    f["general/session"].attrs["target_band_N"] = np.array([30.0])


def _band_three_elements(f, d):
    f["general/session"].attrs["target_band_N"] = np.array([30.0, 40.0, 50.0])


def _band_reversed(f, d):
    f["general/session"].attrs["target_band_N"] = np.array([50.0, 30.0])


def _band_strings(f, d):
    f["general/session"].attrs.create("target_band_N", ["30N", "50N"], dtype=h5py.string_dtype())


def _band_scalar(f, d):
    f["general/session"].attrs["target_band_N"] = 40.0


def _hold_time_string(f, d):
    f["general/session"].attrs["target_hold_s"] = "fifteen"


def _tip_area_zero(f, d):
    f["general/session"].attrs["tip_area_cm2"] = 0.0


def _therapist_number(f, d):
    f["general/session"].attrs["therapist"] = np.arange(4)


def _start_epoch_string(f, d):
    f.attrs["session_start_epoch_s"] = "yesterday"


def _holds_missing_column(f, d):
    del f["intervals/holds/mean_N"]


def _holds_ragged(f, d):
    x = f["intervals/holds/start_time"][()]
    _replace(f, "intervals/holds/start_time", data=np.r_[x, x, x])


def _holds_2d_column(f, d):
    x = f["intervals/holds/stop_time"][()]
    _replace(f, "intervals/holds/stop_time", data=np.c_[x, x])


def _holds_colnames_int(f, d):
    f["intervals/holds"].attrs["colnames"] = np.int64(3)


def _markers_kind_numbers(f, d):
    n = f["acquisition/markers/kind"].shape[0]
    _replace(f, "acquisition/markers/kind", data=np.arange(n, dtype=np.float64))


def _markers_time_strings(f, d):
    n = f["acquisition/markers/timestamps"].shape[0]
    _replace(f, "acquisition/markers/timestamps", data=["t"] * n, dtype=h5py.string_dtype())


def _time_nan(f, d):
    t = f[f"{FORCE}/timestamps"][()]
    t[100] = np.nan
    f[f"{FORCE}/timestamps"][...] = t


def _time_backwards(f, d):
    t = f[f"{FORCE}/timestamps"][()]
    t[200:300] = t[200:300][::-1]
    f[f"{FORCE}/timestamps"][...] = t


def _force_inf(f, d):
    x = f[f"{FORCE}/data"][()]
    x[50] = np.inf
    f[f"{FORCE}/data"][...] = x


def _empty_session(f, d):
    for name in list(f[FORCE]):
        ds = f[f"{FORCE}/{name}"]
        _replace(f, f"{FORCE}/{name}", shape=(0,), dtype=ds.dtype)
    del f["acquisition/raw_counts"]
    f.attrs["n_samples"] = np.int64(0)


# -- links and storage outside the file --

def _external_storage(f, d):
    n = _n(f)
    secret = d / "secret.bin"
    secret.write_bytes(np.arange(n, dtype="<f4").tobytes())
    del f[f"{FORCE}/data"]
    f.create_dataset(f"{FORCE}/data", shape=(n,), dtype="<f4", external=[(str(secret), 0, 4 * n)])


def _external_storage_passwd(f, d):
    del f[f"{FORCE}/timestamps"]
    f.create_dataset(f"{FORCE}/timestamps", shape=(16,), dtype="<f8", external=[("/etc/passwd", 0, 128)])


def _other_file(d: Path) -> Path:
    other = d / "other-session.h5"
    if not other.exists():
        shutil.copyfile(GOOD, other)
    return other


def _external_link_dataset(f, d):
    other = _other_file(d)
    del f[f"{FORCE}/data"]
    f[f"{FORCE}/data"] = h5py.ExternalLink(str(other), f"/{FORCE}/data")


def _external_link_group(f, d):
    other = _other_file(d)
    del f[FORCE]
    f[FORCE] = h5py.ExternalLink(str(other), f"/{FORCE}")


def _external_link_dangling(f, d):
    del f[f"{FORCE}/data"]
    f[f"{FORCE}/data"] = h5py.ExternalLink(str(d / "no-such-file.h5"), "/x")


def _external_link_elsewhere(f, d):
    # not on the path we read, still a file that reaches out: refused as a whole
    f["general/notes_from_elsewhere"] = h5py.ExternalLink("/etc/passwd", "/x")


def _soft_link_dangling(f, d):
    del f[f"{FORCE}/data"]
    f[f"{FORCE}/data"] = h5py.SoftLink("/nowhere/data")


def _soft_link_self_loop(f, d):
    del f[f"{FORCE}/data"]
    f[f"{FORCE}/data"] = h5py.SoftLink(f"/{FORCE}/data")


def _soft_link_pair_loop(f, d):
    del f[f"{FORCE}/data"]
    f[f"{FORCE}/data"] = h5py.SoftLink("/general/a")
    f["general/a"] = h5py.SoftLink(f"/{FORCE}/data")


def _soft_link_group_loop(f, d):
    f["general/loop"] = h5py.SoftLink("/general/loop/x")


def _soft_link_fan_out(f, d):
    """Each link names the next one twice: resolving the first naively takes 2^30 look-ups."""
    g = f.create_group("general/fan")
    g["g"] = np.arange(1)
    for i in range(30):
        nxt = f"/general/fan/l{i + 1}" if i < 29 else "/general/fan/g"
        g[f"l{i}"] = h5py.SoftLink(f"{nxt}/../l{i + 1}" if i < 29 else nxt)


def _soft_link_through_external(f, d):
    other = _other_file(d)
    f["elsewhere"] = h5py.ExternalLink(str(other), "/")
    del f[f"{FORCE}/data"]
    f[f"{FORCE}/data"] = h5py.SoftLink(f"/elsewhere/{FORCE}/data")


def _virtual_dataset(f, d):
    other = _other_file(d)
    n = _n(f)
    layout = h5py.VirtualLayout(shape=(n,), dtype="<f4")
    layout[:] = h5py.VirtualSource(str(other), f"/{FORCE}/data", shape=(n,))
    del f[f"{FORCE}/data"]
    f.create_virtual_dataset(f"{FORCE}/data", layout)


def _virtual_dataset_self(f, d):
    n = _n(f)
    f.create_dataset("general/copy", data=f[f"{FORCE}/data"][()])
    layout = h5py.VirtualLayout(shape=(n,), dtype="<f4")
    layout[:] = h5py.VirtualSource(".", "/general/copy", shape=(n,))
    del f[f"{FORCE}/data"]
    f.create_virtual_dataset(f"{FORCE}/data", layout)


# -- bombs: far more declared than stored --

BOMB_SAMPLES = 600_000_000  # 600 M samples: 4.8 GB of float64 time, 2.4 GB of float32 force


def _bomb_unallocated(f, d):
    """Every per-sample dataset declares 600 M samples, n_samples agrees, no chunk is written:
    the file stays ~100 kB and reading it as declared reads gigabytes of fill values."""
    for name in list(f[FORCE]):
        dtype = f[f"{FORCE}/{name}"].dtype
        _replace(f, f"{FORCE}/{name}", shape=(BOMB_SAMPLES,), dtype=dtype, chunks=(32768,),
                 compression="gzip", shuffle=True)
    del f["acquisition/raw_counts"]
    f.attrs["n_samples"] = np.int64(BOMB_SAMPLES)


def _bomb_unallocated_mismatch(f, d):
    _replace(f, f"{FORCE}/timestamps", shape=(BOMB_SAMPLES,), dtype="<f8", chunks=(32768,), compression="gzip")


def _bomb_contiguous(f, d):
    """A contiguous dataset declared 5 GB, never written (late allocation): nothing stored."""
    for name in list(f[FORCE]):
        dtype = f[f"{FORCE}/{name}"].dtype
        _replace(f, f"{FORCE}/{name}", shape=(BOMB_SAMPLES,), dtype=dtype)
    del f["acquisition/raw_counts"]
    f.attrs["n_samples"] = np.int64(BOMB_SAMPLES)


def _bomb_sparse(f, d):
    """600 M samples of which only the first chunk is written."""
    _bomb_unallocated(f, d)
    for name in list(f[FORCE]):
        f[f"{FORCE}/{name}"][:32768] = np.arange(32768)


def _bomb_huge_chunk(f, d):
    """The right length, but stored in one chunk of 128 MiB (the writer uses 256 kiB): reading
    one sample decompresses it all."""
    import zlib

    n = _n(f)
    x = f[f"{FORCE}/data"][()].astype("<f8")
    chunk = 1 << 24  # float64 elements: 128 MiB
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((chunk,))
    dcpl.set_deflate(1)
    del f[f"{FORCE}/data"]
    space = h5py.h5s.create_simple((n,), (h5py.h5s.UNLIMITED,))
    dsid = h5py.h5d.create(f.id, f"{FORCE}/data".encode(), h5py.h5t.IEEE_F64LE, space, dcpl=dcpl)
    z = zlib.compressobj(1)
    parts = [z.compress(x.tobytes())]
    zeros = bytes(1 << 23)
    left = chunk * 8 - x.nbytes
    while left > 0:
        parts.append(z.compress(zeros[:min(left, len(zeros))]))
        left -= len(zeros)
    parts.append(z.flush())
    dsid.write_direct_chunk((0,), b"".join(parts))


def _bomb_table(f, d):
    """A holds table whose columns declare 10^9 rows (unallocated)."""
    g = f["intervals/holds"]
    for name in list(g):
        dtype = g[name].dtype
        _replace(f, f"intervals/holds/{name}", shape=(10**9,), dtype=dtype, chunks=(4096,), compression="gzip")
    g.attrs["n_rows"] = np.int64(10**9)


def _bomb_wide_strings(f, d):
    """A marker column of 100 MB fixed-length strings per row, never written."""
    n = f["acquisition/markers/text"].shape[0]
    _replace(f, "acquisition/markers/text", shape=(n,), dtype="S100000000", chunks=(1,), compression="gzip")


# -- files that are not (whole) HDF5 sessions --

def _write_text(path: Path):
    path.write_text("time_s,force_N\n0,1\n", encoding="utf-8")


def _write_empty(path: Path):
    path.write_bytes(b"")


def _write_random(path: Path):
    path.write_bytes(np.random.default_rng(1).bytes(20000))


def _write_signature_garbage(path: Path):
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + np.random.default_rng(2).bytes(5000))


def _write_truncated(path: Path):
    data = GOOD.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _write_truncated_header(path: Path):
    path.write_bytes(GOOD.read_bytes()[:600])


def _write_foreign_h5(path: Path):
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(10)


MUTATIONS = [
    # name, expected fragment, mutate, bomb
    ("missing-data", "acquisition/force/data", _missing_data, False),
    ("missing-timestamps", "acquisition/force/timestamps", _missing_timestamps, False),
    ("renamed-data", "acquisition/force/data", _renamed_data, False),
    ("renamed-force-group", "acquisition/force", _renamed_force_group, False),
    ("no-acquisition", "acquisition/force", _no_acquisition, False),
    ("data-is-group", "acquisition/force/data", _data_is_group, False),
    ("session-is-dataset", "general/session", _session_is_dataset, False),
    ("data-strings", "acquisition/force/data", _data_strings, False),
    ("data-compound", "acquisition/force/data", _data_compound, False),
    ("time-complex", "acquisition/force/timestamps", _time_complex, False),
    ("data-bool", "acquisition/force/data", _data_bool_enum, False),
    ("data-2d", "acquisition/force/data", _data_2d, False),
    ("time-2d", "acquisition/force/timestamps", _time_2d, False),
    ("data-scalar", "acquisition/force/data", _data_scalar, False),
    ("data-shorter", "acquisition/force/data", _data_shorter, False),
    ("seq-longer", "acquisition/force/seq", _seq_longer, False),
    ("n-samples-missing", "n_samples", _n_samples_missing, False),
    ("n-samples-string", "n_samples", _n_samples_string, False),
    ("n-samples-negative", "n_samples", _n_samples_negative, False),
    ("n-samples-huge", "n_samples", _n_samples_huge, False),
    ("schema-missing", "not an nmt-monitor session", _schema_missing, False),
    ("schema-int", "not an nmt-monitor session", _schema_int, False),
    ("schema-v2", "schema 2.0", _schema_v2, False),
    ("tolerance-string", "tolerance_N", _tolerance_string, False),
    ("tolerance-negative", "tolerance_N", _tolerance_negative, False),
    ("tolerance-nan", "tolerance_N", _tolerance_nan, False),
    ("tolerance-array", "tolerance_N", _tolerance_array, False),
    ("band-one-element", "target_band_N", _band_one_element, False),
    ("band-three-elements", "target_band_N", _band_three_elements, False),
    ("band-reversed", "target_band_N", _band_reversed, False),
    ("band-strings", "target_band_N", _band_strings, False),
    ("band-scalar", "target_band_N", _band_scalar, False),
    ("hold-time-string", "target_hold_s", _hold_time_string, False),
    ("tip-area-zero", "tip_area_cm2", _tip_area_zero, False),
    ("therapist-number", "therapist", _therapist_number, False),
    ("start-epoch-string", "session_start_epoch_s", _start_epoch_string, False),
    ("holds-missing-column", "intervals/holds", _holds_missing_column, False),
    ("holds-ragged", "intervals/holds", _holds_ragged, False),
    ("holds-2d-column", "intervals/holds/stop_time", _holds_2d_column, False),
    ("holds-colnames-int", "intervals/holds", _holds_colnames_int, False),
    ("markers-kind-numbers", "acquisition/markers/kind", _markers_kind_numbers, False),
    ("markers-time-strings", "acquisition/markers/timestamps", _markers_time_strings, False),
    ("time-nan", "timestamps", _time_nan, False),
    ("time-backwards", "time goes backwards", _time_backwards, False),
    ("force-inf", "acquisition/force/data", _force_inf, False),
    ("empty-session", "no samples", _empty_session, False),
    ("external-storage", "external", _external_storage, False),
    ("external-storage-passwd", "external", _external_storage_passwd, False),
    ("external-link-dataset", "external link", _external_link_dataset, False),
    ("external-link-group", "external link", _external_link_group, False),
    ("external-link-dangling", "external link", _external_link_dangling, False),
    ("external-link-elsewhere", "external link", _external_link_elsewhere, False),
    ("soft-link-dangling", "dangling", _soft_link_dangling, False),
    ("soft-link-self-loop", "loop", _soft_link_self_loop, False),
    ("soft-link-pair-loop", "loop", _soft_link_pair_loop, False),
    ("soft-link-group-loop", "loop", _soft_link_group_loop, False),
    ("soft-link-fan-out", "soft link", _soft_link_fan_out, False),
    ("soft-link-through-external", "external link", _soft_link_through_external, False),
    ("virtual-dataset", "virtual", _virtual_dataset, False),
    ("virtual-dataset-self", "virtual", _virtual_dataset_self, False),
    ("bomb-unallocated", "but stores only", _bomb_unallocated, True),
    ("bomb-unallocated-mismatch", "acquisition/force/timestamps", _bomb_unallocated_mismatch, True),
    ("bomb-contiguous", "but stores only", _bomb_contiguous, True),
    ("bomb-sparse", "but stores only", _bomb_sparse, True),
    ("bomb-huge-chunk", "chunk", _bomb_huge_chunk, True),
    ("bomb-table", "intervals/holds", _bomb_table, True),
    ("bomb-wide-strings", "acquisition/markers/text", _bomb_wide_strings, True),
]

WHOLE_FILES = [
    ("text-named-h5", "not a readable HDF5 file", _write_text),
    ("empty-file", "not a readable HDF5 file", _write_empty),
    ("random-bytes", "not a readable HDF5 file", _write_random),
    ("signature-then-garbage", "not a readable HDF5 file", _write_signature_garbage),
    ("truncated-half", "truncated", _write_truncated),
    ("truncated-header", "not a readable HDF5 file", _write_truncated_header),
    ("foreign-h5", "not an nmt-monitor session", _write_foreign_h5),
]


def make_corpus(directory: Path | str) -> list[Case]:
    """Write every malformed file into ``directory`` (a fresh folder); returns the cases."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    support = directory / "support"  # files the hostile ones point at; not part of the corpus
    support.mkdir(exist_ok=True)
    cases = []
    for name, expect, mutate, bomb in MUTATIONS:
        path = directory / f"{name}.h5"
        shutil.copyfile(GOOD, path)
        with h5py.File(path, "r+") as f:
            mutate(f, support)
        cases.append(Case(name, path, expect, bomb))
    for name, expect, write in WHOLE_FILES:
        path = directory / f"{name}.h5"
        write(path)
        cases.append(Case(name, path, expect))
    return cases


if __name__ == "__main__":  # python -m tests.storage.malformed DIR: write the corpus to look at
    import sys

    for case in make_corpus(sys.argv[1] if len(sys.argv) > 1 else "malformed-corpus"):
        print(f"{case.path}  ({case.expect})")


# ---- journals that `recover` meets after someone else's crash --------------------------------------

def make_bad_journals(directory: Path | str) -> dict[str, str]:
    """Write journals that cannot be (fully) recovered into ``directory``: name -> a fragment of
    what ``recover`` says. Made with the journal's own encoder, so CRCs are right and only the
    content is wrong."""
    import json
    import struct

    from nmt_monitor.storage.journal import MAGIC, RECORD_BLOCK, RECORD_EVENT, RECORD_META, RECORD_SENSOR, \
        encode_record

    directory = Path(directory)

    made = iter(range(1000))

    def meta(**changes) -> bytes:
        k = next(made)
        value = {"format": "nmt-monitor-journal", "version": 1, "target": f"x{k}.h5", "start_epoch_s": 1.79e9,
                 "software_version": "0.1.0", "session": {"session_id": f"id{k}"}}
        value.update(changes)
        return encode_record(RECORD_META, json.dumps(value).encode())

    journals = {
        "bad-magic": (np.random.default_rng(3).bytes(300), "not an nmt-monitor journal"),
        "meta-is-a-list": (MAGIC + encode_record(RECORD_META, b"[1, 2, 3]"), "no metadata"),
        "meta-not-json": (MAGIC + encode_record(RECORD_META, b"{not json"), "no metadata"),
        "first-record-event-list": (MAGIC + encode_record(RECORD_EVENT, b"[]"), "no metadata"),
        "session-is-text": (MAGIC + meta(session="someone"), "metadata record is damaged"),
        "start-is-text": (MAGIC + meta(start_epoch_s="monday"), "metadata record is damaged"),
    }
    out = {}
    for name, (data, expect) in journals.items():
        (directory / f"{name}.journal").write_bytes(data)
        out[name] = expect
    return out


def make_odd_journals(directory: Path | str) -> list[str]:
    """Journals that are recovered up to a bad record (or to a safe name): their names."""
    import json
    import struct

    from nmt_monitor.storage.journal import MAGIC, RECORD_BLOCK, RECORD_META, RECORD_SENSOR, encode_record

    directory = Path(directory)

    def meta(name, **changes) -> bytes:
        value = {"target": f"{name}.h5", "start_epoch_s": 1.79e9, "session": {"session_id": name}}
        value.update(changes)
        return encode_record(RECORD_META, json.dumps(value).encode())

    odd = {
        "sensor-is-a-list": meta("sensor-is-a-list") + encode_record(RECORD_SENSOR, b"[]"),
        "block-wrong-size": meta("block-wrong-size") + encode_record(RECORD_BLOCK, struct.pack("<IiB3x", 10**6, 0, 0)),
        # a target that climbs out of the folder: the file is written next to the journal instead
        "climbing-target": meta("climbing-target", target="../../escaped.h5"),
    }
    for name, data in odd.items():
        (directory / f"{name}.journal").write_bytes(MAGIC + data)
    return list(odd)
