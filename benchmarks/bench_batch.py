"""Benchmark of the batch reanalysis (goals: >= 1,000 meta-analyses per second per core with every summary, k <= 20;
100,000 meta-analyses x 4 prior sets on 2 cores in <= 10 minutes).

Run: python benchmarks/bench_batch.py [--n 20000] [--full]
- per core: process_partition (read + exact fit with every summary + DL/REML/HK) on 1,000 simulated
  meta-analyses (k uniform in 2..20) under one prior set, in this process; median of REPEATS;
- on Dask: run_batch on n meta-analyses x 4 prior sets with a LocalCluster of 1 and of 2 worker processes
  (partitions of 1,000), wall time including the cluster's start, and the peak resident memory of the driver and
  of the largest worker; --full runs n = 100,000 with 2 workers;
- on paper: a 64-core cluster from the measured cost of one partition.
Timings are wall-clock and CPU seconds on a shared 2-core machine (the load average is printed): under load the
CPU time is the cost per core; wall time then mostly measures the other work.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
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


def per_core(table: Path) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds, medians, of one partition of 1,000 meta-analyses under 1 and under 4 prior sets."""
    frame = read_long_table(table, "meta_id")
    first = frame[frame.meta_id.isin(frame.meta_id.unique()[:1000])]
    one = BatchOptions(group="meta_id", prior_sets=("weakly_informative",), thresholds=(1.0,), measure="HR")
    four = BatchOptions(group="meta_id", prior_sets=PRIOR_SETS, thresholds=(1.0,), measure="HR")
    process_partition(first, one, str(table))  # warm up
    out = {}
    for name, options, repeats in (("1", one, REPEATS), ("4", four, 3)):
        times = [_timed(lambda: process_partition(first, options, str(table))) for _ in range(repeats)]
        out[name] = (statistics.median(t[0] for t in times), statistics.median(t[1] for t in times))
    return out


def _timed(f) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    f()
    return time.perf_counter() - wall, time.process_time() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def on_dask(table: Path, workers: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of the worker processes (reaped children), rows."""
    options = BatchOptions(group="meta_id", prior_sets=PRIOR_SETS, thresholds=(1.0,), measure="HR",
                           partition_size=1000)
    before = _children_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        summary = run_batch(table, Path(tmp) / "out", options, workers=workers, progress=False, figure=False)
    return summary.seconds, _children_cpu() - before, summary.rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--full", action="store_true", help="also 100,000 meta-analyses x 4 prior sets, 2 workers")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        table = make_table(max(args.n, 1000), Path(tmp) / "table.csv")
        cost = per_core(table)
        for name, (wall, cpu) in cost.items():
            print(f"one partition, 1,000 meta-analyses x {name} prior set(s): wall {wall:.2f} s, CPU {cpu:.2f} s -> "
                  f"{1000 * int(name) / cpu:,.0f} fits/s per core of CPU time ({1000 / cpu:,.0f} meta-analyses/s "
                  f"x {name} prior sets)")
        walls = {}
        for workers in (1, 2):
            wall, cpu, rows = on_dask(table, workers)
            walls[workers] = wall
            print(f"dask, {workers} worker(s): {args.n:,} x 4 = {rows:,} rows in {wall:.1f} s wall, workers' CPU "
                  f"{cpu:.1f} s ({rows / wall:,.0f} fits/s wall, {rows / cpu:,.0f} fits/s per CPU second)")
        print(f"speed-up 1 -> 2 workers (wall): {walls[1] / walls[2]:.2f}")
        cpu4 = cost["4"][1]
        print(f"100,000 x 4 from the measured CPU cost of a partition: {100 * cpu4:.0f} CPU s, on 2 free cores "
              f"{100 * cpu4 / 2 / 60:.1f} min (extrapolated)")
        if args.full:
            big = make_table(100_000, Path(tmp) / "big.csv", seed=2)
            wall, cpu, rows = on_dask(big, 2)
            print(f"dask, 2 workers: 100,000 x 4 = {rows:,} rows in {wall:.0f} s ({wall / 60:.1f} min), "
                  f"workers' CPU {cpu:.0f} s")
        rounds = int(np.ceil(100 / 64))
        print(f"on paper, 64 cores: 100 partitions of 1,000 x 4 in {rounds} rounds of {cpu4:.1f} s = "
              f"{rounds * cpu4:.0f} s of compute (+ reading the table and the scheduler's start)")
    print(f"peak resident memory: driver {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, "
          f"largest worker {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
