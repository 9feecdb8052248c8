"""Session files from elsewhere: a generated corpus of malformed and hostile HDF5 files (made in
tmp_path by tests/storage/malformed.py) run through every command that reads sessions.

Each bad file is one line on stderr naming the file and the problem, exit 2, never a traceback;
nothing outside the file is read (external storage and links, virtual datasets); a file that
declares more than it stores is refused before anything is allocated (memory and disk bombs).
Most runs call the CLI's ``main()`` in-process (fast); a few are real subprocesses with memory
and file-size limits, as a user would meet them.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from nmt_monitor.cli import main
from nmt_monitor.storage import open_session

from tests.cli import assert_one_line_error, run_cli
from .malformed import GOOD, make_corpus

COMMANDS = {
    "analyze": lambda path, tmp: ["analyze", path],
    "grade": lambda path, tmp: ["grade", path],
    "export": lambda path, tmp: ["export", path, "--csv", tmp / "out.csv"],
    "replay": lambda path, tmp: ["replay", path],  # the loading path: refused before the screen
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("malformed"))


@pytest.fixture
def memory_cap():
    """Cap this process's address space while a test runs, so a bomb that got through fails
    the test with MemoryError instead of taking the machine's memory."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as fh:
        in_use = int(fh.read().split()[0]) * resource.getpagesize()
    cap = in_use + (2 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _run_main(argv, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_corpus_is_large_and_varied(corpus):
    assert len(corpus) >= 40
    names = " ".join(c.name for c in corpus)
    for kind in ("missing", "renamed", "strings", "2d", "scalar", "band-one-element", "external-link",
                 "external-storage", "soft-link-dangling", "loop", "virtual", "bomb", "truncated", "text-named"):
        assert kind in names, kind


@pytest.mark.slow
def test_every_command_refuses_every_malformed_file_in_one_line(corpus, tmp_path, capsys, memory_cap):
    runs = 0
    for case in corpus:
        for label, argv in COMMANDS.items():
            code, out, err = _run_main(argv(case.path, tmp_path), capsys)
            runs += 1
            lines = err.strip().splitlines()
            where = f"{case.name} / {label}: {err!r}"
            assert code == 2, where
            assert len(lines) == 1 and "Traceback" not in err, where
            assert str(case.path) in lines[0] and case.expect in lines[0], where
            assert "unexpected" not in lines[0], where  # caught by a check, not by the safety net
            assert out == "", where
            assert not (tmp_path / "out.csv").exists(), where
            assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")], where
    assert runs == len(corpus) * len(COMMANDS)


def test_the_good_file_passes_every_check(tmp_path, capsys):
    """The corpus is the good example with one thing broken: the example itself is fine."""
    for label, argv in COMMANDS.items():
        if label == "replay":
            continue  # needs a terminal
        code, out, err = _run_main(argv(GOOD, tmp_path), capsys)
        assert code == 0, (label, err)


def test_nothing_outside_the_file_is_read(corpus):
    """The hostile files point at /etc/passwd, another session and a secret file: refused,
    and the error names the link, not the contents."""
    hostile = [c for c in corpus if c.name.startswith(("external", "virtual", "soft-link-through"))]
    assert len(hostile) >= 7
    for case in hostile:
        with pytest.raises(Exception) as info:
            open_session(case.path)
        assert "root:" not in str(info.value)
        assert any(w in str(info.value) for w in ("external", "virtual")), str(info.value)


def test_a_memory_bomb_is_refused_under_a_1_GB_limit(tmp_path):
    """A ~60 kB file declaring 600 M samples (4.8 GB of time alone): before, analyze tried to
    allocate it all (2 GB peak for a 100 M-sample version, MemoryError here); now it is one line
    without reading anything. A real subprocess with its address space capped at 1 GB."""
    from .malformed import _bomb_unallocated

    bomb = tmp_path / "bomb.h5"
    shutil.copyfile(GOOD, bomb)
    with h5py.File(bomb, "r+") as f:
        _bomb_unallocated(f, tmp_path)
    assert bomb.stat().st_size < 110_000

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    result = subprocess.run([sys.executable, "-m", "nmt_monitor", "analyze", str(bomb)], capture_output=True,
                            text=True, timeout=120, preexec_fn=cap)
    assert_one_line_error(result, str(bomb), "declares 600000000 values")


def test_a_disk_bomb_cannot_make_export_write_more_than_the_file_declares(tmp_path):
    """export streams rows: a file declaring 600 M samples would write ~12 GB of CSV. It is
    refused before the CSV exists (the subprocess may write at most 10 MB)."""
    from .malformed import _bomb_sparse

    bomb = tmp_path / "bomb.h5"
    shutil.copyfile(GOOD, bomb)
    with h5py.File(bomb, "r+") as f:
        _bomb_sparse(f, tmp_path)

    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (10 << 20, 10 << 20))

    out = tmp_path / "out.csv"
    result = subprocess.run([sys.executable, "-m", "nmt_monitor", "export", str(bomb), "--csv", str(out)],
                            capture_output=True, text=True, timeout=120, preexec_fn=cap)
    assert_one_line_error(result, str(bomb), "but stores only")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.h5"]


def test_a_long_quiet_session_is_not_mistaken_for_a_bomb(tmp_path):
    """Data that compresses as well as deflate can (2 M samples of constant force, level 9) is
    a real recording: it is read."""
    path = tmp_path / "quiet.h5"
    shutil.copyfile(GOOD, path)
    n = 2_000_000
    with h5py.File(path, "r+") as f:
        g = f["acquisition/force"]
        columns = {"timestamps": np.arange(n) / 1000.0, "data": np.zeros(n, "<f4"),
                   "device_time": np.arange(n) / 1000.0, "seq": np.arange(n), "segment": np.zeros(n, "<i4"),
                   "saturated": np.zeros(n, "u1")}
        for name, values in columns.items():
            del g[name]
            g.create_dataset(name, data=values, chunks=(32768,), compression="gzip", compression_opts=9,
                             shuffle=True)
        del f["acquisition/raw_counts"]
        f.attrs["n_samples"] = np.int64(n)
    assert path.stat().st_size < 1_000_000  # ~2 MB of samples... in well under 1 MB
    s = open_session(path)
    assert s.force_n.size == n and s.time_s[-1] == pytest.approx((n - 1) / 1000.0)


def test_links_inside_the_file_are_fine(tmp_path):
    """A soft link within the file (raw_counts/timestamps -> force/timestamps, as written), a
    second hard link to a group and a hard-link cycle are legal HDF5: read, no endless walk."""
    path = tmp_path / "links.h5"
    shutil.copyfile(GOOD, path)
    with h5py.File(path, "r+") as f:
        f["general/session_again"] = f["general/session"]  # a second hard link
        f["general/cycle"] = f["general"]  # a group that contains itself
        f["general/relative"] = h5py.SoftLink("session")  # relative soft link
        f["general/up"] = h5py.SoftLink("../acquisition/force/data")
    s = open_session(path)
    assert s.n_samples == 5009 and s.metadata["therapist"] == "student A"


def test_a_handful_of_malformed_files_as_a_user_meets_them(corpus, tmp_path):
    """Real subprocesses: the one line and exit code 2 are what reaches the terminal."""
    by_name = {c.name: c for c in corpus}
    for name, command in (("external-storage-passwd", "analyze"), ("soft-link-self-loop", "grade"),
                          ("virtual-dataset", "replay")):
        case = by_name[name]
        argv = COMMANDS[command](case.path, tmp_path)
        assert_one_line_error(run_cli(*argv), str(case.path), case.expect)
