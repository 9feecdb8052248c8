"""The simulator's own Butterworth filters are scipy.signal's (it does not import scipy.signal:
that import alone takes longer than the live monitor's whole start-up)."""

import numpy as np
import pytest
from scipy import signal

from firmware_sim.filters import butter_zpk, filter_zpk, first_order


@pytest.mark.parametrize("rate_hz", [50.0, 1000.0, 2000.0])
@pytest.mark.parametrize("btype, edges_hz", [("low", 0.8), ("low", 0.1), ("band", (8.0, 12.0))])
def test_design_and_filtering_match_scipy(rate_hz, btype, edges_hz):
    nyq = rate_hz / 2
    wn = np.asarray(edges_hz) / nyq
    if btype == "band" and edges_hz[1] >= 0.95 * nyq:
        pytest.skip("band above Nyquist")
    z, p, k = butter_zpk(2, wn, btype)
    z_ref, p_ref, k_ref = signal.butter(2, wn, btype=btype, output="zpk")
    assert np.allclose(np.sort_complex(p), np.sort_complex(p_ref), rtol=0, atol=1e-12)
    assert np.allclose(np.sort_complex(z), np.sort_complex(z_ref), rtol=0, atol=1e-12)
    assert k == pytest.approx(k_ref, rel=1e-12)
    x = np.random.default_rng(3).standard_normal(50_000)
    ours = filter_zpk(z, p, k, x)
    ref = signal.sosfilt(signal.butter(2, wn, btype=btype, output="sos"), x)
    assert np.max(np.abs(ours - ref)) <= 1e-8 * np.std(ref)


@pytest.mark.parametrize("n", [1, 20, 5000])
def test_first_order_matches_lfilter_with_state(n):
    x = np.random.default_rng(n).standard_normal(n)
    alpha, y0 = 0.003, 2.5
    ref, _ = signal.lfilter([alpha], [1.0, alpha - 1.0], x, zi=[(1.0 - alpha) * y0])
    assert np.allclose(first_order(x, alpha, y0), ref, rtol=0, atol=1e-12)
