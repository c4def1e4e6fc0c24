"""Coverage of the 95% interval of the trial-level correlation rho of the surrogacy model at k = 10 and 30 trials.

Two simulation schemes, each with R replicates per k (standard errors of both effects uniform on (0.1, 0.4),
within-study correlation 0 as the model assumes):
- prior: mu, tau and rho drawn from the model's own priors (normal(0, 4), half-normal(0.5), LKJ(1) = uniform);
  averaged over the prior, a correct posterior covers with exactly the nominal probability (Cook, Gelman & Rubin
  2006), so this checks the implementation;
- fixed: one realistic truth (rho = -0.7, tau_x = 0.5, tau_y = 0.3, mu = (0.8, -0.5)), the frequentist coverage
  at that point, where the LKJ(1) prior pulls the few-trial posterior towards 0.

Usage: python benchmarks/bench_surrogacy.py [R]   (default R = 100; each fit 2 chains x 1000 draws)
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from bayesmeta.surrogacy import EffectPairs, Priors, fit_surrogacy

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
    pairs = EffectPairs("X", "Y", "GEN", "GEN", tuple(f"s{i}" for i in range(k)), x, sx, y, sy)
    return pairs, float(rho)


def main(replicates: int) -> None:
    print(f"{'scheme':7} {'k':>3} {'R':>4} {'coverage':>9} {'MC SE':>6} {'median width':>12} {'warned':>6} "
          f"{'seconds':>7}")
    for scheme in ("prior", "fixed"):
        for k in KS:
            rng = np.random.default_rng([k, 0 if scheme == "prior" else 1])
            hits, widths, warned = [], [], 0
            start = time.perf_counter()
            for r in range(replicates):
                pairs, rho = simulate(k, rng, scheme)
                fit = fit_surrogacy(pairs, priors=Priors(), draws=1000, tune=500, chains=2, cores=1, seed=r,
                                    pad_to=32)
                hits.append(fit.rho.ci_lower <= rho <= fit.rho.ci_upper)
                widths.append(fit.rho.width)
                warned += bool(fit.warnings)
            cover = float(np.mean(hits))
            print(f"{scheme:7} {k:3d} {replicates:4d} {cover:9.3f} {math.sqrt(0.95 * 0.05 / replicates):6.3f} "
                  f"{np.median(widths):12.2f} {warned:6d} {time.perf_counter() - start:7.0f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
