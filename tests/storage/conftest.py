import pytest


@pytest.fixture
def session_file(tmp_path):
    """A finished session from synthetic blocks: 30 s at 500 Hz, a hold, an over-tolerance poke,
    a lost stretch of 100 samples, markers and a link event."""
    from nmt_monitor.storage import Recorder, SessionMetadata

    from .synth import T0, connected_event, make_blocks

    rec = Recorder(tmp_path / "s.h5", SessionMetadata(
        therapist="Stu Dent", client="Client 7", tolerance_N=60.0, target_band_N=(30.0, 50.0),
        target_hold_s=10.0, contact_tip="thumb", tip_area_cm2=1.5, site="upper trapezius L", notes="naïve test ✓"),
        clock=lambda: T0)
    rec.add(connected_event())
    rec.set_sensor({"protocol": "nmt", "serial_number": "SIM-0001", "firmware": "1.0.0", "full_scale_n": 200.0,
                    "calibration_details": {"gain_n_per_count": 1 / 39850.0, "offset_counts": 152340.0,
                                            "serial": "SIM-0001", "date": "2026-11-20"}})
    for block in make_blocks(lose=(5000, 100)):
        rec.add(block)
    rec.mark("discomfort", host_time_s=T0 + 10.0)
    rec.mark("site", "upper trapezius L", host_time_s=T0 + 1.0)
    rec.mark("note", "client relaxed — good", host_time_s=T0 + 20.0)
    return rec.finish()
