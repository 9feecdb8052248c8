"""Each commercial gauge, simulated on a real pty, read by the monitor with auto-detection."""

import os

import numpy as np
import pytest

from firmware_sim.scenarios import load_scenario
from nmt_monitor.acquisition import SensorReader, concat_blocks
from tests.acquisition.test_end_to_end_pty import collect, n_samples


@pytest.mark.slow
@pytest.mark.parametrize(
    "gauge_args, mode",
    [
        (["--gauge", "mark10"], "polled"),
        (["--gauge", "mark10", "--gauge-continuous", "--gauge-unit", "lbf"], "continuous"),
        (["--gauge", "wagner", "--gauge-unit", "lbf"], "continuous"),
        (["--gauge", "imada", "--gauge-unit", "kgf"], "polled"),
        (["--gauge", "plain"], "continuous"),
    ],
    ids=["mark10-polled", "mark10-continuous-lbf", "wagner-lbf", "imada-kgf", "plain"],
)
def test_gauge_readings_arrive_in_newtons(start_sim, gauge_args, mode):
    sim = start_sim("--pty", "--rate", "50", "--scenario", "steady", "--seed", "2", *gauge_args)
    with SensorReader(sim.url, protocol="auto") as reader:
        blocks, events = collect(reader, lambda b, e: n_samples(b) >= 40, deadline_s=20)
        info = reader.info
        stats = reader.stats()
    assert info.protocol == "gauge" and info.gauge_mode == mode
    data = concat_blocks(blocks)
    assert len(data) >= 40
    assert np.all(np.diff(data.host_time_s) > 0)
    assert np.all(np.isfinite(data.force_n))
    truth = load_scenario("steady").render(rate_hz=200.0, seed=2).force_n
    # Readings are in newtons: within the scenario's range (in lbf or kgf they would be off by 4x / 10x).
    assert data.force_n.max() <= truth.max() * 1.05 + 0.5
    assert stats.gauge_errors == 0 and stats.unknown_units == 0


@pytest.mark.slow
def test_a_gauge_in_an_unknown_unit_is_refused_naming_the_unit(start_sim):
    sim = start_sim("--pty", "--rate", "50", "--gauge", "wagner", "--gauge-unit-token", "fgf")
    reader = SensorReader(sim.url, protocol="gauge", connect_timeout_s=2.0)
    from nmt_monitor.errors import UserError

    with pytest.raises(UserError, match="fgf.*cannot be converted"):
        reader.start()


@pytest.mark.slow
def test_a_gauge_that_stops_sending_is_re_armed(start_sim):
    sim = start_sim("--pty", "--rate", "50", "--scenario", "steady", "--gauge", "wagner")
    with SensorReader(sim.url, protocol="gauge") as reader:
        collect(reader, lambda b, e: n_samples(b) >= 20, deadline_s=20)
        # Someone (a power blip, another program) ends continuous mode: write CE to the device.
        fd = os.open(sim.url, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"CE\r\n")
        finally:
            os.close(fd)
        blocks, events = collect(
            reader, lambda b, e: any(ev.kind == "warning" and "re-armed" in ev.detail["message"] for ev in e)
            and n_samples(b) >= 20, deadline_s=20)
    assert any("re-armed" in e.detail.get("message", "") for e in events)
    assert n_samples(blocks) >= 20
