"""Simulated students for trying the grader (and for its tests and benchmark).

    python -m nmt_monitor.grading.simulate DIR [--sessions N] [--rate HZ]

writes a small class into DIR: one folder per student, one session file (.h5) per session,
rendered in-process from firmware_sim scenarios (no serial link, no real-time wait). Each
student follows a *profile* of known quality:

| profile | what the student does |
| --- | --- |
| ``good`` | two steady 22-25 s holds inside the target band, controlled ramps |
| ``drifting`` | the same holds, but the pressure fades 25-35 % (exponential) |
| ``short`` | four holds of only 7-10 s |
| ``over_tolerance`` | holds 5-15 % above the client's tolerance |
| ``unsteady`` | holds in the band, with a shaky hand (wander 6 %, tremor 4 %) and corrections |
| ``improving`` | starts like ``drifting``/``short`` and ends like ``good`` over the sessions |

Every session: tolerance 60 N, target band 30-45 N, target hold 20 s, about 60 s long.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

TOLERANCE_N = 60.0
TARGET_BAND_N = (30.0, 45.0)
TARGET_HOLD_S = 20.0
#: first session start (2026-03-02 09:00 UTC); sessions are a week apart
EPOCH0 = 1772442000.0
WEEK_S = 7 * 86400.0

PROFILES = ("good", "drifting", "short", "over_tolerance", "unsteady", "improving")

_HEAD = f"""tolerance_n = {TOLERANCE_N}
target_band_n = [{TARGET_BAND_N[0]}, {TARGET_BAND_N[1]}]
lead_in_s = 2.0
duration_s = 60.0
"""


def _hold(level: str, hold_s: str, drift: str = "[-2.0, 1.0]", repeat: int = 2, corrections: str = "0",
          rest: str = "[3.0, 4.0]") -> str:
    return f"""
[[segments]]
kind = "hold"
repeat = {repeat}
{level}
ramp_s = [1.0, 2.0]
hold_s = {hold_s}
release_s = [0.8, 1.2]
drift_pct = {drift}
drift_tau_s = 12.0
corrections = {corrections}
rest_s = {rest}
"""


def scenario_toml(profile: str, session: int = 0, n_sessions: int = 1) -> str:
    """The firmware_sim scenario (TOML) a student of ``profile`` acts out in a session."""
    band = "level_n = [35.0, 40.0]"
    if profile == "good":
        return _HEAD + _hold(band, "[22.0, 25.0]")
    if profile == "drifting":
        return _HEAD + _hold(band, "[22.0, 25.0]", drift="[-35.0, -25.0]")
    if profile == "short":
        return _HEAD + _hold(band, "[7.0, 10.0]", repeat=4, rest="[2.0, 3.0]")
    if profile == "over_tolerance":
        return _HEAD + _hold("level_tol_pct = [105.0, 115.0]", "[22.0, 25.0]")
    if profile == "unsteady":
        return _HEAD + "\n[hand]\nwander_pct = 6.0\ntremor_pct = 4.0\n" + _hold(band, "[22.0, 25.0]",
                                                                                corrections="[2, 3]")
    if profile == "improving":
        u = session / max(1, n_sessions - 1)  # 0 .. 1 over the sessions
        drift = -30.0 * (1 - u) - 1.0
        hold = 12.0 + 11.0 * u
        return _HEAD + _hold(band, f"[{hold:.1f}, {hold + 2:.1f}]", drift=f"{drift:.1f}")
    raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")


def write_session(path: Path | str, scenario_text: str, seed: int, *, therapist: str, client: str = "client 01",
                  site: str = "upper trapezius L", start_epoch_s: float = EPOCH0, rate_hz: float = 200.0,
                  noise_n: float = 0.05, analyze: bool = True) -> Path:
    """Render a scenario and store it as a session file through the real ``Recorder``."""
    from firmware_sim.scenarios import scenario_from_toml
    from nmt_monitor.acquisition.blocks import SampleBlock
    from nmt_monitor.storage import Recorder, SessionMetadata

    run = scenario_from_toml(scenario_text, f"<{therapist}>").render(rate_hz, seed)
    rng = np.random.default_rng(seed + 7919)
    force = run.force_n + rng.normal(0.0, noise_n, run.force_n.size)
    meta = SessionMetadata(therapist=therapist, client=client, tolerance_N=TOLERANCE_N, target_band_N=TARGET_BAND_N,
                           target_hold_s=TARGET_HOLD_S, contact_tip="thumb", tip_area_cm2=1.5, site=site,
                           notes=f"simulated (seed {seed})")
    rec = Recorder(path, meta, clock=lambda: start_epoch_s, sync_interval_s=1e9, min_free_bytes=0)
    n = run.time_s.size
    step = max(1, int(rate_hz))  # one block per second of samples
    for i in range(0, n, step):
        sl = slice(i, min(n, i + step))
        m = sl.stop - sl.start
        rec.add(SampleBlock(host_time_s=start_epoch_s + run.time_s[sl], device_time_s=run.time_s[sl].copy(),
                            seq=np.arange(sl.start, sl.stop, dtype=np.int64), counts=None,
                            force_n=force[sl].astype(np.float64), saturated=np.zeros(m, dtype=bool)))
    return rec.finish(reason="stopped: duration", analyze=analyze)


def make_cohort(out_dir: Path | str, students: dict[str, str] | None = None, sessions: int = 3,
                rate_hz: float = 200.0, seed: int = 0) -> list[Path]:
    """One folder per student (name -> profile), ``sessions`` files each, a week apart."""
    out_dir = Path(out_dir)
    students = students or {f"student {p}": p for p in PROFILES}
    paths = []
    for si, (name, profile) in enumerate(students.items()):
        folder = out_dir / name.replace(" ", "-")
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(sessions):
            text = scenario_toml(profile, k, sessions)
            path = folder / f"week{k + 1}.h5"
            paths.append(write_session(path, text, seed=seed + 1000 * si + k, therapist=name,
                                       client=f"client {si % 3 + 1:02d}",
                                       start_epoch_s=EPOCH0 + k * WEEK_S + si * 3600.0, rate_hz=rate_hz))
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args(argv)
    for p in make_cohort(args.dir, sessions=args.sessions, rate_hz=args.rate):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
