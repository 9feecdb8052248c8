"""The journal: records round-trip, and a torn or corrupt tail stops reading exactly there."""

import os

import numpy as np
import pytest

from nmt_monitor.acquisition.blocks import LinkEvent
from nmt_monitor.storage import JournalReader, Recorder, open_session, recover_all, recover_session
from nmt_monitor.storage.journal import MAGIC, JournalError, encode_block, encode_event

from .synth import T0, make_blocks


def _journal(tmp_path, blocks, events=()):
    rec = Recorder(tmp_path / "j.h5", {"client": "x"}, clock=lambda: T0)
    for e in events:
        rec.add(e)
    for b in blocks:
        rec.add(b)
    rec.close()
    return rec.journal_path


def test_blocks_events_and_markers_round_trip(tmp_path):
    blocks = make_blocks(seconds=2.0) + make_blocks(seconds=1.0, counts=False, t0=T0 + 5)
    rec = Recorder(tmp_path / "j.h5", {"client": "Zoë"}, clock=lambda: T0)
    rec.add(LinkEvent("gap", T0 + 1, {"samples": 3, "note": "ünïcode"}))
    for b in blocks:
        rec.add(b)
    rec.mark("release_felt", host_time_s=T0 + 1.5)
    rec.close()
    items = list(JournalReader(rec.journal_path).items())
    kinds = [k for k, _ in items]
    assert kinds[0] == "meta" and items[0][1]["session"]["client"] == "Zoë"
    assert kinds.count("block") == len(blocks)
    got = [v for k, v in items if k == "block"]
    for a, b in zip(blocks, got):
        np.testing.assert_array_equal(a.host_time_s, b.host_time_s)
        np.testing.assert_array_equal(a.seq, b.seq)
        np.testing.assert_array_equal(a.force_n, b.force_n)
        assert (a.counts is None) == (b.counts is None)
        if a.counts is not None:
            np.testing.assert_array_equal(a.counts, b.counts)
    event = next(v for k, v in items if k == "event")
    assert event.detail["note"] == "ünïcode"
    marker = next(v for k, v in items if k == "marker")
    assert marker.kind == "release_felt"


@pytest.mark.slow  # thousands of truncated journals
def test_every_truncation_point_of_the_last_record_reads_up_to_it(tmp_path):
    blocks = make_blocks(seconds=1.0)
    path = _journal(tmp_path, blocks)
    data = path.read_bytes()
    last = len(encode_block(blocks[-1]))
    whole = len(data) - last
    for cut in range(whole, len(data)):  # every byte of the last record (header and payload)
        path.write_bytes(data[:cut])
        reader = JournalReader(path)
        got = [v for k, v in reader.items() if k == "block"]
        assert len(got) == len(blocks) - 1, cut
        assert reader.scan.valid_bytes == whole
        assert reader.scan.torn == (cut > whole)


def test_a_corrupt_record_stops_reading_there(tmp_path):
    blocks = make_blocks(seconds=1.0)
    path = _journal(tmp_path, blocks)
    data = bytearray(path.read_bytes())
    # flip a byte in the payload of the 5th block record from the end
    pos = len(data) - 5 * len(encode_block(blocks[-1])) + 40
    data[pos] ^= 0xFF
    path.write_bytes(bytes(data))
    reader = JournalReader(path)
    got = [v for k, v in reader.items() if k == "block"]
    assert len(got) == len(blocks) - 5
    assert reader.scan.torn and "CRC" in reader.scan.reason


def test_not_a_journal(tmp_path):
    path = tmp_path / "x.journal"
    path.write_bytes(b"hello world, not a journal")
    with pytest.raises(JournalError):
        list(JournalReader(path).items())
    result = recover_session(path)
    assert result.status == "failed"


def test_torn_tail_recovers_up_to_the_tear(tmp_path):
    blocks = make_blocks(seconds=10.0, rate_hz=500, block=50)
    path = _journal(tmp_path, blocks, [LinkEvent("connected", T0, {})])
    size = path.stat().st_size
    record = len(encode_block(blocks[0]))
    os.truncate(path, size - record // 2)  # mid-way through the last block
    results = recover_all(tmp_path)
    assert [r.status for r in results] == ["recovered"]
    r = results[0]
    assert r.path == tmp_path / "j.h5" and not path.exists()
    assert r.samples == 50 * (len(blocks) - 1)
    assert r.discarded_bytes == record - record // 2
    s = open_session(r.path)
    assert s.attrs["recovered"] == 1
    np.testing.assert_allclose(s.force_n, np.concatenate([b.force_n for b in blocks[:-1]]), atol=1e-4)
    assert s.attrs["stopped_by"].startswith("unknown")


def test_journal_header_only(tmp_path):
    path = tmp_path / "e.journal"
    path.write_bytes(MAGIC[:3])
    result = recover_session(path)
    assert result.status == "empty" and "empty journal removed" in result.summary()
    assert not path.exists()


def test_live_session_is_left_alone(tmp_path):
    rec = Recorder(tmp_path, {}, clock=lambda: T0)
    for b in make_blocks(seconds=1.0):
        rec.add(b)
    results = recover_all(tmp_path)
    assert [r.status for r in results] == ["in_use"]
    assert rec.journal_path.exists()
    path = rec.finish()
    assert path.exists() and not rec.journal_path.exists()
    assert recover_all(tmp_path) == []


def test_encode_event_is_strict_json(tmp_path):
    data = encode_event(LinkEvent("gap", T0, {"x": float("nan")}))
    assert b"NaN" not in data
