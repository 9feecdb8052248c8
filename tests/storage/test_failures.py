"""Failures of the storage layer: concurrent recoveries, full or read-only disks, failing
journal writes and syncs, a lost META record, empty journals, exports, name races."""

import errno
import fcntl
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import nmt_monitor.storage.h5writer as w
import nmt_monitor.storage.recorder as recorder_mod
from nmt_monitor.storage import Recorder, StorageError, export_csv, open_session, recover_all, recover_session
from nmt_monitor.storage.journal import MAGIC, RECORD_META, JournalWriter

from tests.cli import assert_one_line_error, run_cli
from .synth import T0, make_blocks

MULTILINE_H5PY = ("Can't decrement id ref count (file write failed: time = ..., errno = 28)\n"
                  "  HDF5-DIAG: Error detected in HDF5 (2.0.0) thread 0:\n    #000: H5F.c line 1 in H5Fclose()")


def _journal(directory, name="j", seconds=2.0, client="x"):
    rec = Recorder(Path(directory) / f"{name}.h5", {"client": client}, clock=lambda: T0, min_free_bytes=0)
    for b in make_blocks(seconds=seconds):
        rec.add(b)
    rec.close()
    return rec.journal_path


@contextmanager
def tmpfs(path, size="2m"):
    path.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


# ---- 1. concurrent recoveries ---------------------------------------------------------------

def test_recovery_holds_the_journal_lock_and_a_second_recovery_skips_it(tmp_path, monkeypatch):
    journal = _journal(tmp_path)
    real = w.build_session_file
    seen = {}

    def build_while_another_recovery_runs(*a, **k):
        # another process (the TUI's prompt, say) runs 'nmt-monitor recover' mid-rebuild
        seen["other"] = run_cli("recover", tmp_path)
        return real(*a, **k)

    monkeypatch.setattr(w, "build_session_file", build_while_another_recovery_runs)
    result = recover_session(journal)
    assert result.status == "recovered", result
    other = seen["other"]
    assert other.returncode == 0, other.stderr
    assert "in use" in other.stdout and "Traceback" not in other.stderr
    assert not journal.exists()
    assert open_session(tmp_path / "j.h5").n_samples == 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.h5"]


def test_someone_elses_partial_file_is_not_deleted(tmp_path):
    journal = _journal(tmp_path)
    other = tmp_path / "j.h5.partial"
    other.write_bytes(b"another writer's file")
    assert recover_session(journal).status == "recovered"
    assert other.read_bytes() == b"another writer's file"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial") and p != other]


