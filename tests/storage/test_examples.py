"""The example sessions in recordings/ open, explain themselves, and stay small."""

from pathlib import Path

import pytest

from nmt_monitor.storage import open_session

RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"
EXAMPLES = sorted(RECORDINGS.glob("example-*.h5"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_session(path):
    assert path.stat().st_size < 150_000
    s = open_session(path)
    assert s.n_samples > 1000 and s.force_n.size == s.n_samples
    assert s.metadata["client"] and s.metadata["tolerance_N"] > 0 and s.sensor["serial_number"] == "SIM-0001"
    assert s.calibration["serial"] == "SIM-0001"
    assert s.markers and s.markers[0]["kind"] == "site"
    if s.engine.get("status") == "ok":
        assert s.holds
