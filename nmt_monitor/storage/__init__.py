"""Sessions on disk: journal while recording, HDF5 at the end, recovery, CSV export.

Public API::

    from nmt_monitor.storage import Recorder, SessionMetadata, open_session, recover_all, export_csv

The layout of the HDF5 file is documented in docs/hdf5-layout.md. h5py is imported only
when a file is written or read, so importing this package is cheap.
"""

from nmt_monitor.storage.export import export_csv
from nmt_monitor.storage.journal import JournalReader, Marker
from nmt_monitor.storage.layout import MARKER_KINDS, SCHEMA_NAME, SCHEMA_VERSION
from nmt_monitor.storage.recorder import (
    Recorder,
    SessionMetadata,
    StorageError,
    journal_path_for,
    preflight,
    resolve_output,
)
from nmt_monitor.storage.recovery import RecoveryResult, find_unfinished, recover_all, recover_session
from nmt_monitor.storage.session_file import Session, SessionFileError, open_session

__all__ = [
    "MARKER_KINDS",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "JournalReader",
    "Marker",
    "Recorder",
    "RecoveryResult",
    "Session",
    "SessionFileError",
    "SessionMetadata",
    "StorageError",
    "export_csv",
    "find_unfinished",
    "journal_path_for",
    "open_session",
    "preflight",
    "recover_all",
    "recover_session",
    "resolve_output",
]
