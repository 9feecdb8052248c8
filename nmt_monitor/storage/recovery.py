"""Rebuilding sessions that did not finish (a crash, ``kill -9``, a power cut) from their journals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nmt_monitor.storage.journal import JournalError, JournalReader, journal_in_use, read_meta
from nmt_monitor.storage.recorder import JOURNAL_SUFFIX

DEFAULT_RECORDINGS_DIR = Path("recordings")


@dataclass
class RecoveryResult:
    journal: Path
    path: Path | None  # the HDF5 file written (None if nothing was written)
    status: str  # recovered | already_finished | in_use | failed
    samples: int = 0
    discarded_bytes: int = 0  # torn tail not recovered
    message: str = ""

    def summary(self) -> str:
        if self.status == "recovered":
            tail = f", dropped a torn tail of {self.discarded_bytes} bytes" if self.discarded_bytes else ""
            return f"recovered {self.journal.name} -> {self.path} ({self.samples} samples{tail})"
        if self.status == "already_finished":
            return f"{self.journal.name}: {self.path} was already written; removed the leftover journal"
        if self.status == "in_use":
            return f"{self.journal.name}: still being recorded by a running program; left alone"
        return f"{self.journal.name}: cannot recover: {self.message}"


def find_unfinished(directory: Path | str = DEFAULT_RECORDINGS_DIR, include_in_use: bool = False) -> list[Path]:
    """Journals in ``directory`` (not recursive) whose sessions never became HDF5 files."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    journals = sorted(p for p in directory.glob(f"*{JOURNAL_SUFFIX}") if p.is_file())
    return [p for p in journals if include_in_use or not journal_in_use(p)]


def _same_session_finished(h5_path: Path, session_id: str) -> bool:
    try:
        import h5py

        with h5py.File(h5_path, "r") as f:
            return str(f.attrs.get("session_id", "")) == session_id and "n_samples" in f.attrs
    except OSError:
        return False


def _free_name(path: Path) -> Path:
    for k in range(1, 1000):
        candidate = path.with_name(f"{path.stem}-recovered{'' if k == 1 else f'-{k}'}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(path)


def recover_session(journal: Path | str, out_path: Path | str | None = None) -> RecoveryResult:
    """Write the HDF5 file of one unfinished session from its journal, up to a torn tail,
    then remove the journal. Never overwrites: a name in use gets ``-recovered``."""
    from nmt_monitor.storage.h5writer import build_session_file

    journal = Path(journal)
    if journal_in_use(journal):
        return RecoveryResult(journal, None, "in_use")
    try:
        meta = read_meta(journal)
    except (JournalError, OSError) as exc:
        return RecoveryResult(journal, None, "failed", message=str(exc))
    session_id = str((meta.get("session") or {}).get("session_id", ""))
    target = Path(out_path) if out_path else journal.with_name(str(meta.get("target") or journal.stem + ".h5"))
    if target.exists():
        if out_path is None and _same_session_finished(target, session_id):
            journal.unlink()
            return RecoveryResult(journal, target, "already_finished")
        target = _free_name(target)
    reader = JournalReader(journal)

    def recovery_info():
        s = reader.scan
        return {"journal": journal.name, "valid_bytes": s.valid_bytes, "total_bytes": s.total_bytes,
                "records": s.records, "torn_tail": s.torn, "reason": s.reason}

    try:
        n = build_session_file(reader.items(), target, recovered=True, recovery_info=recovery_info)
    except (OSError, ValueError, JournalError) as exc:
        return RecoveryResult(journal, None, "failed", message=str(exc))
    scan = reader.scan
    journal.unlink()
    return RecoveryResult(journal, target, "recovered", samples=n, discarded_bytes=scan.discarded_bytes,
                          message=scan.reason)


def recover_all(directory: Path | str = DEFAULT_RECORDINGS_DIR) -> list[RecoveryResult]:
    """Recover every unfinished session in ``directory``; sessions being recorded are left alone."""
    return [recover_session(j) for j in find_unfinished(directory, include_in_use=True)]
