"""Scoring each hold as it ends, with the grading rubric (docs/grading.md), for the screens:
the class view shows every station's last score. ``nmt-monitor grade`` scores the recording
again from the file (with the rubric's own engine parameters), which is the grade of record;
this live score is the same formula on the samples the display buffer still holds."""

from __future__ import annotations

import numpy as np


class LiveScorer:
    """``scorer(hold, time_s, force_n, metadata, episodes) -> score 0-100`` (None when the
    hold cannot be scored)."""

    def __init__(self, rubric=None) -> None:
        from nmt_monitor.grading.rubric import default_rubric

        self.rubric = rubric or default_rubric()
        self.rate_hz = self.rubric.hold_params().envelope_rate_hz

    def __call__(self, hold, time_s: np.ndarray, force_n: np.ndarray, metadata, episodes: int) -> float | None:
        from nmt_monitor.grading.scoring import hold_window, resolve_band, score_hold

        if time_s.size < 2:
            return None
        band, _ = resolve_band(self.rubric, metadata.target_band_N, metadata.tolerance_N)
        window = hold_window(self.rubric, metadata.target_hold_s)
        graded = score_hold(self.rubric, 0, hold, time_s, force_n, self.rate_hz, band, window,
                            metadata.tolerance_N, episodes)
        return float(graded.composite)
