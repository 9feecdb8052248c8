"""Rebuilding sessions that did not finish (a crash, ``kill -9``, a power cut) from their journals."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nmt_monitor.storage.journal import JournalError, JournalReader, journal_in_use, read_meta
from nmt_monitor.storage.recorder import JOURNAL_SUFFIX

DEFAULT_RECORDINGS_DIR = Path("recordings")


@dataclass
class RecoveryResult:
    journal: Path
    path: Path | None  # the HDF5 file written (None if nothing was written)
    status: str  # recovered | already_finished | empty | in_use | failed
    samples: int = 0
    discarded_bytes: int = 0  # torn tail not recovered
    message: str = ""

    def summary(self) -> str:
        if self.status == "recovered":
            tail = f", dropped a torn tail of {self.discarded_bytes} bytes" if self.discarded_bytes else ""
            return f"recovered {self.journal.name} -> {self.path} ({self.samples} samples{tail})"
        if self.status == "already_finished" and self.path is None:
            return f"{self.journal.name}: already finished (recovered by another program meanwhile)"
        if self.status == "already_finished":
            return f"{self.journal.name}: {self.path} was already written; removed the leftover journal"
        if self.status == "empty":
            return f"{self.journal.name}: empty journal removed (the session recorded nothing)"
        if self.status == "in_use":
            return f"{self.journal.name}: in use by a running program (recording or recovering it); left alone"
        return f"{self.journal.name}: cannot recover: {self.message}"


def find_unfinished(directory: Path | str = DEFAULT_RECORDINGS_DIR, include_in_use: bool = False) -> list[Path]:
    """Journals in ``directory`` (not recursive) whose sessions never became HDF5 files."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    journals = sorted(p for p in directory.glob(f"*{JOURNAL_SUFFIX}") if p.is_file())
    return [p for p in journals if include_in_use or not journal_in_use(p)]


def _same_session_finished(h5_path: Path, session_id: str) -> bool:
    """``h5_path`` is this session's finished file (then the journal is a leftover). The file
    may be anything: it is opened and its root attributes read through the untrusted-file
    checks, and anything unreadable is simply not this session's file."""
    from nmt_monitor.storage import untrusted as U

    try:
        f = U.open_file(h5_path)
    except U.SessionFileError:
        return False
    try:
        attrs = U.attributes(f, "the root group", h5_path)
        return bool(session_id) and attrs.get("session_id") == session_id and "n_samples" in attrs
    except U.SessionFileError:
        return False
    finally:
        f.close()


