"""Benchmark of the exact engine (budgets: one k = 17 fit with every summary <= 5 ms; a 100-prior grid <= 1 s).

Run: python benchmarks/bench_exact.py  (exit status 1 when a median exceeds its budget)

Cases:
- fit + every summary: fit_exact on k = 17 simulated log hazard ratios, then Posterior.summary() (mean, sd, median
  and central 95% interval of mu, tau, predictive and all 17 theta_i), Posterior.shrinkage() (the study effects
  against the observed ones), the 95% predictive interval and the shortest 95% intervals of mu, tau and predictive;
- prior grid: fit_exact_priors over 10 x 10 (normal sd of mu, half-normal scale of tau) prior pairs, then the
  central 95% intervals of mu and tau and P(mu < 0) for every member;
- 4000 joint draws: Posterior.get_draws on the k = 17 fit.

Timings are medians and fastest runs of wall-clock and of CPU time; on a machine shared with other work the wall
times vary by a factor of two or more, the CPU times less.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

from bayesmeta.exact import fit_exact, fit_exact_priors

REPEATS = 40
K = 17
RNG = np.random.default_rng(20250101)
SEI = RNG.uniform(0.1, 0.5, K)
Y = RNG.normal(-0.4, 0.25, K) + RNG.normal(0.0, SEI)
GRID = [(f"normal(0, {m:g})", f"halfnormal({t:g})") for m in np.linspace(0.5, 5, 10) for t in np.linspace(0.1, 1.5, 10)]


def fit_and_summarise() -> None:
    post = fit_exact(Y, SEI, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)")
    post.summary()
    post.shrinkage()
    post.predictive_interval()
    for name in ("mu", "tau", "predictive"):
        post.marginal(name).interval(0.95, "shortest")


def prior_grid() -> None:
    batch = fit_exact_priors(Y, SEI, priors=GRID)
    batch.interval(0.95, "mu")
    batch.interval(0.95, "tau")
    batch.cdf(0.0, "mu")


POST = fit_exact(Y, SEI, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)")


def joint_draws() -> None:
    POST.get_draws(4000, seed=1)


CASES = [
    ("fit k=17 + every summary", fit_and_summarise, 0.005),
    ("100-prior grid", prior_grid, 1.0),
    ("4000 joint draws (k=17)", joint_draws, None),
]


def median_seconds(fn) -> tuple[float, float, float, float]:
    """Median and fastest wall-clock seconds of ``fn`` over REPEATS calls after a warm-up, and the median and
    fastest CPU seconds of this process (less sensitive to other work on a shared machine)."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(REPEATS):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), min(wall), statistics.median(cpu), min(cpu)


def main() -> int:
    print(f"{'case':<28} {'median':>10} {'fastest':>10} {'CPU median':>11} {'CPU fastest':>12} {'budget':>10}")
    ok = True
    for name, fn, budget in CASES:
        median, fastest, cpu, cpu_fastest = median_seconds(fn)
        limit = "-" if budget is None else f"{budget * 1000:.0f} ms"
        print(f"{name:<28} {median * 1000:>7.1f} ms {fastest * 1000:>7.1f} ms {cpu * 1000:>8.1f} ms "
              f"{cpu_fastest * 1000:>9.1f} ms {limit:>10}")
        ok &= budget is None or median <= budget
    print(f"(medians over {REPEATS} repeats; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          "R bayesmeta needs about 2.4 s for one fit)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
