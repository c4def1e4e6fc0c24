"""Benchmark of the batch reanalysis (goals: >= 1,000 meta-analyses per second per core with every summary, k <= 20;
100,000 meta-analyses x 4 prior sets on 2 cores in <= 10 minutes).

Run: python benchmarks/bench_batch.py [--n 20000] [--full]
- per core: process_partition (read + exact fit with every summary + DL/REML/HK) on 1,000 simulated
  meta-analyses (k uniform in 2..20) under one prior set, in this process; median of REPEATS;
- on Dask: run_batch on n meta-analyses x 4 prior sets with a LocalCluster of 1 and of 2 worker processes
  (partitions of 1,000), wall time including the cluster's start, and the peak resident memory of the driver and
  of the largest worker; --full runs n = 100,000 with 2 workers;
- on paper: a 64-core cluster from the measured cost of one partition.
Timings are wall-clock on a shared 2-core machine (the load average is printed); they vary by a factor of two.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bayesmeta.batch import BatchOptions, process_partition, run_batch  # noqa: E402
from bayesmeta.batch.table import read_long_table  # noqa: E402

PRIOR_SETS = ("weakly_informative", "vague", "skeptical", "empirical")
REPEATS = 5


def make_table(n: int, path: Path, seed: int = 1) -> Path:
    """n meta-analyses of k ~ U{2..20} log ratios with standard errors in [0.1, 0.6]."""
    rng = np.random.default_rng(seed)
    k = rng.integers(2, 21, n)
    group = np.repeat(np.arange(n), k)
    mu = rng.normal(-0.1, 0.2, n)[group]
    tau = np.abs(rng.normal(0, 0.3, n))[group]
    sei = rng.uniform(0.1, 0.6, group.size)
    yi = rng.normal(mu, np.sqrt(tau**2 + sei**2))
    study = np.arange(group.size) - np.repeat(np.cumsum(k) - k, k)
    pd.DataFrame({"meta_id": [f"MA{g:06d}" for g in group], "study": [f"s{s}" for s in study],
                  "yi": yi, "sei": sei}).to_csv(path, index=False)
    return path


def per_core(table: Path) -> tuple[float, float]:
    frame = read_long_table(table, "meta_id")
    first = frame[frame.meta_id.isin(frame.meta_id.unique()[:1000])]
    one = BatchOptions(group="meta_id", prior_sets=("weakly_informative",), thresholds=(1.0,), measure="HR")
    four = BatchOptions(group="meta_id", prior_sets=PRIOR_SETS, thresholds=(1.0,), measure="HR")
    process_partition(first, one, str(table))  # warm up
    t1 = statistics.median(_timed(lambda: process_partition(first, one, str(table))) for _ in range(REPEATS))
    t4 = statistics.median(_timed(lambda: process_partition(first, four, str(table))) for _ in range(3))
    return t1, t4


def _timed(f) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def on_dask(table: Path, workers: int) -> tuple[float, int]:
    options = BatchOptions(group="meta_id", prior_sets=PRIOR_SETS, thresholds=(1.0,), measure="HR",
                           partition_size=1000)
    with tempfile.TemporaryDirectory() as tmp:
        summary = run_batch(table, Path(tmp) / "out", options, workers=workers, progress=False, figure=False)
    return summary.seconds, summary.rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--full", action="store_true", help="also 100,000 meta-analyses x 4 prior sets, 2 workers")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        table = make_table(max(args.n, 1000), Path(tmp) / "table.csv")
        t1, t4 = per_core(table)
        print(f"per core, 1,000 meta-analyses x 1 prior set: {t1:.2f} s -> {1000 / t1:,.0f} meta-analyses/s/core")
        print(f"per core, 1,000 meta-analyses x 4 prior sets (one partition): {t4:.2f} s -> "
              f"{4000 / t4:,.0f} fits/s/core")
        walls = {}
        for workers in (1, 2):
            wall, rows = on_dask(table, workers)
            walls[workers] = wall
            print(f"dask, {workers} worker(s): {args.n:,} x 4 = {rows:,} rows in {wall:.1f} s "
                  f"({args.n / wall:,.0f} meta-analyses/s, {rows / wall:,.0f} fits/s)")
        print(f"speed-up 1 -> 2 workers: {walls[1] / walls[2]:.2f}")
        if args.full:
            big = make_table(100_000, Path(tmp) / "big.csv", seed=2)
            wall, rows = on_dask(big, 2)
            print(f"dask, 2 workers: 100,000 x 4 = {rows:,} rows in {wall:.0f} s ({wall / 60:.1f} min)")
        rounds = int(np.ceil(100 / 64))
        print(f"on paper, 64 cores: 100 partitions of 1,000 x 4 in {rounds} rounds of {t4:.1f} s = "
              f"{rounds * t4:.0f} s of compute (+ reading the table and the scheduler's start)")
    print(f"peak resident memory: driver {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, "
          f"largest worker {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
