"""Scoring detected holds and over-tolerance episodes against the corpus truth.

The rules are the product bars of design.md / issue 9:

- holds are matched one to one when their intersection over union is >= 0.5, greedily by IoU;
  precision = matched / detected, recall = matched / true, F1 = 2 TP / (2 TP + FP + FN);
- drift accuracy: over matched holds, the engine's flag ``drift`` agrees with ``truth.drifting``;
- onset / offset error: |detected start - true start|, |detected end - true end| of matched
  holds (medians are reported);
- over-tolerance: a detected episode matches a true one when the two overlap once each is
  widened by 0.2 s on both sides; one to one, greedily by that overlap, so further detections of
  one true episode are false positives;
- a file the loader or engine refused counts as refused, every true hold and episode in it missed.

Pure Python / NumPy; the engine's result is read through ``holds_from_result`` and
``episodes_from_result`` (duck-typed: ``.holds`` with ``start_s``, ``end_s``, ``flags``,
``drift_pct``; ``.over_tolerance`` with ``start_s``, ``end_s``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

MIN_IOU = 0.5
OT_SLACK_S = 0.2


def holds_from_result(result) -> list[dict]:
    out = []
    for h in getattr(result, "holds", []) or []:
        flags = list(getattr(h, "flags", []) or [])
        out.append({"start_s": float(h.start_s), "end_s": float(h.end_s), "drifting": "drift" in flags,
                    "drift_pct": float(getattr(h, "drift_pct", float("nan")))})
    return out


def episodes_from_result(result) -> list[dict]:
    return [{"start_s": float(e.start_s), "end_s": float(e.end_s)} for e in getattr(result, "over_tolerance", []) or []]


def iou(a: dict, b: dict) -> float:
    inter = min(a["end_s"], b["end_s"]) - max(a["start_s"], b["start_s"])
    if inter <= 0:
        return 0.0
    union = max(a["end_s"], b["end_s"]) - min(a["start_s"], b["start_s"])
    return inter / union if union > 0 else 0.0


def match_holds(true: list[dict], det: list[dict], min_iou: float = MIN_IOU) -> list[tuple[int, int, float]]:
    """One-to-one pairs (true index, detected index, IoU) with IoU >= min_iou, greedy by IoU."""
    cands = [(iou(t, d), i, j) for i, t in enumerate(true) for j, d in enumerate(det)]
    cands = sorted((c for c in cands if c[0] >= min_iou), key=lambda c: (-c[0], c[1], c[2]))
    used_t, used_d, pairs = set(), set(), []
    for v, i, j in cands:
        if i not in used_t and j not in used_d:
            used_t.add(i)
            used_d.add(j)
            pairs.append((i, j, v))
    return sorted(pairs)


def match_episodes(true: list[dict], det: list[dict], slack_s: float = OT_SLACK_S) -> list[tuple[int, int]]:
    """One-to-one pairs of over-tolerance episodes that overlap within ``slack_s``."""
    cands = []
    for i, t in enumerate(true):
        for j, d in enumerate(det):
            ov = min(t["end_s"], d["end_s"]) + slack_s - (max(t["start_s"], d["start_s"]) - slack_s)
            if ov >= 0:
                cands.append((ov, i, j))
    cands.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_t, used_d, pairs = set(), set(), []
    for _ov, i, j in cands:
        if i not in used_t and j not in used_d:
            used_t.add(i)
            used_d.add(j)
            pairs.append((i, j))
    return sorted(pairs)


@dataclass
class FileScore:
    file: str
    condition: str
    refused: bool = False
    error: str = ""
    seconds: float = 0.0
    holds_true: int = 0
    holds_detected: int = 0
    holds_matched: int = 0
    drift_correct: int = 0
    onset_errors_s: list = field(default_factory=list)
    offset_errors_s: list = field(default_factory=list)
    drift_errors: list = field(default_factory=list)   # matched holds whose drift flag disagrees
    missed: list = field(default_factory=list)         # true holds not matched (start, end)
    false: list = field(default_factory=list)          # detected holds not matched (start, end)
    ot_true: int = 0
    ot_detected: int = 0
    ot_matched: int = 0
    ot_missed: list = field(default_factory=list)
    ot_false: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def score_file(truth: dict, det_holds: list[dict] | None, det_episodes: list[dict] | None, *, file: str = "",
               refused: bool = False, error: str = "", seconds: float = 0.0) -> FileScore:
    """Score one file. ``det_holds``/``det_episodes`` as from ``holds_from_result`` /
    ``episodes_from_result``; pass ``refused=True`` (and no detections) for a refused file."""
    th = truth.get("holds", [])
    te = truth.get("over_tolerance", [])
    s = FileScore(file=file, condition=truth.get("condition", ""), refused=refused, error=error, seconds=seconds,
                  holds_true=len(th), ot_true=len(te))
    if refused:
        s.missed = [(h["start_s"], h["end_s"]) for h in th]
        s.ot_missed = [(e["start_s"], e["end_s"]) for e in te]
        return s
    dh = det_holds or []
    de = det_episodes or []
    s.holds_detected, s.ot_detected = len(dh), len(de)
    pairs = match_holds(th, dh)
    s.holds_matched = len(pairs)
    for i, j, _v in pairs:
        t, d = th[i], dh[j]
        s.onset_errors_s.append(abs(d["start_s"] - t["start_s"]))
        s.offset_errors_s.append(abs(d["end_s"] - t["end_s"]))
        if bool(d["drifting"]) == bool(t["drifting"]):
            s.drift_correct += 1
        else:
            s.drift_errors.append({"true_start_s": t["start_s"], "true_drift_pct": t["drift_pct"],
                                   "detected_drift_pct": d.get("drift_pct")})
    mt = {i for i, _j, _v in pairs}
    md = {j for _i, j, _v in pairs}
    s.missed = [(h["start_s"], h["end_s"]) for i, h in enumerate(th) if i not in mt]
    s.false = [(h["start_s"], h["end_s"]) for j, h in enumerate(dh) if j not in md]
    ep = match_episodes(te, de)
    s.ot_matched = len(ep)
    et = {i for i, _j in ep}
    ed = {j for _i, j in ep}
    s.ot_missed = [(e["start_s"], e["end_s"]) for i, e in enumerate(te) if i not in et]
    s.ot_false = [(e["start_s"], e["end_s"]) for j, e in enumerate(de) if j not in ed]
    return s


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def summarize(scores: list[FileScore]) -> dict:
    """Pooled figures over files (counts summed, medians over all matched holds)."""
    tp = sum(s.holds_matched for s in scores)
    n_true = sum(s.holds_true for s in scores)
    n_det = sum(s.holds_detected for s in scores)
    fp, fn = n_det - tp, n_true - tp
    onset = [e for s in scores for e in s.onset_errors_s]
    offset = [e for s in scores for e in s.offset_errors_s]
    ot_tp_true = sum(s.ot_matched for s in scores)
    ot_true = sum(s.ot_true for s in scores)
    ot_det = sum(s.ot_detected for s in scores)
    return {
        "files": len(scores),
        "refused": sum(1 for s in scores if s.refused),
        "holds_true": n_true, "holds_detected": n_det, "holds_matched": tp,
        "precision": _ratio(tp, n_det),
        "recall": _ratio(tp, n_true),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "drift_accuracy": _ratio(sum(s.drift_correct for s in scores), tp),
        "onset_median_s": float(np.median(onset)) if onset else float("nan"),
        "offset_median_s": float(np.median(offset)) if offset else float("nan"),
        "ot_true": ot_true, "ot_detected": ot_det,
        "ot_recall": _ratio(ot_tp_true, ot_true),
        "ot_precision": _ratio(ot_tp_true, ot_det),
        "seconds": sum(s.seconds for s in scores),
    }


COLUMNS = (("files", "files", "{:d}"), ("refused", "refused", "{:d}"), ("precision", "hold P", "{:.3f}"),
           ("recall", "hold R", "{:.3f}"), ("f1", "hold F1", "{:.3f}"), ("drift_accuracy", "drift", "{:.3f}"),
           ("onset_median_s", "onset s", "{:.3f}"), ("offset_median_s", "offset s", "{:.3f}"),
           ("ot_recall", "OT R", "{:.3f}"), ("ot_precision", "OT P", "{:.3f}"), ("seconds", "time s", "{:.2f}"))


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def table(rows: list[tuple[str, dict]]) -> str:
    """A Markdown table: one row per (name, summary)."""
    head = "| condition | " + " | ".join(c[1] for c in COLUMNS) + " |"
    sep = "| --- | " + " | ".join("---:" for _ in COLUMNS) + " |"
    lines = [head, sep]
    for name, summ in rows:
        lines.append(f"| {name} | " + " | ".join(_cell(summ[k], f) for k, _h, f in COLUMNS) + " |")
    return "\n".join(lines)
