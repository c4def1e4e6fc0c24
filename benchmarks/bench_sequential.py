"""Timing of sequential monitoring: the HAIC overall-survival sequence, and the rule's operating characteristics
(n_sim = 1000 sequences x 4 heterogeneity levels x 2 true hazard ratios, all looks by the batched exact engine).

Run: ``.venv/bin/python benchmarks/bench_sequential.py [--repeats 5] [--oc-repeats 3] [--json]``
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
from bayesmeta.sequential import monitor, operating_characteristics

MU_PRIOR = "normal(0, 4)"
TAU_PRIOR = "halfnormal(0.5)"


def _median_seconds(fn, repeats: int) -> tuple[float, list[float], float, object]:
    """Median wall-clock seconds, all wall times, median CPU seconds of this process, last value."""
    times, cpu, value = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        value = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), times, statistics.median(cpu), value


def run(repeats: int = 5, oc_repeats: int = 3, n_sim: int = 1000) -> dict[str, object]:
    """Median wall-clock seconds of :func:`monitor` on HAIC OS and of :func:`operating_characteristics`."""
    os_effects = effects_for("OS")
    y, s = os_effects["yi"].to_numpy(), os_effects["sei"].to_numpy()
    years, ids = os_effects["year"].to_numpy(), list(os_effects["study_id"])

    def do_monitor():
        return monitor(
            y,
            s,
            years,
            study=ids,
            measure="HR",
            sample_sizes=os_effects["n_total"].to_numpy(),
            mu_prior=MU_PRIOR,
            tau_prior=TAU_PRIOR,
        )

    do_monitor()  # warm-up: imports and first-call set-up
    t_mon, mon_times, cpu_mon, result = _median_seconds(do_monitor, repeats)

    def do_oc():
        return operating_characteristics(
            len(y),
            s,
            true_ratio=(1.0, 0.7),
            tau_values=(0.0, 0.1, 0.2, 0.4),
            n_sim=n_sim,
            seed=1,
            mu_prior=MU_PRIOR,
            tau_prior=TAU_PRIOR,
        )

    t_oc, oc_times, cpu_oc, oc = _median_seconds(do_oc, oc_repeats)
    # a sequence costs one exact fit per look up to its stop (or all k looks when it never stops)
    looks_run = oc["p_no_stop"] * len(y) + (1 - oc["p_no_stop"]) * oc["mean_look"].fillna(0)
    datasets = round(float((looks_run * n_sim).sum()))
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "numpy": np.__version__},
        "monitor_haic_os": {
            "k": len(y),
            "median_s": t_mon,
            "times_s": mon_times,
            "median_cpu_s": cpu_mon,
            "first_stop": None if result.first_stop is None else result.first_stop._asdict(),
        },
        "operating_characteristics": {
            "n_sim": n_sim,
            "scenarios": 8,
            "looks": len(y),
            "datasets": datasets,
            "datasets_without_stopping": n_sim * 8 * len(y),
            "median_s": t_oc,
            "times_s": oc_times,
            "median_cpu_s": cpu_oc,
            "datasets_per_cpu_s": datasets / cpu_oc,
            "table": oc.to_dict(orient="records"),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--oc-repeats", type=int, default=3)
    parser.add_argument("--n-sim", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = run(args.repeats, args.oc_repeats, args.n_sim)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    mon, oc = out["monitor_haic_os"], out["operating_characteristics"]
    print(
        f"monitor, HAIC OS (k = {mon['k']}): median {mon['median_s'] * 1e3:.1f} ms wall, "
        f"{mon['median_cpu_s'] * 1e3:.1f} ms CPU over {len(mon['times_s'])} runs;"
        f" first stop {mon['first_stop']}"
    )
    print(
        f"operating characteristics, n_sim = {oc['n_sim']} x 4 tau x 2 truths x {oc['looks']} looks"
        f": median {oc['median_s']:.2f} s wall, {oc['median_cpu_s']:.2f} s CPU over {len(oc['times_s'])} runs; "
        f"{oc['datasets']} exact fits (of {oc['datasets_without_stopping']} without early stopping), "
        f"{oc['datasets_per_cpu_s']:.0f} fits per CPU second"
    )
    for row in oc["table"]:
        print(
            f"  HR {row['true_ratio']:.2f} tau {row['tau']:.1f}: P(benefit) {row['p_benefit']:.3f}, "
            f"P(futility) {row['p_futility']:.3f}, mean look {row['mean_look']:.2f}"
        )


if __name__ == "__main__":
    main()
