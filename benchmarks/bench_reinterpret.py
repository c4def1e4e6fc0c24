"""Benchmark: every HR/RR row of data/published_results.csv under the four reference priors (budget: median <= 1 s).

Run: python benchmarks/bench_reinterpret.py  (exit status 1 when the median exceeds the budget)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from bayesmeta.reinterpret import reinterpret_published

PUBLISHED = Path(__file__).resolve().parents[1] / "data" / "published_results.csv"
PRIORS = ("skeptical", "enthusiastic", "pessimistic", "vague")
BUDGET_SECONDS = 1.0
REPEATS = 15


def main() -> int:
    reinterpret_published(PUBLISHED, priors=PRIORS)  # warm-up: imports and caches
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        table = reinterpret_published(PUBLISHED, priors=PRIORS)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    rows = table["row"].nunique()
    print(f"reinterpret_published: {rows} published rows x {len(PRIORS)} priors = {len(table)} posteriors; "
          f"median {median * 1000:.1f} ms over {REPEATS} runs (budget {BUDGET_SECONDS:.1f} s)")
    return 0 if median <= BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