def test_a_locked_journal_is_left_alone_and_a_vanished_one_is_already_finished(tmp_path):
    journal = _journal(tmp_path)
    fd = os.open(journal, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert recover_session(journal).status == "in_use"
    finally:
        os.close(fd)
    assert journal.exists() and not (tmp_path / "j.h5").exists()
    gone = tmp_path / "gone.journal"
    result = recover_session(gone)
    assert result.status == "already_finished" and "failed" not in result.summary()


# ---- 2. finishing fails after the journal failed: memory is saved as a journal ------------------

def _recorder_with_failed_journal(directory, after=10):
    rec = Recorder(directory / "m.h5", {"client": "c"}, clock=lambda: T0, on_warning=lambda m: None)
    real_write = rec._journal.write
    calls = {"n": 0}

    def failing(data):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(data)

    rec._journal.write = failing
    blocks = make_blocks(seconds=2.0)
    for b in blocks:
        rec.add(b)
    rec.mark("note", "late", host_time_s=T0 + 1.9)
    return rec, blocks


def test_memory_is_saved_as_a_journal_when_the_file_cannot_be_written(tmp_path, monkeypatch):
    rec, blocks = _recorder_with_failed_journal(tmp_path)
    assert rec.samples_in_memory == 1000 - 10 * 50

    def boom(*a, **k):
        raise w.StorageWriteError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(w, "build_session_file", boom)
    with pytest.raises(StorageError) as info:
        rec.finish()
    message = str(info.value)
    assert "\n" not in message and "nmt-monitor recover" in message and "m-memory.journal" in message
    monkeypatch.undo()
    rec.close()
    results = {r.path.name: r for r in recover_all(tmp_path)}
    assert set(results) == {"m.h5", "m-memory.h5"}
    mem = open_session(tmp_path / "m-memory.h5")
    np.testing.assert_allclose(mem.force_n, np.concatenate([b.force_n for b in blocks[10:]]), atol=1e-4)
    assert mem.attrs["stopped_by"] == "stopped"  # the END record was saved too
    assert [m["text"] for m in mem.markers] == ["late"]
    assert open_session(tmp_path / "m.h5").n_samples == 500


def test_memory_journal_falls_back_to_tmpdir_and_one_line_of_h5py(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    rec, blocks = _recorder_with_failed_journal(out)
    monkeypatch.setattr(w, "build_session_file", lambda *a, **k: (_ for _ in ()).throw(RuntimeError(MULTILINE_H5PY)))
    real_writer = recorder_mod.JournalWriter

    def writer(path, **k):
        if Path(path).parent == out:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writer(path, **k)

    monkeypatch.setattr(recorder_mod, "JournalWriter", writer)
    monkeypatch.setattr("tempfile.tempdir", str(tmpdir))
    with pytest.raises(StorageError) as info:
        rec.finish()
    message = str(info.value)
    assert "\n" not in message and "HDF5-DIAG" not in message and str(tmpdir) in message
    assert [p.name for p in tmpdir.iterdir()] == ["m-memory.journal"]


def test_builder_errors_are_one_line(tmp_path, monkeypatch):
    def boom(self, **k):
        raise RuntimeError(MULTILINE_H5PY)

    monkeypatch.setattr(w.SessionBuilder, "finish", boom)
    rec = Recorder(tmp_path / "b.h5", {}, clock=lambda: T0)
    rec.add(make_blocks(seconds=1.0)[0])
    with pytest.raises(StorageError) as info:
        rec.finish()
    assert "\n" not in str(info.value) and "decrement" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["b.journal"]  # no partial left


# ---- 3. a full disk while the file is written ------------------------------------------------

def test_recover_refuses_without_space_and_continues_with_the_others(tmp_path, monkeypatch):
    _journal(tmp_path, "a")
    _journal(tmp_path, "b")
    real = w.check_free_space

    def no_space_for_a(directory, needed, what):
        real(directory, 10**18 if what == "a.h5" else needed, what)

    monkeypatch.setattr(w, "check_free_space", no_space_for_a)
    results = {r.journal.name: r for r in recover_all(tmp_path)}
    assert results["a.journal"].status == "failed" and "free" in results["a.journal"].message
    assert results["b.journal"].status == "recovered"
    assert (tmp_path / "a.journal").exists() and not (tmp_path / "a.h5").exists()


def test_h5py_crash_on_one_journal_does_not_stop_the_others(tmp_path, monkeypatch):
    _journal(tmp_path, "a")
    _journal(tmp_path, "b")
    real = w.SessionBuilder.finish

    def finish(self, **k):
        if self.session.get("client") == "bad":
            raise RuntimeError(MULTILINE_H5PY)
        return real(self, **k)

    _journal(tmp_path, "c", client="bad")
    monkeypatch.setattr(w.SessionBuilder, "finish", finish)
    results = {r.journal.name: r for r in recover_all(tmp_path)}
    assert [results[n].status for n in ("a.journal", "b.journal", "c.journal")] == ["recovered", "recovered", "failed"]
    assert "\n" not in results["c.journal"].summary()
    assert (tmp_path / "c.journal").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_really_full_disk(tmp_path):
    """A 1 MB tmpfs: a real ENOSPC inside HDF5 is one line, no crash, no partial left."""
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from tests.storage.synth import make_blocks, T0\n"
        "from nmt_monitor.storage.h5writer import build_session_file, StorageWriteError\n"
        "rng = np.random.default_rng(1)\n"
        "blocks = make_blocks(seconds=600, rate_hz=500, block=1000)\n"
        "for b in blocks: b.force_n[:] = rng.normal(size=len(b))\n"
        "items = [('meta', {'start_epoch_s': T0, 'session': {}})] + [('block', b) for b in blocks]\n"
        "try:\n"
        "    build_session_file(items, Path(sys.argv[1]) / 'x.h5')\n"
        "except StorageWriteError as e:\n"
        "    print('ERR', e.strerror)\n"
    )
    with tmpfs(tmp_path / "mnt", "1m") as mnt:
        result = subprocess.run([__import__("sys").executable, "-c", code, str(mnt)], capture_output=True,
                                text=True, cwd=Path(__file__).parents[2], timeout=120)
        assert result.returncode == 0, result  # not -11 (SIGSEGV)
        assert result.stdout.startswith("ERR No space left on device") and result.stdout.count("\n") == 1
        assert os.listdir(mnt) == []


def test_recover_cli_on_a_full_tmpfs(tmp_path):
    with tmpfs(tmp_path / "mnt", "2m") as mnt:
        big = _journal(mnt, "big", seconds=30.0)
        _journal(mnt, "small", seconds=1.0)
        free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
        filler = free - big.stat().st_size // 2
        with open(mnt / "filler", "wb") as fh:
            fh.write(b"\0" * max(filler, 0))
        result = run_cli("recover", mnt)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        err = result.stderr.strip().splitlines()
        assert len(err) == 1 and "big.journal" in err[0] and "free" in err[0]
        assert "small.journal" in result.stdout
        assert big.exists() and (mnt / "small.h5").exists()
        assert not [p for p in mnt.iterdir() if "partial" in p.name]


# ---- 4. fsync fails after a good write ------------------------------------------------------

def test_failed_sync_does_not_duplicate_the_block(tmp_path):
    rec = Recorder(tmp_path / "s.h5", {}, clock=lambda: T0, on_warning=lambda m: None)
    blocks = make_blocks(seconds=2.0)
    rec.add(blocks[0])

    def sync_fails():
        raise OSError(errno.EIO, "Input/output error")

    rec._journal.maybe_sync = sync_fails
    for b in blocks[1:]:
        rec.add(b)
    assert rec.in_memory
    s = open_session(rec.finish())
    assert s.n_samples == 1000
    np.testing.assert_array_equal(s.arrays["seq"], np.concatenate([b.seq for b in blocks]))


# ---- 5. META cannot be written ----------------------------------------------------------------

def test_meta_record_lost_still_writes_every_sample(tmp_path, monkeypatch):
    real = JournalWriter.write

    def write(self, data):
        if data[:1] == bytes([RECORD_META]) and data[:8] != MAGIC:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, data)

    monkeypatch.setattr(JournalWriter, "write", write)
    rec = Recorder(tmp_path / "n.h5", {"client": "kept"}, clock=lambda: T0, on_warning=lambda m: None)
    monkeypatch.undo()
    blocks = make_blocks(seconds=2.0)
    for b in blocks:
        rec.add(b)
    s = open_session(rec.finish())
    assert s.n_samples == 1000 and s.metadata["client"] == "kept"


