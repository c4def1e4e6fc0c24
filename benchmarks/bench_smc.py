"""Benchmarks of the selection models fitted by sequential Monte Carlo (`python benchmarks/bench_smc.py [--seeds N]
[--repeats N]`; bayesmeta.bias.smc).

Timing: one 7-dimensional model (mu, tau, five one-sided cut-offs 0.01, 0.025, 0.05, 0.1, 0.5) on k = 20 studies
simulated with selection (the data of bench_bias.simulate), median over repeats (seeds 0, 1, ...).

Honesty of the reported standard error: over N seeds, the standard deviation of the N estimates of log p(y) against
the root mean square of the N reported standard errors (ratio near 1 when the reported error is honest), for a
5-dimensional model (three cut-offs, which the tensor rule integrates exactly: also the mean error against the rule
in reported standard errors) and for the 7-dimensional one.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bayesmeta.bias import ModelSpec, WeightFunction, default_priors
from bayesmeta.bias.selection import fit_selection
from bayesmeta.bias.smc import fit_selection_smc

from bench_bias import simulate

SEVEN = ModelSpec(True, True, "selection", WeightFunction("one", (0.01, 0.025, 0.05, 0.1, 0.5)))
FIVE = ModelSpec(True, True, "selection", WeightFunction("one", (0.025, 0.05, 0.5)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    y, s = simulate(20, True, np.random.default_rng(2024))
    priors = default_priors("SMD")
    times = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        fit_selection_smc(SEVEN, priors, y, s, seed=r)
        times.append(time.perf_counter() - t0)
    print(f"7-dimensional selection model, k = 20: SMC fit median {statistics.median(times):.2f} s over "
          f"{args.repeats} runs (min {min(times):.2f}, max {max(times):.2f})")
    rule = fit_selection(FIVE, priors, y, s).integral
    for name, spec, exact in (("5-dimensional", FIVE, rule.log_value), ("7-dimensional", SEVEN, None)):
        fits = [fit_selection_smc(spec, priors, y, s, seed=100 + i) for i in range(args.seeds)]
        est = np.array([f.log_value for f in fits])
        se = np.array([f.log_error for f in fits])
        rms = float(np.sqrt(np.mean(se**2)))
        line = (f"{name}: {args.seeds} seeds, sd of the estimates {np.std(est, ddof=1):.4f}, rms reported SE "
                f"{rms:.4f}, ratio {np.std(est, ddof=1) / rms:.2f}, warnings {sum(bool(f.warnings) for f in fits)}")
        if exact is not None:
            z = (est - exact) / se
            line += (f"; against the tensor rule ({exact:.4f} +- {rule.log_error:.1e}): mean error "
                     f"{np.mean(est - exact):+.4f}, max |error| / SE {np.max(np.abs(z)):.2f}")
        print(line)


if __name__ == "__main__":
    main()
