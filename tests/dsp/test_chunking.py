"""Property tests: any chunking gives the same events and holds as one pass over the array."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmt_monitor.dsp import HoldEngine, HoldParams, analyze_holds

from .synth import standard_session

_TRACES: dict = {}


def trace(seed: int, rate: float, kind: str):
    key = (seed, rate, kind)
    if key not in _TRACES:
        s = standard_session(np.random.default_rng(seed), kind)
        t, f, _ = s.render(rate_hz=rate, seed=seed, noise_n=0.6, offset_n=float(seed % 4), drops=4, jitter=0.5)
        _TRACES[key] = (t, f)
    return _TRACES[key]


def run_chunked(t, f, sizes, **kw):
    eng = HoldEngine(**kw)
    events = []
    i = k = 0
    while i < t.size:
        n = sizes[k % len(sizes)]
        k += 1
        events += eng.feed(t[i : i + n], f[i : i + n])
        i += n
    events += eng.finish()
    return events, eng


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 3),
    rate=st.sampled_from([50.0, 200.0, 1000.0]),
    kind=st.sampled_from(["mixed", "alternating", "drifting"]),
    sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=6),
)
def test_any_chunking_gives_the_same_events(seed, rate, kind, sizes):
    t, f = trace(seed, rate, kind)
    offline = analyze_holds(t, f, tolerance_n=55.0, target_band_n=(20.0, 40.0))
    events, eng = run_chunked(t, f, sizes, tolerance_n=55.0, target_band_n=(20.0, 40.0))
    assert events == offline.events
    assert eng.holds == offline.holds
    assert eng.over_tolerance == offline.over_tolerance


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 3))
def test_one_sample_chunks(seed):
    t, f = trace(seed, 200.0, "mixed")
    offline = analyze_holds(t, f, tolerance_n=55.0)
    events, _ = run_chunked(t, f, [1], tolerance_n=55.0)
    assert events == offline.events


@settings(max_examples=10, deadline=None)
@given(
    level=st.floats(8.0, 150.0),
    dur=st.floats(6.0, 30.0),
    drift=st.floats(-30.0, 30.0),
    rate=st.sampled_from([50.0, 100.0, 500.0, 2000.0]),
    offset=st.floats(-4.0, 4.0),
    seed=st.integers(0, 1000),
)
def test_a_clean_hold_is_found_once(level, dur, drift, rate, offset, seed):
    from .synth import Script

    s = Script(np.random.default_rng(seed)).rest(3).ramp(level, 1.0).hold(dur, drift_pct=drift).rest(3)
    t, f, _ = s.render(rate_hz=rate, seed=seed, noise_n=0.5, offset_n=offset)
    a = analyze_holds(t, f, HoldParams())
    assert len(a.holds) == 1
    h = a.holds[0]
    assert abs(h.start_s - s.truth.holds[0]["start_s"]) < 0.4
    assert abs(h.end_s - s.truth.holds[0]["end_s"]) < 0.4
    assert ("drift" in h.flags) == (abs(h.drift_pct) >= 10.0)
    kinds = [e.kind for e in a.events]
    assert kinds.count("drift_warning") <= 1
