"""Timing of the full prior-sensitivity study with the exact engine for the four HAIC outcomes (OS, PFS, ORR,
DCR): the prior grid (5 named prior sets x their own tau prior and 4 half-normal scales), power-scaling
sensitivity (prior and likelihood, mu, tau and predictive) and leave-one-study-out influence.

Run: ``.venv/bin/python benchmarks/bench_sensitivity.py [--repeats 5] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from bayesmeta.effects import effects_for
from bayesmeta.influence import leave_one_out
from bayesmeta.priors import load_prior_sets
from bayesmeta.sensitivity import conclusion_changes, power_scaling, prior_grid
from bayesmeta.tables import effect_table_from_frame

MU_PRIOR = "normal(0, 4)"
TAU_PRIOR = "halfnormal(0.5)"
OUTCOMES = {"OS": ("HR", "below"), "PFS": ("HR", "below"), "ORR": ("RR", "above"), "DCR": ("RR", "above")}


def study(outcome: str, sets: dict) -> dict[str, object]:
    """Grid + conclusion bands + power-scaling + influence for one outcome."""
    measure, benefit = OUTCOMES[outcome]
    data = effect_table_from_frame(effects_for(outcome), measure, source=outcome, benefit=benefit)
    thresholds = (1.0, 0.8, 0.7) if benefit == "below" else (1.0, 1.25, 1.4286)
    decisive = 0.7 if benefit == "below" else 1.4286
    grid = prior_grid(data, prior_sets=sets, thresholds=thresholds)
    bands = conclusion_changes(grid, threshold=decisive)
    power = power_scaling(data, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR)
    loo = leave_one_out(data, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, thresholds=(1.0, decisive))
    return {
        "k": data.k,
        "grid_rows": len(grid),
        "robust": bool(bands.attrs["robust"]),
        "power": power.to_dict(orient="records"),
        "most_influential": str(loo["kl"].idxmax()),
        "max_kl": float(loo["kl"].max()),
    }


def run(repeats: int = 5) -> dict[str, object]:
    sets = load_prior_sets()
    study("OS", sets)  # warm-up: imports and first-call set-up
    times: dict[str, list[float]] = {o: [] for o in OUTCOMES}
    totals: list[float] = []
    results: dict[str, object] = {}
    for _ in range(repeats):
        start_all = time.perf_counter()
        for outcome in OUTCOMES:
            start = time.perf_counter()
            results[outcome] = study(outcome, sets)
            times[outcome].append(time.perf_counter() - start)
        totals.append(time.perf_counter() - start_all)
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "numpy": np.__version__},
        "repeats": repeats,
        "total_median_s": statistics.median(totals),
        "total_times_s": totals,
        "outcomes": {o: {**results[o], "median_s": statistics.median(times[o])} for o in OUTCOMES},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = run(args.repeats)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"full sensitivity study, 4 outcomes: median {out['total_median_s']:.2f} s over {out['repeats']} runs "
        f"(target <= 5 s)"
    )
    for o, r in out["outcomes"].items():
        sens = ", ".join(f"{p['parameter']} {p['prior']:.3f}/{p['likelihood']:.3f}" for p in r["power"])
        print(
            f"  {o} (k = {r['k']}, {r['grid_rows']} priors): {r['median_s']:.2f} s; conclusion robust: "
            f"{r['robust']}; prior/likelihood sensitivity {sens}; most influential {r['most_influential']} "
            f"(KL {r['max_kl']:.3f})"
        )


if __name__ == "__main__":
    main()