# ---- 6. an empty journal ---------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"", MAGIC[:3], MAGIC])
def test_empty_journal_is_removed(tmp_path, content):
    journal = tmp_path / "e.journal"
    journal.write_bytes(content)
    result = run_cli("recover", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "empty journal removed" in result.stdout
    assert not journal.exists()
    assert run_cli("recover", tmp_path).stderr.strip().endswith(f"no unfinished sessions in {tmp_path}")


# ---- 7. export -------------------------------------------------------------------------------

def test_failed_export_leaves_no_partial(session_file, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savetxt", boom)
    with pytest.raises(OSError):
        export_csv(session_file, tmp_path / "o.csv")
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name or p.name == "o.csv"]


def test_export_without_hard_links(session_file, tmp_path, monkeypatch):
    def no_links(*a, **k):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "o.csv"
    assert export_csv(session_file, out) == open_session(session_file).n_samples
    with pytest.raises(FileExistsError):
        export_csv(session_file, out)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_export_streams_in_chunks_to_stdout_and_file(session_file, tmp_path, monkeypatch):
    import io

    from nmt_monitor.storage import export as export_mod

    def no_whole_arrays(real):
        def read(*a, arrays=True, **k):
            assert not arrays, "whole arrays loaded"
            return real(*a, arrays=arrays, **k)
        return read

    monkeypatch.setattr(export_mod, "open_session", no_whole_arrays(export_mod.open_session))
    monkeypatch.setattr(export_mod, "read_session", no_whole_arrays(export_mod.read_session))
    buf = io.StringIO()
    n = export_mod.write_csv_rows(session_file, buf, chunk=1000)
    export_csv(session_file, tmp_path / "o.csv", chunk=777)
    assert buf.getvalue() == (tmp_path / "o.csv").read_text()
    assert buf.getvalue().count("\n") == n + 1
    monkeypatch.undo()
    result = run_cli("export", session_file, "--csv", "-")
    assert result.returncode == 0 and result.stdout == buf.getvalue()


def test_export_force_never_overwrites_a_recording(session_file, tmp_path):
    other = tmp_path / "other_session.h5"
    other.write_bytes(session_file.read_bytes())
    before = other.read_bytes()
    assert_one_line_error(run_cli("export", "--force", session_file, "--csv", other), "HDF5")
    disguised = tmp_path / "disguised.csv"
    disguised.write_bytes(before)
    assert_one_line_error(run_cli("export", "--force", session_file, "--csv", disguised), "HDF5")
    assert other.read_bytes() == before and disguised.read_bytes() == before


# ---- 8. a read-only directory -----------------------------------------------------------------

def test_recover_on_a_read_only_directory_is_one_line(tmp_path):
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        _journal(mnt, "a")
        rec = Recorder(mnt / "done.h5", {}, clock=lambda: T0, min_free_bytes=0)
        rec.add(make_blocks(seconds=1.0)[0])
        path = rec.finish()
        (mnt / "done.journal").write_bytes(Path(_journal(tmp_path, "done")).read_bytes())
        # the leftover journal of a session whose file exists: same session id
        import h5py

        with h5py.File(path, "r+") as f:
            f.attrs["session_id"] = open_session(recover_session(tmp_path / "done.journal").path).attrs["session_id"]
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        result = run_cli("recover", mnt)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        err = result.stderr.strip().splitlines()
        assert len(err) == 2 and all("a.journal" in e or "done.journal" in e for e in err), err
        assert "Read-only file system" in result.stderr


# ---- 9. two recorders in the same second ------------------------------------------------------

def test_automatic_name_taken_meanwhile_picks_the_next(tmp_path, monkeypatch):
    real = recorder_mod.resolve_output
    raced = []

    def resolve(out, start=None, client=""):
        path = real(out, start, client)
        if not raced:  # the other recorder creates the same name right after we chose it
            raced.append(path)
            path.with_suffix(".journal").write_bytes(MAGIC)
        return path

    monkeypatch.setattr(recorder_mod, "resolve_output", resolve)
    rec = Recorder(tmp_path, {"client": "Same"}, clock=lambda: T0)
    assert rec.path != raced[0] and rec.path.name.endswith("-2.h5")
    rec.discard()


# ---- 10. timestamps_adjusted --------------------------------------------------------------------

def test_timestamps_adjusted_counts_only_real_violations(tmp_path):
    blocks = make_blocks(seconds=10.0, rate_hz=1000)
    blocks[20].host_time_s[5:8] = blocks[20].host_time_s[4] - 0.002  # the clock steps back: 3 samples
    rec = Recorder(tmp_path / "t.h5", {}, clock=lambda: T0)
    for b in blocks:
        rec.add(b)
    path = rec.finish()
    import h5py

    with h5py.File(path, "r") as f:
        ts = f["acquisition/force/timestamps"]
        adjusted = int(ts.attrs["timestamps_adjusted"])
        t = ts[()]
    host = np.concatenate([b.host_time_s for b in blocks]) - T0
    assert adjusted == 3
    changed = np.flatnonzero(t != host)
    assert changed.tolist() == [20 * 50 + 5, 20 * 50 + 6, 20 * 50 + 7]
    assert np.all(np.diff(t) > 0)
