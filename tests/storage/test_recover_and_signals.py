"""Journals from elsewhere and interrupted writers: ``recover`` with bad journals recovers the
others, leaves no ``.partial`` file (its own on SIGTERM, or a killed writer's), and ``export``
stopped by SIGTERM removes its partial CSV."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from nmt_monitor.cli import main
from nmt_monitor.storage import Recorder, open_session

from tests.cli import run_cli
from .malformed import GOOD, make_bad_journals, make_odd_journals
from .synth import T0, make_blocks


def _journal(directory: Path, name: str, seconds: float = 2.0) -> Path:
    rec = Recorder(directory / f"{name}.h5", {"client": name}, clock=lambda: T0, min_free_bytes=0)
    for b in make_blocks(seconds=seconds):
        rec.add(b)
    rec.close()
    return rec.journal_path


def _partials(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*.partial"))


def test_recover_with_bad_journals_recovers_the_others(tmp_path):
    d = tmp_path / "recordings"
    d.mkdir()
    _journal(d, "good1")
    bad = make_bad_journals(d)
    odd = make_odd_journals(d)
    _journal(d, "good2")
    r = run_cli("recover", d)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    errors = r.stderr.strip().splitlines()
    assert len(errors) == len(bad)
    for name, expect in bad.items():
        line = next(e for e in errors if e.startswith(f"{name}.journal:"))
        assert expect in line, line
        assert (d / f"{name}.journal").exists()  # kept: nothing is deleted that might matter
    for name in ("good1", "good2"):
        assert open_session(d / f"{name}.h5").n_samples == 1000
    for name in odd:  # recovered up to the bad record; the climbing target stays in the folder
        assert open_session(d / f"{name}.h5").n_samples == 0
    assert not list(tmp_path.rglob("escaped.h5"))
    assert _partials(tmp_path) == []


def test_recover_removes_what_a_killed_writer_left(tmp_path):
    """kill -9 while the HDF5 file was being written leaves ``.<name>.h5.XXXXXXXX.partial``;
    the next recovery of that session (holding its journal's lock) removes it, and only it."""
    journal = _journal(tmp_path, "s")
    (tmp_path / ".s.h5.k3x9_a2b.partial").write_bytes(b"half an HDF5 file")
    (tmp_path / ".other.h5.k3x9_a2b.partial").write_bytes(b"another session's, being written")
    (tmp_path / "s.h5.partial").write_bytes(b"not one of ours")
    assert run_cli("recover", tmp_path).returncode == 0
    assert not journal.exists() and open_session(tmp_path / "s.h5").n_samples == 1000
    assert _partials(tmp_path) == [".other.h5.k3x9_a2b.partial", "s.h5.partial"]


def test_recover_stopped_by_sigterm_leaves_no_partial_and_keeps_the_journal(tmp_path, monkeypatch, capsys):
    import nmt_monitor.storage.h5writer as w

    journal = _journal(tmp_path, "s")
    real_add = w.SessionBuilder.add

    def add_then_terminated(self, kind, value):
        if kind == "block":
            os.kill(os.getpid(), signal.SIGTERM)  # delivered as the builder is writing
        return real_add(self, kind, value)

    monkeypatch.setattr(w.SessionBuilder, "add", add_then_terminated)
    assert main(["recover", str(tmp_path)]) == 128 + signal.SIGTERM
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SIGTERM" in err[0] and "kept" in err[0]
    assert journal.exists() and _partials(tmp_path) == [] and not (tmp_path / "s.h5").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored
    monkeypatch.undo()
    assert main(["recover", str(tmp_path)]) == 0
    assert open_session(tmp_path / "s.h5").n_samples == 1000


def test_export_stopped_by_sigterm_removes_its_partial_csv(tmp_path, monkeypatch, capsys):
    from nmt_monitor.storage import session_file

    real = session_file.CheckedSession.check_force

    def check_then_terminated(self, x, first=0):
        os.kill(os.getpid(), signal.SIGTERM)  # the partial CSV exists, rows are being written
        return real(self, x, first)

    monkeypatch.setattr(session_file.CheckedSession, "check_force", check_then_terminated)
    out = tmp_path / "out.csv"
    assert main(["export", str(GOOD), "--csv", str(out)]) == 128 + signal.SIGTERM
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SIGTERM" in err[0] and "not written" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_file_in_the_way_of_a_recovery_is_left_alone(tmp_path, capsys):
    """The name a journal wants is taken by a malformed or hostile file: the session is
    recovered under another name, the file is not touched, nothing else is read."""
    from .malformed import make_corpus

    corpus = {c.name: c for c in make_corpus(tmp_path / "corpus")}
    d = tmp_path / "recordings"
    d.mkdir()
    names = ("external-link-group", "truncated-half", "random-bytes", "foreign-h5", "soft-link-self-loop")
    for name in names:
        _journal(d, name)
        (d / f"{name}.h5").write_bytes(corpus[name].path.read_bytes())
    assert main(["recover", str(d)]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert err == "" and len(lines) == len(names) and all(ln.startswith("recovered ") for ln in lines)
    for name in names:
        assert (d / f"{name}.h5").read_bytes() == corpus[name].path.read_bytes()
        assert open_session(d / f"{name}-recovered.h5").n_samples == 1000
