"""Scored evaluation of the hold engine against firmware_sim ground truth.

Every built-in scenario x seeds x rates (50-2000 Hz), measured through the simulated load
cell (noise, non-linearity, hysteresis, zero drift), half of the runs left untared (a
residual zero offset of ~3.8 N and a 0.4 % gain error), some with dropped-sample gaps
(20-500 ms), some with 1 N of extra white noise, some with +-1 N of slow zero wander and
jittered (non-uniform) sample times. Scores (run ``pytest -s`` to see them):

- hold F1: a detected hold matches a true hold when their IoU >= 0.5 (one to one);
- median onset / offset error of matched holds;
- drift classification accuracy over matched holds ("drift" flag vs truth ``drifting``);
- over-tolerance event recall and precision: a detected episode matches a true one when
  they overlap; extra detections of one true episode (chatter) count as false positives.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest

sim = pytest.importorskip("firmware_sim.scenarios", reason="firmware_sim not available")
from firmware_sim.loadcell import TRUE_CALIBRATION, LoadCell  # noqa: E402

from nmt_monitor.dsp import analyze_holds  # noqa: E402

# an accuracy evaluation over many simulator runs: part of the full suite, not the quick subset
pytestmark = pytest.mark.slow

RATES = (50.0, 200.0, 1000.0, 2000.0)
SEEDS = (1, 2, 3, 4, 5)


def iou(a0, a1, b0, b1) -> float:
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    union = max(a1, b1) - min(a0, b0)
    return inter / union if union > 0 else 0.0


def measure(run, seed: int, variant: int):
    """Simulated sensor readings in N, with the variant's impairments."""
    rng = np.random.default_rng(seed * 7919 + variant)
    t = run.time_s
    counts = LoadCell(seed=seed).measure(t, run.force_n).astype(np.float64)
    tared = variant % 2 == 0
    if tared:
        force = (counts - TRUE_CALIBRATION.offset_counts) / TRUE_CALIBRATION.nominal_counts_per_n
    else:  # untared: nominal scale only, the zero offset (~3.8 N) stays in
        force = counts / TRUE_CALIBRATION.nominal_counts_per_n
    if variant in (1, 2):  # extra noise, ~1 N RMS
        force = force + rng.normal(0.0, 1.0, force.size)
    keep = np.ones(t.size, dtype=bool)
    if variant in (1, 3):  # slow zero wander (+-1 N over a couple of minutes) and jittered time
        force = force + 1.0 * np.sin(2 * np.pi * t / 150.0 + rng.uniform(0, 6))
        t = t + rng.uniform(0.0, 0.5, t.size) / run.rate_hz
    if variant in (2, 3):  # dropped samples: one gap of 20-500 ms every ~10 s
        for c in rng.uniform(0, t[-1], int(t[-1] / 10)):
            keep &= ~((t >= c) & (t < c + rng.uniform(0.02, 0.5)))
    return t[keep], force[keep]


def score_run(truth: dict, analysis) -> dict:
    true_h = truth["holds"]
    det_h = analysis.holds
    pairs = sorted(
        ((iou(a["start_s"], a["end_s"], b.start_s, b.end_s), i, j)
         for i, a in enumerate(true_h) for j, b in enumerate(det_h)),
        reverse=True,
    )
    used_t, used_d, matches = set(), set(), []
    for v, i, j in pairs:
        if v < 0.5 or i in used_t or j in used_d:
            continue
        used_t.add(i)
        used_d.add(j)
        matches.append((true_h[i], det_h[j]))
    true_o = truth["over_tolerance"]
    det_o = analysis.over_tolerance
    o_matched_true, o_tp = set(), 0
    for d in det_o:
        hit = next((k for k, o in enumerate(true_o)
                    if k not in o_matched_true and d.start_s <= o["end_s"] + 0.2 and d.end_s >= o["start_s"] - 0.2), None)
        if hit is not None:
            o_matched_true.add(hit)
            o_tp += 1
    return {
        "tp": len(matches), "fp": len(det_h) - len(matches), "fn": len(true_h) - len(matches),
        "onset": [abs(d.start_s - t["start_s"]) for t, d in matches],
        "offset": [abs(d.end_s - t["end_s"]) for t, d in matches],
        "drift_ok": [("drift" in d.flags) == bool(t["drifting"]) for t, d in matches],
        "o_true": len(true_o), "o_det": len(det_o), "o_tp": o_tp,
        "misses": [(round(t["start_s"], 2), round(t["end_s"], 2)) for i, t in enumerate(true_h) if i not in used_t],
        "extra": [(round(d.start_s, 2), round(d.end_s, 2)) for j, d in enumerate(det_h) if j not in used_d],
        "drift_wrong": [(round(t["start_s"], 1), t["drift_pct"], round(d.drift_pct, 2))
                        for (t, d), ok in zip(matches, [("drift" in d.flags) == bool(t["drifting"])
                                                        for t, d in matches]) if not ok],
    }


