"""Recording a session: ``Recorder`` appends to a journal while recording, writes HDF5 at the end.

::

    rec = Recorder("recordings/", SessionMetadata(client="A. B.", tolerance_N=60.0))
    rec.set_sensor(reader.info)            # serial, firmware, protocol, calibration used
    for item in items: rec.add(item)       # SampleBlock or LinkEvent, in arrival order
    rec.mark("discomfort")                 # markers: discomfort, release_felt, site, note
    rec.update_session({"therapist": "Ana"})  # setup changed while recording (applies from now on)
    rec.set_program(program_dict)          # a training program (nmt_monitor.program) and its trials
    rec.add_trial(trial_dict)              # ... each trial as it ends
    rec.tick()                             # call now and then: syncs the journal ~once a second
    path = rec.finish()                    # the .h5 (journal removed once the file is safe)

The journal (``<name>.journal`` next to ``<name>.h5``) is the source of truth until the HDF5
file exists; after a crash ``recover_all`` rebuilds the file from it. If writing the journal
fails mid-session the recorder keeps every later item in memory, says so (``warnings`` and
``on_warning``), and ``finish`` writes them too (``finish(out_path=...)`` to save elsewhere).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from nmt_monitor.acquisition.blocks import LinkEvent, SampleBlock
from nmt_monitor.errors import UserError
from nmt_monitor.storage.journal import (
    RECORD_END,
    RECORD_MARKER,
    RECORD_META,
    RECORD_PROGRAM,
    RECORD_SENSOR,
    RECORD_SETTINGS,
    RECORD_TRIAL,
    JournalError,
    JournalReader,
    JournalWriter,
    Marker,
    SettingsChange,
    encode_block,
    encode_event,
    encode_json_record,
)

#: Refuse to start when less than this is free (besides the session's own estimate).
DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024
#: Journal + HDF5 bytes per sample, generously (journal ~33 B, HDF5 ~10 B), for the estimate.
ESTIMATED_BYTES_PER_SAMPLE = 60
JOURNAL_SUFFIX = ".journal"
_MARKER_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class StorageError(UserError):
    """A recording directory or file that cannot be used; one line for the user."""


@dataclass
class SessionMetadata:
    """What a session is about (stored in ``general/session``); units are in the names."""

    therapist: str = ""  # therapist or student
    client: str = ""
    tolerance_N: float | None = None
    target_band_N: tuple[float, float] | None = None
    target_hold_s: float | None = None
    contact_tip: str = ""  # thumb, knuckle, elbow, algometer tip, ...
    tip_area_cm2: float | None = None
    site: str = ""  # the first treatment site (later ones are 'site' markers)
    notes: str = ""
    session_id: str = ""  # filled in by the Recorder when empty

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["target_band_N"] is not None:
            d["target_band_N"] = [float(x) for x in d["target_band_N"]]
        return d


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return s[:32]


def journal_path_for(h5_path: Path) -> Path:
    return Path(h5_path).with_suffix(JOURNAL_SUFFIX)


def resolve_output(out: Path | str, start: float | None = None, client: str = "") -> Path:
    """The ``.h5`` path to record to: ``out`` itself if it names a file, else an automatic,
    unused name in the directory ``out``. Never an existing recording (``StorageError``)."""
    from nmt_monitor.storage.paths import check_output_name

    out = Path(out)
    as_file = out.suffix.lower() in (".h5", ".hdf5")
    # a dangling link or a name too long would only fail when the file is written, at the end
    check_output_name(out, "--out", extra_names=(journal_path_for(out).name,) if as_file else (),
                      directory=not as_file)
    if as_file and not out.is_dir():
        if out.exists():
            raise StorageError(f"{out} exists: a recording is never overwritten (choose another --out)")
        if journal_path_for(out).exists():
            raise StorageError(
                f"{journal_path_for(out)} exists: an unfinished session of that name; "
                f"run 'nmt-monitor recover {out.parent}' or choose another --out"
            )
        return out
    if out.exists() and not out.is_dir():
        raise StorageError(f"--out {out} is neither a directory nor a .h5 file name")
    stamp = _dt.datetime.fromtimestamp(start or time.time()).strftime("%Y%m%d-%H%M%S")
    base = f"session-{stamp}" + (f"-{_slug(client)}" if _slug(client) else "")
    for k in range(1, 1000):
        name = base if k == 1 else f"{base}-{k}"
        path = out / f"{name}.h5"
        if not path.exists() and not journal_path_for(path).exists():
            return path
    raise StorageError(f"no free session name in {out}")


def preflight(directory: Path | str, needed_bytes: int = 0, min_free_bytes: int = DEFAULT_MIN_FREE_BYTES) -> None:
    """Refuse, before a session starts, a directory that cannot take a recording.

    Creates the directory if needed, proves it writable by creating and removing a file,
    and checks the free space against ``needed_bytes + min_free_bytes``.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot record into {directory}: cannot create the directory ({exc.strerror or exc})") from None
    if not directory.is_dir():
        raise StorageError(f"cannot record into {directory}: not a directory")
    probe = directory / f".nmt-write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(probe, "xb") as fh:
            fh.write(b"x")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StorageError(f"cannot record into {directory}: the directory is not writable ({exc.strerror or exc})") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    free = shutil.disk_usage(directory).free
    need = int(needed_bytes) + int(min_free_bytes)
    if free < need:
        raise StorageError(
            f"cannot record into {directory}: only {_mb(free)} free, need at least {_mb(need)}; "
            "free some space or record elsewhere (--out)"
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def calibration_details(info) -> dict:
    """The calibration used by a connected sensor (``SensorInfo``), for ``general/calibration``."""
    record = getattr(info, "calibration", None)
    if record is None:
        if getattr(info, "protocol", "") == "nmt":
            cpn = float(getattr(info, "counts_per_n", 0.0) or 0.0)
            return {"source": "nominal sensitivity from the sensor (no calibration record)",
                    "gain_n_per_count": (1.0 / cpn) if cpn > 0 else None, "offset_counts": 0.0}
        return {"source": "gauge reports force in its own units (converted to N)"}
    out = {
        "serial": record.serial,
        "date": record.date.isoformat(),
        "model": record.model,
        "gain_n_per_count": record.gain_n_per_count,
        "offset_counts": record.offset_counts,
        "full_scale_n": record.full_scale_n,
        "source": record.source,
        "path": str(record.path) if record.path else "",
    }
    if record.path:
        try:
            out["record_toml"] = Path(record.path).read_text(encoding="utf-8")
        except OSError:
            pass
    return out


class Recorder:
    """Records one session; see the module docstring."""

    def __init__(
        self,
        out: Path | str,
        metadata: SessionMetadata | dict | None = None,
        *,
        expected_seconds: float | None = None,
        rate_hz: float | None = None,
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
        sync_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        if isinstance(metadata, SessionMetadata):
            meta = metadata.to_dict()
        else:
            meta = dict(metadata or {})
        self.clock = clock
        self.start_epoch_s = float(clock())
        meta.setdefault("session_id", "")
        if not meta["session_id"]:
            meta["session_id"] = uuid.uuid4().hex
        self.metadata = meta
        client = str(meta.get("client") or "")
        self.path = resolve_output(out, self.start_epoch_s, client)
        automatic = self.path != Path(out)  # a name we chose in the directory ``out``
        self.journal_path = journal_path_for(self.path)
        needed = 0
        if expected_seconds and rate_hz:
            needed = int(expected_seconds * rate_hz * ESTIMATED_BYTES_PER_SAMPLE)
        preflight(self.path.parent, needed, min_free_bytes)
        for _attempt in range(100):
            try:
                self._journal = JournalWriter(self.journal_path, sync_interval_s=sync_interval_s)
                break
            except FileExistsError:
                if not automatic:
                    raise StorageError(f"{self.journal_path} exists: a session of that name is already being "
                                       "recorded") from None
                # Another recorder started in the same second for the same client: the next name.
                self.path = resolve_output(out, self.start_epoch_s, client)
                self.journal_path = journal_path_for(self.path)
            except OSError as exc:
                raise StorageError(f"cannot create {self.journal_path}: {exc.strerror or exc}") from None
        else:
            raise StorageError(f"no free session name in {out}")
        from nmt_monitor import __version__

        self.on_warning = on_warning
        self.warnings: list[str] = []
        self.failure: str | None = None
        self._memory: list[tuple[str, object]] = []
        self.samples = 0
        self.markers = 0  # markers written (the user's own words: a session with them is kept)
        self.samples_in_memory = 0
        self.finished: Path | None = None
        self._ended = False
        self._bytes_final = 0
        self._sensor: dict | None = None
        self._fallback_journal: Path | None = None
        # Kept: the HDF5 builder gets it from here if the journal's META record was lost.
        self.meta_record = {
            "format": "nmt-monitor-journal",
            "version": 1,
            "target": self.path.name,
            "start_epoch_s": self.start_epoch_s,
            "software_version": __version__,
            "session": meta,
        }
        self._write(encode_json_record(RECORD_META, self.meta_record), ("meta", None))
        if self.failure is None:
            try:
                self._journal.sync()
            except OSError as exc:
                self._fail(exc)

    # ---- recording ----------------------------------------------------------------------

    @property
    def bytes_written(self) -> int:
        """Bytes in the journal so far (what is safe on disk, up to the next sync)."""
        return self._journal.bytes_written if self._journal else self._bytes_final

    @property
    def in_memory(self) -> bool:
        """True once writing failed: later samples are only in memory until ``finish``."""
        return self.failure is not None

    def set_sensor(self, info) -> None:
        """Record the connected sensor: a ``SensorInfo`` (from ``SensorReader.info``) or a dict."""
        if isinstance(info, dict):
            sensor = {k: v for k, v in info.items() if k != "calibration_details"}
            value = {"sensor": sensor, "calibration": dict(info.get("calibration_details") or {})}
        else:
            from nmt_monitor.acquisition.reader import describe_sensor

            value = {"sensor": describe_sensor(info), "calibration": calibration_details(info)}
            value["sensor"]["counts_per_n"] = getattr(info, "counts_per_n", 0.0)
        self._sensor = value
        self._write(encode_json_record(RECORD_SENSOR, value), ("sensor", value))

    def add(self, item: SampleBlock | LinkEvent) -> None:
        """Append a sample block or a link event (anything else is ignored)."""
        if isinstance(item, SampleBlock):
            if len(item) == 0:
                return
            self.samples += len(item)
            self._write(encode_block(item), ("block", item))
        elif isinstance(item, LinkEvent):
            self._write(encode_event(item), ("event", item))

    def mark(self, kind: str, text: str = "", host_time_s: float | None = None) -> Marker:
        """A marker: ``discomfort``, ``release_felt``, ``site`` (text = label), ``note`` (free text)."""
        if not _MARKER_KIND.match(kind or ""):
            raise ValueError(f"marker kind {kind!r}: use a lower-case word such as discomfort, release_felt, site, note")
        marker = Marker(float(self.clock() if host_time_s is None else host_time_s), kind, str(text))
        self._write(encode_json_record(RECORD_MARKER, {"host_time_s": marker.host_time_s, "kind": kind,
                                                       "text": marker.text}), ("marker", marker))
        self.markers += 1
        return marker

    def update_session(self, changes: dict, host_time_s: float | None = None) -> SettingsChange | None:
        """Session metadata changed while recording (the setup form, the band keys): the new
        values apply to the samples from ``host_time_s`` on (default: now). The file gets the
        final values in ``general/session`` and every change, with its time, in
        ``acquisition/settings_changes``; its holds are found with each value from its time on.
        Unknown fields raise ``ValueError``; ``session_id`` cannot change. Returns the change
        (None when nothing differs from the current values)."""
        from nmt_monitor.storage.layout import CHANGEABLE_SESSION_FIELDS

        clean = {}
        for name, value in dict(changes).items():
            if name not in CHANGEABLE_SESSION_FIELDS:
                raise ValueError(f"session field {name!r} cannot be changed while recording "
                                 f"(fields: {', '.join(CHANGEABLE_SESSION_FIELDS)})")
            if isinstance(value, tuple):
                value = [float(x) for x in value]
            if self.metadata.get(name) != value:
                clean[name] = value
        if not clean:
            return None
        now = float(self.clock())
        change = SettingsChange(float(now if host_time_s is None else host_time_s), clean, now)
        self.metadata.update(clean)
        self._write(encode_json_record(RECORD_SETTINGS, change.to_json()), ("settings", change))
        return change

    def set_program(self, program: dict) -> None:
        """The training program this session follows (``SessionModel.program_record``): stored
        in ``general/program``."""
        value = dict(program)
        self._write(encode_json_record(RECORD_PROGRAM, value), ("program", value))

    def add_trial(self, trial: dict) -> None:
        """One trial of the program, as it ended (``TrialRecord.to_record``): a row of
        ``intervals/trials``."""
        value = dict(trial)
        self._write(encode_json_record(RECORD_TRIAL, value), ("trial", value))

    def tick(self) -> None:
        """Sync the journal if a second has passed since the last sync; cheap to call often."""
        if self.failure is None and self._journal is not None:
            try:
                self._journal.maybe_sync()
            except OSError as exc:
                self._fail(exc)

    def _write(self, data: bytes, item: tuple[str, object]) -> None:
        if self.finished is not None:
            raise RuntimeError("the session is finished")
        if self.failure is None:
            try:
                self._journal.write(data)
            except OSError as exc:
                self._fail(exc)  # not (or only partly) in the journal: kept in memory below
            else:
                try:
                    self._journal.maybe_sync()
                except OSError as exc:
                    self._fail(exc)  # the record is in the journal already: not kept twice
                return
        if item[0] != "meta":
            self._memory.append(item)
            if item[0] == "block":
                self.samples_in_memory += len(item[1])

    def _fail(self, exc: OSError) -> None:
        self.failure = f"{exc.strerror or exc}"
        self._warn(
            f"cannot write {self.journal_path} ({self.failure}): recording continues in memory; "
            "samples are kept and written when the session ends (free space, or save elsewhere)"
        )

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        if self.on_warning is not None:
            self.on_warning(message)

    # ---- the end ------------------------------------------------------------------------

    def finish(self, reason: str = "stopped", out_path: Path | str | None = None, analyze: bool = True) -> Path:
        """Write the HDF5 file (under a temporary name, then linked into place) and remove the
        journal. Raises ``StorageError`` if the file cannot be written; the samples stay in the
        journal and in memory, so ``finish(out_path=...)`` can save them elsewhere."""
        from nmt_monitor.storage.h5writer import build_session_file, first_line

        if self.finished is not None:
            return self.finished
        end = {"host_time_s": float(self.clock()), "reason": reason}
        if not self._ended:
            self._ended = True
            self._write(encode_json_record(RECORD_END, end), ("end", end))
        if self.failure is None:
            try:
                self._journal.sync()
            except OSError as exc:
                self._fail(exc)
        target = Path(out_path) if out_path is not None else self.path
        if target.suffix.lower() not in (".h5", ".hdf5"):
            target = resolve_output(target, self.start_epoch_s, str(self.metadata.get("client") or ""))
        note = ""
        if self.failure:
            note = (f"journal writing failed mid-session ({self.failure}); "
                    f"{self.samples_in_memory} samples were kept in memory and written here")
        reader = JournalReader(self.journal_path)

        def items():
            try:
                yield from reader.items()
            except (OSError, JournalError):
                pass  # an unreadable journal: still write what is in memory
            yield from self._memory

        try:
            build_session_file(items(), target, in_memory_note=note, engine=analyze, meta=self.meta_record)
        except FileExistsError:
            raise StorageError(f"{target} exists: a recording is never overwritten; finish(out_path=...) elsewhere") from None
        except Exception as exc:  # noqa: BLE001 - h5py raises RuntimeError too; never lose the samples
            reason = first_line(exc)
            if self._memory:
                raise StorageError(f"cannot write {target} ({reason}); {self._save_memory()}") from None
            raise StorageError(
                f"cannot write {target} ({reason}); the journal {self.journal_path} keeps the "
                f"session for 'nmt-monitor recover {self.journal_path.parent}'"
            ) from None
        self.finished = target
        if self._fallback_journal is not None:  # saved by an earlier failed finish: now in the file
            try:
                self._fallback_journal.unlink()
            except OSError:
                pass
        if self._journal is not None:
            self._bytes_final = self._journal.bytes_written
            try:
                self.journal_path.unlink()  # while still holding the lock
            except OSError:
                pass
            self._journal.close()
            self._journal = None
        return target

    def _save_memory(self) -> str:
        """After ``finish`` failed: write what is only in memory (with META and END) as a fresh
        journal where it can be written; returns the sentence for the error message."""
        journal_part = f"the journal {self.journal_path} keeps the samples written before the failure"
        if self._fallback_journal is not None and self._fallback_journal.exists():
            where = self._fallback_journal
        else:
            where = self._write_fallback_journal()
        if where is None:
            return (f"{journal_part}; {self.samples_in_memory} samples held in memory could not be saved "
                    "anywhere (keep the program open and finish elsewhere)")
        return (f"{self.samples_in_memory} samples held in memory were saved to {where}; "
                f"run 'nmt-monitor recover {where.parent}' to turn it into a session ({journal_part})")

    def _write_fallback_journal(self) -> Path | None:
        import tempfile

        stem = self.path.stem + "-memory"
        meta = dict(self.meta_record, target=stem + ".h5")
        memory = list(self._memory)
        if self._sensor is not None and not any(k == "sensor" for k, _ in memory):
            memory.insert(0, ("sensor", self._sensor))
        if not any(k == "end" for k, _ in memory):
            memory.append(("end", {"host_time_s": float(self.clock()), "reason": "stopped"}))
        records = [encode_json_record(RECORD_META, meta)]
        for kind, value in memory:
            if kind == "block":
                records.append(encode_block(value))
            elif kind == "event":
                records.append(encode_event(value))
            elif kind == "marker":
                records.append(encode_json_record(RECORD_MARKER, {"host_time_s": value.host_time_s,
                                                                  "kind": value.kind, "text": value.text}))
            elif kind == "sensor":
                records.append(encode_json_record(RECORD_SENSOR, value))
            elif kind == "settings":
                records.append(encode_json_record(RECORD_SETTINGS, value.to_json()))
            elif kind == "program":
                records.append(encode_json_record(RECORD_PROGRAM, value))
            elif kind == "trial":
                records.append(encode_json_record(RECORD_TRIAL, value))
            elif kind == "end":
                records.append(encode_json_record(RECORD_END, value))
        candidates = [self.path.parent, Path(tempfile.gettempdir()), Path.home()]
        seen = set()
        for directory in candidates:
            key = str(directory.resolve()) if directory.exists() else str(directory)
            if key in seen:
                continue
            seen.add(key)
            for k in range(1, 100):
                path = directory / f"{stem}{'' if k == 1 else f'-{k}'}{JOURNAL_SUFFIX}"
                if not path.exists() and not path.with_suffix(".h5").exists():
                    break
            else:
                continue
            writer = None
            try:
                writer = JournalWriter(path, sync_interval_s=0.0)
                for record in records:
                    writer.write(record)
                writer.sync()
            except OSError:
                if writer is not None:
                    writer.close()
                    try:
                        path.unlink()
                    except OSError:
                        pass
                continue
            writer.close()
            self._fallback_journal = path
            return path
        return None

    def discard(self) -> None:
        """Abandon a session that recorded no samples (e.g. the sensor never connected):
        removes its journal. A session with samples is kept for ``recover`` instead."""
        if self.samples or self.samples_in_memory:
            self.close()
            return
        if self._journal is not None:
            try:
                self.journal_path.unlink()
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        """Stop without writing HDF5 (the journal stays for ``recover``)."""
        if self._journal is not None:
            self._bytes_final = self._journal.bytes_written
            self._journal.close()
            self._journal = None
