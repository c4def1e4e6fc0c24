"""Benchmark of the NUTS engine (budget: median refit <= 2 s for 4 chains x 1000 draws, k = 17, after the first
compile; the first compile is reported, not budgeted).

Run: python benchmarks/bench_mcmc.py  (exit status 1 when the median refit exceeds its budget)

Cases (k = 17 simulated log hazard ratios, priors normal(0, 4) and halfnormal(0.5), 1000 tuning + 1000 draws in
each of 4 chains on at most 2 cores):
- first fit: compiling the model structure (nutpie/numba) plus sampling;
- refit: 5 fits with new data of the same structure (new effects each time, then leave-one-out with k = 16 in
  the same padded slots, then another tau prior scale), each a compiled-model cache hit: swapping data,
  sampling, diagnostics and the Posterior with its InferenceData.
"""

from __future__ import annotations

import statistics
import sys
import time
from importlib import metadata

import numpy as np

from bayesmeta.mcmc import CACHE, fit_nuts

K = 17
BUDGET_SECONDS = 2.0
RNG = np.random.default_rng(20250101)
SEI = RNG.uniform(0.1, 0.5, K)
SETTINGS = {"draws": 1000, "tune": 1000, "chains": 4, "cores": 2, "pad_to": K}


def _effects(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(-0.4, 0.25, K) + rng.normal(0.0, SEI)


def main() -> int:
    start = time.perf_counter()
    first = fit_nuts(_effects(RNG), SEI, seed=0, **SETTINGS)
    first_seconds = time.perf_counter() - start
    compile_seconds = first.diagnostics["settings"]["compile_seconds"]

    refits = [
        lambda: fit_nuts(_effects(RNG), SEI, seed=1, **SETTINGS),
        lambda: fit_nuts(_effects(RNG), SEI, seed=2, **SETTINGS),
        lambda: fit_nuts(_effects(RNG), SEI, seed=3, **SETTINGS),
        lambda: fit_nuts(_effects(RNG)[1:], SEI[1:], seed=4, **SETTINGS),
        lambda: fit_nuts(
            _effects(RNG), SEI, seed=5, tau_prior="halfnormal(1)", **SETTINGS
        ),
    ]
    times, sampling, hits = [], [], []
    for refit in refits:
        start = time.perf_counter()
        post = refit()
        times.append(time.perf_counter() - start)
        sampling.append(post.diagnostics["settings"]["sampling_seconds"])
        hits.append(post.diagnostics["settings"]["cache_hit"])
    median = statistics.median(times)
    print(
        f"nutpie {metadata.version('nutpie')}, pymc {metadata.version('pymc')}, "
        f"pytensor {metadata.version('pytensor')}, numba {metadata.version('numba')}"
    )
    print(f"first fit: {first_seconds:.2f} s (compile {compile_seconds:.2f} s)")
    print(
        f"refits: median {median:.2f} s (sampling alone {statistics.median(sampling):.2f} s); "
        f"all {', '.join(f'{t:.2f}' for t in times)} s; compiles in total: {CACHE.compiles}"
    )
    if not all(hits) or CACHE.compiles != 1:
        print("FAIL: a refit compiled the model again")
        return 1
    if median > BUDGET_SECONDS:
        print(
            f"FAIL: median refit {median:.2f} s exceeds the budget of {BUDGET_SECONDS} s"
        )
        return 1
    print(f"OK (budget {BUDGET_SECONDS} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
