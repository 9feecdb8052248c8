"""Names and constants of the HDF5 session layout (docs/hdf5-layout.md is the reference)."""

from __future__ import annotations

SCHEMA_NAME = "nmt-monitor-session"
#: Bump the minor for additions readers may ignore, the major for anything that breaks them.
SCHEMA_VERSION = "1.0"

CHUNK_SAMPLES = 32768  # per 1-D sample dataset chunk (pitfall 10: 8-64 k elements)
WRITE_BATCH_SAMPLES = 65536  # samples gathered before an HDF5 append (and an engine feed)
GZIP_LEVEL = 4
TIME_EPS_S = 1e-6  # timestamps are made strictly increasing by at least this
NO_COUNTS = -(2**31)  # raw_counts fill where a block had no counts (a gauge mid-session)

ACQ = "acquisition"
FORCE = "acquisition/force"
RAW_COUNTS = "acquisition/raw_counts"
MARKERS = "acquisition/markers"
LINK_EVENTS = "acquisition/link_events"
HOLDS = "intervals/holds"
OVER_TOLERANCE = "intervals/over_tolerance"
INVALID_TIMES = "intervals/invalid_times"
ENGINE = "processing/hold_engine"
SETTINGS_CHANGES = "acquisition/settings_changes"
GENERAL_SESSION = "general/session"
GENERAL_SENSOR = "general/sensor"
GENERAL_CALIBRATION = "general/calibration"

#: Marker kinds the monitor offers (any lower-case identifier is accepted).
MARKER_KINDS = ("discomfort", "release_felt", "site", "note")

#: Session metadata fields (general/session attributes), with their units in the name.
SESSION_FIELDS = (
    "session_id",
    "session_start_time",
    "therapist",
    "client",
    "tolerance_N",
    "target_band_N",
    "target_hold_s",
    "contact_tip",
    "tip_area_cm2",
    "site",
    "notes",
)

#: Session fields the user may change while recording (the setup form, the band keys); each
#: change is a row of acquisition/settings_changes.
CHANGEABLE_SESSION_FIELDS = tuple(f for f in SESSION_FIELDS if f not in ("session_id", "session_start_time"))
#: The fields that change what the hold engine finds: replayed at their times.
ENGINE_SESSION_FIELDS = {"tolerance_N": "tolerance_n", "target_band_N": "target_band_n",
                         "target_hold_s": "target_hold_s"}
