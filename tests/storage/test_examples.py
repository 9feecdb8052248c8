"""The example sessions in recordings/ open, explain themselves, and stay small."""

import pytest

from nmt_monitor.storage import open_session
from tests.examples import EXAMPLES


def test_there_are_examples():
    assert all(path.is_file() for path in EXAMPLES.values())


@pytest.mark.parametrize("path", EXAMPLES.values(), ids=lambda p: p.name)
def test_example_session(path):
    assert path.stat().st_size < 150_000
    s = open_session(path)
    assert s.n_samples > 1000 and s.force_n.size == s.n_samples
    assert s.metadata["client"] and s.metadata["tolerance_N"] > 0 and s.sensor["serial_number"] == "SIM-0001"
    assert s.calibration["serial"] == "SIM-0001"
    assert s.markers and s.markers[0]["kind"] == "site"
    if s.engine.get("status") == "ok":
        assert s.holds