def _free_name(path: Path) -> Path:
    for k in range(1, 1000):
        candidate = path.with_name(f"{path.stem}-recovered{'' if k == 1 else f'-{k}'}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(path)


def _lock_journal(journal: Path):
    """Open and lock ``journal`` for this recovery: an fd, or "missing" / "in_use".

    The lock (flock, exclusive) is held for the whole rebuild and the removal of the journal,
    so a second recovery at the same time (the TUI's prompt and ``nmt-monitor recover``)
    skips it as in use, and a running recorder's journal is never touched."""
    try:
        fd = os.open(journal, os.O_RDONLY)
    except FileNotFoundError:
        return "missing"
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return "in_use"
    # Another recovery may have finished (and removed the journal) between our open and lock.
    try:
        same = os.stat(journal).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return "missing"
    return fd


def _is_empty_journal(journal: Path) -> bool:
    """A journal without metadata and without any data record (a crash right after creation)."""
    from nmt_monitor.storage.journal import RECORD_SENSOR

    reader = JournalReader(journal)
    try:
        # raw records, not decoded items: a damaged (but complete) META or block record
        # still means the journal holds something, and it is kept
        for record_type, _payload in reader.raw_records():
            if record_type != RECORD_SENSOR:
                return False
    except (JournalError, OSError):
        return False  # not a journal of ours (bad magic) or unreadable: never removed
    return True


def _meta_problem(meta) -> str:
    """What is wrong with a META record's shape ("" if nothing): a journal may come from elsewhere."""
    import math

    if not isinstance(meta, dict):
        return "not a JSON object"
    if not isinstance(meta.get("session") or {}, dict):
        return "session is not an object"
    start = meta.get("start_epoch_s")
    if start is not None and (isinstance(start, bool) or not isinstance(start, (int, float))
                              or not math.isfinite(start)):
        return "start_epoch_s is not a number"
    return ""


def _target_name(name, journal: Path) -> str:
    """The session file's name from the journal's META record: a plain ``.h5`` name in the
    journal's folder; anything else (a path, ``..``, another suffix) gives ``<journal>.h5``."""
    default = journal.stem + ".h5"
    if not isinstance(name, str) or not name or name != os.path.basename(name) or "\\" in name:
        return default
    if name.startswith(".") or Path(name).suffix.lower() not in (".h5", ".hdf5") or len(name.encode()) > 200:
        return default
    return name


def _remove_orphaned_partials(journal: Path, target: Path) -> None:
    """Remove the temporary files a killed writer of this session left (``.<target>.XXXXXXXX.partial``,
    also for ``<stem>-recovered*`` targets). Safe: the caller holds the journal's lock, and every
    writer of this session (the recorder finishing, another recovery) holds it while writing."""
    import re

    stem, suffix = re.escape(target.stem), re.escape(target.suffix)
    pattern = re.compile(rf"\.{stem}(-recovered(-\d+)?)?{suffix}\.[A-Za-z0-9_]{{8}}\.partial")
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        if pattern.fullmatch(name):
            try:
                (target.parent / name).unlink()
            except OSError:
                pass


def _remove(journal: Path) -> str:
    """Remove the journal; "" or why it could not be removed."""
    try:
        journal.unlink()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"cannot remove {journal} ({exc.strerror or exc}); remove it by hand"
    return ""


def recover_session(journal: Path | str, out_path: Path | str | None = None) -> RecoveryResult:
    """Write the HDF5 file of one unfinished session from its journal, up to a torn tail,
    then remove the journal. Never overwrites: a name in use gets ``-recovered``."""
    journal = Path(journal)
    fd = _lock_journal(journal)
    if fd == "missing":
        return RecoveryResult(journal, None, "already_finished", message="the journal was removed meanwhile")
    if fd == "in_use":
        return RecoveryResult(journal, None, "in_use")
    try:
        return _recover_locked(journal, out_path)
    except Exception as exc:  # noqa: BLE001 - a journal from elsewhere: one line, the others go on
        from nmt_monitor.storage.h5writer import first_line

        return RecoveryResult(journal, None, "failed", message=f"{first_line(exc)}; the journal is kept")
    finally:
        os.close(fd)  # releases the lock, after the journal was removed


def _recover_locked(journal: Path, out_path: Path | str | None) -> RecoveryResult:
    from nmt_monitor.storage.h5writer import build_session_file, first_line

    try:
        meta = read_meta(journal)
    except (JournalError, OSError) as exc:
        if _is_empty_journal(journal):
            problem = _remove(journal)
            if problem:
                return RecoveryResult(journal, None, "failed", message=f"empty journal; {problem}")
            return RecoveryResult(journal, None, "empty")
        return RecoveryResult(journal, None, "failed", message=first_line(exc))
    problem = _meta_problem(meta)
    if problem:
        return RecoveryResult(journal, None, "failed", message=f"the journal's metadata record is damaged "
                                                               f"({problem}); the journal is kept")
    session_id = str((meta.get("session") or {}).get("session_id", ""))
    target = Path(out_path) if out_path else journal.with_name(_target_name(meta.get("target"), journal))
    _remove_orphaned_partials(journal, target)
    if target.exists():
        if out_path is None and _same_session_finished(target, session_id):
            problem = _remove(journal)
            if problem:
                return RecoveryResult(journal, target, "failed", message=f"{target} was already written, but {problem}")
            return RecoveryResult(journal, target, "already_finished")
        target = _free_name(target)
    reader = JournalReader(journal)

    def recovery_info():
        s = reader.scan
        return {"journal": journal.name, "valid_bytes": s.valid_bytes, "total_bytes": s.total_bytes,
                "records": s.records, "torn_tail": s.torn, "reason": s.reason}

    try:
        needed = os.stat(journal).st_size  # the (compressed) HDF5 file is smaller than its journal
        n = build_session_file(reader.items(), target, recovered=True, recovery_info=recovery_info,
                               needed_bytes=needed)
    except Exception as exc:  # noqa: BLE001 - one journal's failure must not stop the others
        return RecoveryResult(journal, None, "failed", message=f"{first_line(exc)}; the journal is kept")
    scan = reader.scan
    problem = _remove(journal)
    if problem:
        return RecoveryResult(journal, target, "failed", samples=n,
                              message=f"wrote {target} ({n} samples) but {problem}")
    return RecoveryResult(journal, target, "recovered", samples=n, discarded_bytes=scan.discarded_bytes,
                          message=scan.reason)


def recover_all(directory: Path | str = DEFAULT_RECORDINGS_DIR) -> list[RecoveryResult]:
    """Recover every unfinished session in ``directory``; sessions being recorded are left alone.
    A journal that cannot be recovered is reported and the others are still recovered."""
    return [recover_session(j) for j in find_unfinished(directory, include_in_use=True)]
