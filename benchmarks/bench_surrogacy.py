"""The exact engine of the surrogacy model: time of one fit, and coverage of the 95% interval of the trial-level
correlation rho at k = 10 and 30 trials.

Time: the median over REPEATS fits (``fit_surrogacy``, every summary and the new trial's prediction) of the HAIC
ORR-OS pairs (k = 7) and of simulated data sets with k = 10 and 30.

Coverage: two simulation schemes, each with R replicates per k (standard errors of both effects uniform on (0.1,
0.4), within-study correlation 0 as the model assumes):
- prior: mu, tau and rho drawn from the model's own priors (normal(0, 4), half-normal(0.5), LKJ(1) = uniform);
  averaged over the prior, the exact posterior covers with exactly the nominal probability (Cook, Gelman & Rubin
  2006), so this checks the implementation;
- fixed: one realistic truth (rho = -0.7, tau_x = 0.5, tau_y = 0.3, mu = (0.8, -0.5)), the frequentist coverage at
  that point, where the LKJ(1) prior pulls the few-trial posterior towards 0.
Each replicate is fitted with the default rule (32 nodes per axis) and its rho interval read from the grid.

Usage: python benchmarks/bench_surrogacy.py [R] [REPEATS]   (default R = 400, REPEATS = 7)
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from bayesmeta.surrogacy import EffectPairs, Priors, fit_surrogacy
from bayesmeta.surrogacy.exact import fit_grid

KS = (10, 30)
FIXED = {"mu": (0.8, -0.5), "tau": (0.5, 0.3), "rho": -0.7}


def simulate(k: int, rng: np.random.Generator, scheme: str) -> tuple[EffectPairs, float]:
    if scheme == "prior":
        mu = rng.normal(0, 4, 2)
        tau = np.abs(rng.normal(0, 0.5, 2))
        rho = rng.uniform(-1, 1)
    else:
        mu, tau, rho = np.array(FIXED["mu"]), np.array(FIXED["tau"]), FIXED["rho"]
    cov = np.array([[tau[0] ** 2, rho * tau[0] * tau[1]], [rho * tau[0] * tau[1], tau[1] ** 2]])
    true = rng.multivariate_normal(mu, cov, size=k)
    sx, sy = rng.uniform(0.1, 0.4, k), rng.uniform(0.1, 0.4, k)
    x, y = true[:, 0] + sx * rng.standard_normal(k), true[:, 1] + sy * rng.standard_normal(k)
    pairs = EffectPairs("X", "Y", "RR", "HR", tuple(f"s{i}" for i in range(k)), x, sx, y, sy)
    return pairs, float(rho)


def haic_pairs() -> EffectPairs:
    from bayesmeta.data import load_outcomes, load_studies
    from bayesmeta.surrogacy import effect_pairs

    studies = load_studies("data/haic_studies.csv")
    return effect_pairs(load_outcomes("data/haic_outcomes.csv", studies=studies), "ORR", "OS", studies)


def timing(repeats: int) -> None:
    print(f"{'data':12} {'k':>3} {'median s':>9} {'min s':>7} {'rho error':>9}")
    rng = np.random.default_rng(11)
    cases = [("HAIC ORR-OS", haic_pairs())] + [("simulated", simulate(k, rng, "fixed")[0]) for k in KS]
    for name, pairs in cases:
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            fit = fit_surrogacy(pairs, new_x=2.2)
            seconds.append(time.perf_counter() - start)
        print(f"{name:12} {pairs.k:3d} {np.median(seconds):9.2f} {min(seconds):7.2f} "
              f"{fit.diagnostics['quadrature_error']['rho']:9.1e}", flush=True)


def coverage(replicates: int) -> None:
    print(f"{'scheme':7} {'k':>3} {'R':>4} {'coverage':>9} {'MC SE':>6} {'median width':>12} {'seconds':>7}")
    priors = Priors()
    for scheme in ("prior", "fixed"):
        for k in KS:
            rng = np.random.default_rng([k, 0 if scheme == "prior" else 1])
            hits, widths = [], []
            start = time.perf_counter()
            for _ in range(replicates):
                pairs, rho = simulate(k, rng, scheme)
                grid = fit_grid(pairs.x, pairs.sx, pairs.y, pairs.sy, priors)
                lo, hi = grid.quantiles("rho", [0.025, 0.975])
                hits.append(lo <= rho <= hi)
                widths.append(hi - lo)
            print(f"{scheme:7} {k:3d} {replicates:4d} {np.mean(hits):9.3f} "
                  f"{math.sqrt(0.95 * 0.05 / replicates):6.3f} {np.median(widths):12.2f} "
                  f"{time.perf_counter() - start:7.0f}", flush=True)


if __name__ == "__main__":
    timing(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
    coverage(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
