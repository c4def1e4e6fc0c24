"""Benchmark of the command line's start (budgets: `bayesmeta --help` <= 0.3 s; `bayesmeta fit --engine exact` on
k = 17 studies, end to end, <= 1.0 s).

Run: python benchmarks/bench_cli.py  (exit status 1 when a median exceeds its budget; BENCH_REPEATS=n sets the
number of timed runs, 11 by default)

Each case runs `python -m bayesmeta ...` (the code of the `bayesmeta` console script, bayesmeta/console.py) as a
fresh process REPEATS times (after one warm-up run, so that the byte code is compiled and cached, even where
PYTHONDONTWRITEBYTECODE is set, and the help texts are in the user's help cache, as after any first `--help`)
and reports the median and the fastest wall-clock time. The data: the k = 17 simulated log
hazard ratios of bench_exact.py, written to a temporary CSV. A bare `python -c pass` is timed alongside as the
floor that no command can go below. On a machine shared with other work the medians vary by a factor of two or
more; the fastest run shows what the machine gives when it is free, and the CPU time (user + system, median)
what the command itself costs, which depends much less on the load.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPEATS = int(os.environ.get("BENCH_REPEATS", 11))
K = 17
RNG = np.random.default_rng(20250101)
SEI = RNG.uniform(0.1, 0.5, K)
Y = RNG.normal(-0.4, 0.25, K) + RNG.normal(0.0, SEI)


# as after an ordinary install: byte code written by the warm-up run and read by the timed ones
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def seconds(argv: list[str]) -> tuple[float, float, float]:
    """Median and minimum wall-clock seconds and median CPU seconds (user + system) of running argv."""
    subprocess.run(argv, check=True, capture_output=True, env=ENV)
    times, cpus = [], []
    for _ in range(REPEATS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=ENV)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), min(times), statistics.median(cpus)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "k17.csv"
        rows = "".join(f"S{i + 1},{y!r},{s!r}\n" for i, (y, s) in enumerate(zip(Y.tolist(), SEI.tolist())))
        data.write_text("study,yi,sei\n" + rows)
        cli = [sys.executable, "-m", "bayesmeta"]
        cases = [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"], None),
            ("bayesmeta --help", [*cli, "--help"], 0.3),
            ("bayesmeta fit --help", [*cli, "fit", "--help"], 0.3),
            ("fit --engine exact, k=17", [*cli, "fit", str(data), "--measure", "HR", "--engine", "exact"], 1.0),
            ("fit --engine exact --json", [*cli, "fit", str(data), "--measure", "HR", "--json"], 1.0),
        ]
        print(f"{'case':<28} {'median':>9} {'fastest':>9} {'CPU':>8} {'budget':>8}")
        ok = True
        for name, argv, budget in cases:
            median, fastest, cpu = seconds(argv)
            limit = "-" if budget is None else f"{budget:.1f} s"
            print(f"{name:<28} {median:>7.2f} s {fastest:>7.2f} s {cpu:>6.2f} s {limit:>8}")
            ok &= budget is None or median <= budget
    print(f"(wall-clock seconds over {REPEATS} fresh processes; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
