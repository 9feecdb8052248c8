"""Write the realistic corpus: CSV recordings with a ``NAME.truth.json`` beside each.

    python -m tests.realistic.write OUT_DIR [--seed N] [--per-condition K] [--conditions a,b,...]

File names are ``CONDITION_KK.csv``; the CSV has the header ``time_s,force_N`` (or ``force_kgf``,
``force_lbf``: the instrument's unit) after one ``#`` comment line, as ``nmt-monitor analyze``
reads it (README, design.md). Session k of a condition uses seed ``SEED * 1000 + k``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys

import numpy as np

from .sessions import CONDITIONS

COLUMN = {"N": "force_N", "kgf": "force_kgf", "lbf": "force_lbf"}


def session_seed(base_seed: int, k: int) -> int:
    return int(base_seed) * 1000 + int(k)


def write_session(base_path: str, time_s: np.ndarray, force: np.ndarray, unit: str, truth: dict) -> str:
    """Write ``base_path``.csv and ``base_path``.truth.json; return the CSV path."""
    inst = truth.get("instrument", {})
    tfmt = inst.get("time_format", "%.6f")
    vfmt = inst.get("value_format", "%.4f")
    buf = io.StringIO()
    buf.write(f"# realistic corpus (tests/realistic): {truth['condition']}, seed {truth['seed']}\n")
    if inst.get("extra_column") == "sample":
        buf.write(f"sample,time_s,{COLUMN[unit]}\n")
        data = np.column_stack([np.arange(time_s.size), time_s, force])
        np.savetxt(buf, data, fmt=["%d", tfmt, vfmt], delimiter=",")
    else:
        buf.write(f"time_s,{COLUMN[unit]}\n")
        np.savetxt(buf, np.column_stack([time_s, force]), fmt=[tfmt, vfmt], delimiter=",")
    csv_path = base_path + ".csv"
    with open(csv_path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(buf.getvalue())
    with open(base_path + ".truth.json", "w", encoding="utf-8") as fh:
        json.dump(truth, fh, indent=1)
        fh.write("\n")
    return csv_path


def write_corpus(out_dir: str, seed: int = 0, per_condition: int = 3, conditions=None, progress=None) -> list[str]:
    """Generate and write ``per_condition`` sessions of every condition; return the CSV paths."""
    os.makedirs(out_dir, exist_ok=True)
    names = list(conditions) if conditions else list(CONDITIONS)
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown:
        raise SystemExit(f"unknown condition(s): {', '.join(unknown)} (known: {', '.join(CONDITIONS)})")
    paths = []
    for name in names:
        for k in range(per_condition):
            t, f, unit, truth = CONDITIONS[name](session_seed(seed, k))
            paths.append(write_session(os.path.join(out_dir, f"{name}_{k:02d}"), t, f, unit, truth))
            if progress:
                progress(paths[-1])
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.realistic.write", description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-condition", type=int, default=3)
    ap.add_argument("--conditions", default="", help="comma-separated subset (default: all)")
    args = ap.parse_args(argv)
    conds = [c for c in args.conditions.split(",") if c] or None
    paths = write_corpus(args.out_dir, args.seed, args.per_condition, conds,
                         progress=lambda p: print(p, file=sys.stderr))
    print(f"{len(paths)} sessions written to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