@pytest.fixture(scope="module")
def evaluation():
    per_run = []
    variant = 0
    for name in sim.list_scenarios():
        scenario = sim.load_scenario(name)
        for seed in SEEDS:
            for rate in RATES:
                run = scenario.render(rate_hz=rate, seed=seed)
                truth = run.ground_truth
                t, f = measure(run, seed, variant % 4)
                analysis = analyze_holds(t, f, tolerance_n=truth["tolerance_n"],
                                         target_band_n=truth["target_band_n"])
                s = score_run(truth, analysis)
                s["label"] = f"{name}/seed{seed}/{rate:g}Hz/v{variant % 4}"
                per_run.append(s)
                variant += 1
    tot = {k: sum(r[k] for r in per_run) for k in ("tp", "fp", "fn", "o_true", "o_det", "o_tp")}
    onset = [x for r in per_run for x in r["onset"]]
    offset = [x for r in per_run for x in r["offset"]]
    drift = [x for r in per_run for x in r["drift_ok"]]
    scores = {
        "runs": len(per_run),
        "true_holds": tot["tp"] + tot["fn"],
        "hold_f1": 2 * tot["tp"] / max(1, 2 * tot["tp"] + tot["fp"] + tot["fn"]),
        "onset_median_s": statistics.median(onset) if onset else float("inf"),
        "offset_median_s": statistics.median(offset) if offset else float("inf"),
        "onset_p90_s": float(np.percentile(onset, 90)) if onset else float("inf"),
        "offset_p90_s": float(np.percentile(offset, 90)) if offset else float("inf"),
        "drift_accuracy": sum(drift) / max(1, len(drift)),
        "over_tolerance_true": tot["o_true"],
        "over_tolerance_recall": tot["o_tp"] / max(1, tot["o_true"]),
        "over_tolerance_precision": tot["o_tp"] / max(1, tot["o_det"]),
    }
    problems = [(r["label"], r["misses"], r["extra"], r["drift_wrong"]) for r in per_run
                if r["misses"] or r["extra"] or r["drift_wrong"] or r["o_tp"] != r["o_true"] or r["o_det"] != r["o_tp"]]
    report = "hold-engine evaluation: " + ", ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in scores.items())
    if problems:
        report += "\n  runs with errors: " + "\n  ".join(map(str, problems[:15]))
    print("\n" + report)
    return scores, report


def test_hold_f1(evaluation):
    scores, report = evaluation
    assert scores["hold_f1"] >= 0.98, report


def test_onset_offset_errors(evaluation):
    scores, report = evaluation
    assert scores["onset_median_s"] <= 0.3, report
    assert scores["offset_median_s"] <= 0.3, report


def test_drift_classification(evaluation):
    scores, report = evaluation
    assert scores["drift_accuracy"] >= 0.97, report


def test_over_tolerance_events(evaluation):
    scores, report = evaluation
    assert scores["over_tolerance_recall"] >= 0.98, report
    assert scores["over_tolerance_precision"] >= 0.95, report
