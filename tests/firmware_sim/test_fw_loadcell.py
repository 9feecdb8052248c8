import numpy as np

from firmware_sim.loadcell import TRUE_CALIBRATION, LoadCell, LoadCellParams


def test_true_calibration_constants():
    c = TRUE_CALIBRATION
    assert (c.serial, c.gain_counts_per_n, c.offset_counts, c.full_scale_n) == ("SIM-0001", 39850.0, 152340.0, 200.0)
    assert c.gain_n_per_count == 1 / 39850.0
    assert c["offset_counts"] == 152340.0


def test_calibration_record_matches():
    import tomllib
    from pathlib import Path
    rec = tomllib.loads((Path(__file__).parents[2] / "nmt_monitor" / "calibration_records" / "SIM-0001.toml").read_text())
    assert rec["serial"] == "SIM-0001" and rec["full_scale_n"] == 200.0
    assert rec["fit"] == {"model": "linear", "gain_n_per_count": 1 / 39850.0, "offset_counts": 152340.0}


def test_counts_follow_gain_and_offset_within_noise():
    lc = LoadCell(seed=3)
    t = np.arange(5000) / 1000.0
    for force in (0.0, 10.0, 50.0, 150.0):
        c = lc.measure(t, np.full_like(t, force))
        assert c.dtype == np.int32
        f = (c - 152340.0) / 39850.0
        assert abs(f.mean() - force) < 0.002 * 200  # within non-linearity + hysteresis, < 0.2 % FS
        assert 0.015 < f.std() < 0.025  # 20 mN RMS noise
        t = t + 5.0


def test_ideal_cell_is_exact():
    lc = LoadCell(LoadCellParams.ideal())
    c = lc.measure([0.0, 0.001, 0.002], [0.0, 1.0, 100.0])
    assert list(c) == [152340, 152340 + 39850, 152340 + 3985000]


def test_saturates_at_rails():
    lc = LoadCell()
    c = lc.measure(np.arange(4) / 1000, [205.0, 300.0, -300.0, 1e6])
    assert list(c) == [8388607, 8388607, -8388608, 8388607]


def test_stateful_chunking_is_seamless_and_seeded():
    t = np.arange(3000) / 1000.0
    f = 60 + 40 * np.sin(t * 3)
    a = LoadCell(seed=5).measure(t, f)
    lc = LoadCell(seed=5)
    b = np.concatenate([lc.measure(t[i:i + 77], f[i:i + 77]) for i in range(0, t.size, 77)])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, LoadCell(seed=6).measure(t, f))


def test_hysteresis_loading_reads_lower_than_unloading():
    lc = LoadCell(LoadCellParams(noise_n_rms=0.0, zero_drift_n=0.0, creep_pct_fs_per_30min=0.0,
                                 nonlinearity_pct_fs=0.0))
    up = np.linspace(0, 200, 2001)
    cu = lc.measure(np.arange(2001) / 1000, up)
    cd = lc.measure(2.001 + np.arange(2001) / 1000, up[::-1])[::-1]
    mid = 1000
    diff_n = (cd[mid] - cu[mid]) / 39850.0
    assert 0.05 < diff_n < 0.2  # 2 x 0.03 % FS = 0.12 N at mid range
