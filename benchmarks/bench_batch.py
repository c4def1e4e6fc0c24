"""Benchmark of the batch reanalysis (goals: >= 1,000 meta-analyses per second per core with every summary, k <= 20;
100,000 meta-analyses x 4 prior sets on 2 cores in <= 10 minutes).

Run: python benchmarks/bench_batch.py [--n 20000] [--full]
     python benchmarks/bench_batch.py --memory 5000,20000 [--priors 1]
- per core: process_partition (read + exact fit with every summary + DL/REML/HK) on 1,000 simulated
  meta-analyses (k uniform in 2..20) under one prior set, in this process; median of REPEATS;
- on Dask: run_batch on n meta-analyses x 4 prior sets with a LocalCluster of 1 and of 2 worker processes
  (partitions of 1,000), wall time including the cluster's start, and the peak resident memory of the driver and
  of the largest worker; --full runs n = 100,000 with 2 workers;
- on paper: a 64-core cluster from the measured cost of one partition;
- --memory: for each n, a batch run (2 worker processes, partitions of 1,000, the figure drawn) as the command
  line would run it, in a fresh process that builds nothing else: its peak resident memory (the driver:
  getrusage RUSAGE_SELF ru_maxrss) and the largest of its reaped children (the Dask worker processes:
  RUSAGE_CHILDREN), beside its resident memory after the imports.
Timings are wall-clock and CPU seconds on a shared 2-core machine (the load average is printed): under load the
CPU time is the cost per core; wall time then mostly measures the other work.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import json
import resource
import statistics
import subprocess
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


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def driver(table: str, out: str, priors: int) -> None:
    """One batch run as the command line runs it; prints the peak memory of this process and of its workers."""
    options = BatchOptions(group="meta_id", prior_sets=PRIOR_SETS[:priors], thresholds=(1.0,), measure="HR",
                           partition_size=1000)
    import distributed  # noqa: F401  (imported before the baseline, as the run imports it)
    import matplotlib.pyplot  # noqa: F401

    baseline = _rss_mb()
    summary = run_batch(table, out, options, workers=2, progress=False, figure=True)
    print(json.dumps({"rows": summary.rows, "seconds": summary.seconds, "baseline_mb": baseline,
                      "driver_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def memory(sizes: list[int], priors: int) -> None:
    """Peak resident memory of a batch run's driver and largest worker at each n (a fresh process each)."""
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            table = make_table(n, Path(tmp) / f"table-{n}.csv", seed=3)
            size = table.stat().st_size / 2**20
            run = subprocess.run([sys.executable, __file__, "--driver", str(table), str(Path(tmp) / f"out-{n}"),
                                  "--priors", str(priors)], capture_output=True, text=True, check=True)
            got = json.loads(run.stdout.strip().splitlines()[-1])
            print(f"memory, {n:,} meta-analyses x {priors} prior set(s) ({size:.0f} MB of CSV, {got['rows']:,} rows "
                  f"out, {got['seconds']:.0f} s): driver peak {got['driver_mb']:.0f} MB (after imports "
                  f"{got['baseline_mb']:.0f} MB), largest worker peak {got['worker_mb']:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--full", action="store_true", help="also 100,000 meta-analyses x 4 prior sets, 2 workers")
    parser.add_argument("--memory", help="comma-separated n: peak memory of driver and worker at each")
    parser.add_argument("--priors", type=int, default=1, help="prior sets in the --memory runs (1-4)")
    parser.add_argument("--driver", nargs=2, metavar=("TABLE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        driver(*args.driver, args.priors)
        return 0
    if args.memory:
        print(f"load average before: {os.getloadavg()}")
        memory([int(n) for n in args.memory.split(",")], args.priors)
        print(f"load average after: {os.getloadavg()}")
        return 0
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
