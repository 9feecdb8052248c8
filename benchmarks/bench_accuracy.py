"""Hold-engine accuracy on the realistic corpus (tests/realistic, docs/corpus.md).

    .venv/bin/python benchmarks/bench_accuracy.py [--quick] [--per-condition K] [--seed N]
                                                  [--conditions a,b] [--write DIR] [--json FILE]

1. Writes the corpus (seeded; K sessions per condition, 1-4 min each) into a temporary folder,
   or into ``--write DIR`` to keep it. Generation is not timed.
2. For each CSV, as ``nmt-monitor analyze`` would: ``nmt_monitor.loaders.load_recording``, then
   ``nmt_monitor.dsp.analyze_holds(time_s, force_n, tolerance_n=<the session's tolerance>)``
   (public API only). A file the loader or the engine refuses counts as refused and all of its
   truth as missed.
3. Scores each file against its ``.truth.json`` (tests/realistic/scoring.py: holds matched at
   IoU >= 0.5, drift flag, onset/offset error, over-tolerance episodes within 0.2 s) and prints a
   Markdown table, one row per condition and a total row; ``time s`` is load + analysis.
   ``--json FILE`` dumps the per-file scores (``-`` for standard output). ``--raw`` (diagnosis
   only) reads the CSV with NumPy instead of the loader, to tell loader refusals from engine errors.

The recorded set in tests/realistic/recorded/ (if any files are there) is scored as one more row.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.realistic import scoring  # noqa: E402
from tests.realistic.sessions import CONDITIONS  # noqa: E402
from tests.realistic.write import write_corpus  # noqa: E402

RECORDED = os.path.join(ROOT, "tests", "realistic", "recorded")


UNIT_SCALE = {"force_n": 1.0, "force_kgf": 9.80665, "force_lbf": 4.4482216152605}


def read_raw(csv_path: str):
    """time_s and force in N straight from the CSV, without the loader's checks (``--raw``)."""
    import numpy as np

    with open(csv_path, encoding="utf-8") as fh:
        header = next(line for line in fh if line.strip() and not line.startswith("#"))
    names = [c.strip().lower() for c in header.split(",")]
    col = next(c for c in names if c in UNIT_SCALE)
    data = np.loadtxt(csv_path, delimiter=",", comments="#", skiprows=2, usecols=(names.index("time_s"), names.index(col)))
    return data[:, 0], data[:, 1] * UNIT_SCALE[col]


def score_path(csv_path: str, truth: dict, raw: bool = False) -> scoring.FileScore:
    from nmt_monitor.dsp import analyze_holds
    from nmt_monitor.loaders import load_recording

    t0 = time.perf_counter()
    try:
        if raw:
            time_s, force_n = read_raw(csv_path)
        else:
            rec = load_recording(csv_path)
            time_s, force_n = rec.time_s, rec.force_n
        result = analyze_holds(time_s, force_n, tolerance_n=truth.get("tolerance_N"))
    except Exception as exc:  # noqa: BLE001 - any failure is a refusal, reported with its message
        return scoring.score_file(truth, None, None, file=os.path.basename(csv_path), refused=True,
                                  error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
                                  seconds=time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    return scoring.score_file(truth, scoring.holds_from_result(result), scoring.episodes_from_result(result),
                              file=os.path.basename(csv_path), seconds=seconds)


def truth_of(csv_path: str) -> dict:
    with open(csv_path[:-4] + ".truth.json", encoding="utf-8") as fh:
        return json.load(fh)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one session per condition")
    ap.add_argument("--per-condition", type=int, default=None, help="sessions per condition (default 4; 1 with --quick)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--conditions", default="", help="comma-separated subset of: " + ", ".join(CONDITIONS))
    ap.add_argument("--write", metavar="DIR", help="write the corpus here and keep it")
    ap.add_argument("--json", metavar="FILE", help="per-file scores as JSON ('-' for standard output)")
    ap.add_argument("--no-recorded", action="store_true", help="skip tests/realistic/recorded")
    ap.add_argument("--raw", action="store_true",
                    help="diagnosis only: read the CSV with NumPy instead of load_recording (no time checks), "
                         "to tell loader refusals from engine accuracy")
    args = ap.parse_args(argv)
    k = args.per_condition if args.per_condition is not None else (1 if args.quick else 4)
    conds = [c for c in args.conditions.split(",") if c] or list(CONDITIONS)

    tmp = None
    out_dir = args.write
    if out_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="nmt-corpus-")
        out_dir = tmp.name
    t_gen = time.perf_counter()
    paths = write_corpus(out_dir, seed=args.seed, per_condition=k, conditions=conds)
    t_gen = time.perf_counter() - t_gen

    by_cond: dict[str, list] = {c: [] for c in conds}
    for p in paths:
        truth = truth_of(p)
        by_cond[truth["condition"]].append(score_path(p, truth, raw=args.raw))
    rows = [(c, scoring.summarize(by_cond[c])) for c in conds]
    every = [s for c in conds for s in by_cond[c]]
    rows.append(("**total (synthetic)**", scoring.summarize(every)))

    recorded = sorted(glob.glob(os.path.join(RECORDED, "*.csv"))) if not args.no_recorded else []
    rec_scores = [score_path(p, truth_of(p), raw=args.raw) for p in recorded if os.path.exists(p[:-4] + ".truth.json")]
    if rec_scores:
        rows.append(("recorded (tests/realistic/recorded)", scoring.summarize(rec_scores)))

    print(f"Realistic corpus: {len(paths)} sessions ({k} per condition, seed {args.seed}), "
          f"generated in {t_gen:.1f} s{'' if tmp else ' into ' + out_dir}"
          f"{'; read with NumPy, not load_recording (--raw)' if args.raw else ''}")
    print()
    print(scoring.table(rows))
    refused = [s for s in every + rec_scores if s.refused]
    if refused:
        print()
        print(f"Refused files ({len(refused)}):")
        for s in refused:
            print(f"  {s.file}: {s.error}")
    if args.json:
        doc = [s.as_dict() for s in every + rec_scores]
        if args.json == "-":
            json.dump(doc, sys.stdout, indent=1)
            print()
        else:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=1)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
