"""Benchmarks of the bias ensembles (`python benchmarks/bench_bias.py [--simulate REPS]`).

Timing: the psma ensemble (36 models) on k = 20 simulated studies and its Gaussian-conditional part (FE/RE x
H0/H1, PET, PEESE: 12 models), medians over repeats.

Simulation with known truth (--simulate): mu = 0.2, tau = 0.1 on the SMD scale, se ~ U(0.05, 0.4); without
selection every study is published, with selection a study with one-sided p >= 0.05 is published with
probability 0.2. Per k = 10, 30, 60: median inclusion BF for bias, and the root mean square error of the
model-averaged posterior mean of mu and of the unadjusted one (random effects, no bias, effect present).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bayesmeta.bias import default_priors, fit_bias, psma_ensemble
from bayesmeta.bias.gaussian import fit_gaussian
from bayesmeta.bias.posteriors import gaussian_posteriors
from bayesmeta.bias.ensemble import grid_for

MU, TAU = 0.2, 0.1


def simulate(k: int, selection: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ys, ss = [], []
    while len(ys) < k:
        s = rng.uniform(0.05, 0.4)
        y = rng.normal(rng.normal(MU, TAU), s)
        p = 0.5 * (1 - __import__("math").erf(y / s / 2**0.5))
        if not selection or p < 0.05 or rng.uniform() < 0.2:
            ys.append(y)
            ss.append(s)
    return np.array(ys), np.array(ss)


def time_it(fn, repeats: int) -> tuple[float, float]:
    """Median wall-clock and median CPU time (the latter less sensitive to other users of shared cores)."""
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def timing(repeats: int) -> None:
    y, s = simulate(20, False, np.random.default_rng(1))
    pri = default_priors("SMD")
    gauss = [m for m in psma_ensemble().models if m.bias != "selection"]
    x = grid_for(y, s)
    t_ml = time_it(lambda: [fit_gaussian(m, pri, y, s) for m in gauss], repeats)
    t_post = time_it(lambda: [gaussian_posteriors(fit_gaussian(m, pri, y, s), x) for m in gauss], repeats)
    t_psma = time_it(lambda: fit_bias(y, s, measure="SMD", ensemble="psma"), max(repeats // 3, 1))
    worst = max(fit_bias(y, s, measure="SMD", ensemble="psma").models, key=lambda m: m.log_ml_error)
    print(f"Gaussian-conditional part (12 models), marginal likelihoods: wall {t_ml[0] * 1e3:.0f} ms, "
          f"CPU {t_ml[1] * 1e3:.0f} ms")
    print(f"  ... with the posteriors of mu and the new study:          wall {t_post[0] * 1e3:.0f} ms, "
          f"CPU {t_post[1] * 1e3:.0f} ms")
    print(f"psma ensemble (36 models), k = 20:                           wall {t_psma[0]:.2f} s, "
          f"CPU {t_psma[1]:.2f} s")
    print(f"  largest log marginal likelihood error estimate: {worst.log_ml_error:.2g} ({worst.name})")


def rmse_mcse(err: list[float]) -> tuple[float, float]:
    """Root mean square error and its Monte Carlo standard error sd(e^2) / (2 RMSE sqrt(n)) (delta method)."""
    sq = np.square(err)
    rmse = float(np.sqrt(np.mean(sq)))
    return rmse, float(np.std(sq, ddof=1) / (2 * rmse * np.sqrt(len(sq))))


def simulation(reps: int) -> None:
    rng = np.random.default_rng(2026)
    start = time.process_time()
    print("| k | selection | median BF_bias | share BF_bias > 1 | RMSE averaged mu (MCSE) | "
          "RMSE unadjusted mu (MCSE) |")
    print("|---|---|---|---|---|---|")
    for k in (10, 30, 60):
        for sel in (False, True):
            bfs, err_avg, err_un = [], [], []
            for _ in range(reps):
                y, s = simulate(k, sel, rng)
                res = fit_bias(y, s, measure="SMD", ensemble="psma")
                bfs.append(res.inclusion["bias"].bf)
                err_avg.append(res.mu.mean() - MU)
                un = next(m for m in res.models if m.spec.effect and m.spec.heterogeneity and m.spec.bias == "none")
                err_un.append(un.mu.mean() - MU)
            (ra, sa), (ru, su) = rmse_mcse(err_avg), rmse_mcse(err_un)
            share = float(np.mean(np.asarray(bfs) > 1))
            print(f"| {k} | {'yes' if sel else 'no'} | {statistics.median(bfs):.2f} | {share:.2f} | "
                  f"{ra:.3f} ({sa:.3f}) | {ru:.3f} ({su:.3f}) |", flush=True)
    print(f"{reps} replicates per cell; CPU {time.process_time() - start:.0f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--simulate", type=int, default=0, help="replicates per cell (0: timing only)")
    a = ap.parse_args()
    if a.simulate:
        simulation(a.simulate)
    else:
        timing(a.repeats)
