"""Where `pdprof.parse.parse_file` spends its time on a large clean ncu details page.

Wraps the steps of the fast path (functions of pdprof.profilers.ncu and pdprof.parse,
so this script follows their names) with wall-clock timers, parses the file --runs
times after a warm-up run and prints the median and the fastest time of each step, then
pandas.read_csv(dtype=str) of the same file for scale. Steps run on several threads are
summed over the threads. Make the input with parse_bench.py:

    python benchmarks/parse_bench.py --keep /tmp/ncu_details_large.csv
    python benchmarks/parse_profile.py /tmp/ncu_details_large.csv [--runs 11]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from parse_bench import run_times  # benchmarks/ is the script's folder, first on sys.path

from pdprof import parse
from pdprof.profilers import ncu

# (module, function, label): indented labels are parts of the step above them.
STEPS = [
    (ncu, "_clean_details_columns", "read: clean-page check and pyarrow read"),
    (ncu, "_newlines_if_clean", "  byte scan (numpy on all threads, beside the reader)"),
    (ncu, "_read_records", "  pyarrow CSV read (pyarrow's threads)"),
    (ncu, "_details_rows", "rows: launch IDs, numbers, units, filter"),
    (ncu, "parse_number_array", "  numbers (cast, RE2 for the rest; summed over threads)"),
    (ncu, "_with_canonical_rows", "canonical rows, launch order, text columns"),
    (ncu, "_source_grid", "  launch x source grid (numpy)"),
    (ncu, "_texts_at", "  13 text columns, a take each (summed over threads)"),
    (parse, "_finish", "finish: tool and source_file columns, dtypes"),
]


def timed(module: object, name: str, spent: list[float]) -> None:
    """Replace module.name by a wrapper that appends each call's seconds to `spent`."""
    original: Callable = getattr(module, name)

    def wrapper(*args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    setattr(module, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a clean ncu details page (parse_bench.py --keep)")
    parser.add_argument("--runs", type=int, default=11, help="timed parses (after one warm-up)")
    args = parser.parse_args()
    spent = {label: [] for _, _, label in STEPS}
    for module, name, label in STEPS:
        timed(module, name, spent[label])
    totals = run_times(lambda: parse.parse_file(args.path), args.runs)
    baseline = run_times(lambda: pd.read_csv(args.path, dtype=str), args.runs)
    print(f"{'step (ms per parse)':<58} {'median':>7} {'min':>7}")
    for label, seconds in spent.items():
        calls = len(seconds) // (args.runs + 1)
        per_parse = [sum(seconds[run * calls : (run + 1) * calls]) for run in range(1, args.runs + 1)]
        print(f"{label:<58} {statistics.median(per_parse) * 1e3:>7.1f} {min(per_parse) * 1e3:>7.1f}")
    for label, seconds in (("parse_file", totals), ("pandas.read_csv(dtype=str)", baseline)):
        print(f"{label:<58} {statistics.median(seconds) * 1e3:>7.1f} {min(seconds) * 1e3:>7.1f}")


if __name__ == "__main__":
    main()
