"""Benchmark of the caches: compiled NUTS models, results, figures and report (budgets: a fresh `make reanalysis`
process that recomputes every result with the compiled model from the cache <= 15 s; an unchanged re-run
<= 5 s).

Run: python benchmarks/bench_cache.py [--repeat N] [--skip-cold] [--only-fresh] [--fits | --only-fits]
(exit status 1 when a median exceeds its budget). Every case is a new process, timed from the outside (wall
clock) with its CPU time (user + system, all its processes); each case runs N times (default 3) and the
medians are printed. On a shared machine wall time grows with the load while CPU time much less: the load
average is printed beside the table.

Cases of `bayesmeta reanalyze models/haic.toml` (the main job, NUTS cross-checks included), with a temporary
BAYESMETA_CACHE_DIR:
- first ever run: empty cache folder (compiles the NUTS model, draws every figure);
- fresh run, results recomputed: the result cache and report notes removed, so every analysis and NUTS fit runs
  again in a new process, with the compiled model (and the figures, whose inputs are unchanged) from the cache;
- the same with the figures removed too, so all are drawn again (what changed inputs cost);
- cached results, new report folder: the result and figure caches are hits, the report is written again;
- unchanged re-run: the same command again (the report folder is found current and kept).
With --fits, also one fresh-process NUTS fit (k = 17, 2 chains x 2500 draws after 1000 tuning) of the
normal-normal model, the meta-regression and the binomial-normal model, with a cold and a warm compile cache,
and for comparison PyMC's own NUTS sampler on the normal-normal model (PyTensor's C backend, whose compiled code
is cached per machine in ~/.pytensor; "cold" and "warm" then only differ by that cache's state after the first).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRESH = "fresh run: results recomputed, compiled models + figures cached"
REDRAWN = "fresh run: results recomputed + figures redrawn"
BUDGETS = {FRESH: 15.0, "unchanged re-run": 5.0}

FIT = """
import numpy as np
from bayesmeta.mcmc import CACHE, fit_binomial_nuts, fit_nuts
rng = np.random.default_rng(1)
k = 17
sei = rng.uniform(0.1, 0.5, k)
y = rng.normal(-0.4, 0.25, k) + rng.normal(0, sei)
settings = dict(draws=2500, tune=1000, chains=2, cores=1, seed=3)
kind = {kind!r}
if kind == "normal-normal":
    post = fit_nuts(y, sei, **settings)
elif kind == "meta-regression":
    post = fit_nuts(y, sei, X=rng.integers(0, 2, k).astype(float), covariate_names=["x"], **settings)
elif kind == "binomial-normal":
    n = rng.integers(40, 200, (2, k))
    post = fit_binomial_nuts(rng.binomial(n[0], 0.3), n[0], rng.binomial(n[1], 0.4), n[1], **settings)
else:  # PyMC's own NUTS on the same model, PyTensor's C backend (compiled code cached in ~/.pytensor)
    import pymc as pm
    from bayesmeta.mcmc.models import ParamSpec, Structure, build_model, pad
    from bayesmeta.mcmc.prior_forms import prior_form
    from bayesmeta.priors import parse_prior
    forms = [prior_form(parse_prior(t)) for t in ("normal(0, 4)", "halfnormal(0.5)")]
    structure = Structure("normal", 24, ParamSpec.from_form(forms[0]), ParamSpec.from_form(forms[1]))
    model = build_model(structure)
    with model:
        pm.set_data({"y": pad(y, 24, 0.0), "sei": pad(sei, 24, 1.0), "mask": pad(np.ones(k), 24, 0.0),
                     "mu_loc": 0.0, "mu_scale": 4.0, "tau_scale": 0.5})
        pm.sample(draws=2500, tune=1000, chains=2, cores=1, random_seed=3, progressbar=False,
                  compute_convergence_checks=False, target_accept=0.9)
    raise SystemExit(0)
assert CACHE.compiles == 1
print(post.diagnostics["settings"]["compile_seconds"], CACHE.loaded)
"""


def _run(args: list[str], cache: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one new process."""
    env = {**os.environ, "BAYESMETA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def _reanalyze(out: Path) -> list[str]:
    return [sys.executable, "-m", "bayesmeta.cli", "reanalyze", "models/haic.toml", "--out", str(out), "--quiet"]


def _clear(cache: Path, *kinds: str) -> None:
    for kind in kinds:
        shutil.rmtree(cache / kind, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true", help="skip the first-ever runs (the slowest case)")
    parser.add_argument("--fits", action="store_true", help="also time single NUTS fits in new processes")
    parser.add_argument("--only-fits", action="store_true", help="time the single NUTS fits only")
    parser.add_argument("--only-fresh", action="store_true",
                        help="after one run that fills the caches, time only the fresh run with the compiled models "
                             "and figures cached (the `make reanalysis` goal) and the unchanged re-run")
    opts = parser.parse_args()
    times: dict[str, list[tuple[float, float]]] = {}
    base = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    cache, out = base / "cache", base / "report"
    load = os.getloadavg()
    try:
        for i in range(0 if opts.only_fits else opts.repeat):
            if not (opts.skip_cold or opts.only_fresh) or i == 0:
                shutil.rmtree(cache, ignore_errors=True)
                shutil.rmtree(out, ignore_errors=True)
                wall, cpu, _ = _run(_reanalyze(out), cache)
                if not (opts.skip_cold or opts.only_fresh):
                    times.setdefault("first ever run", []).append((wall, cpu))
            _clear(cache, "results", "reports")
            times.setdefault(FRESH, []).append(_run(_reanalyze(out), cache)[:2])
            if opts.only_fresh:
                wall, cpu, printed = _run(_reanalyze(out), cache)
                assert "is up to date" in printed, printed
                times.setdefault("unchanged re-run", []).append((wall, cpu))
                continue
            _clear(cache, "results", "figures", "reports")
            times.setdefault(REDRAWN, []).append(_run(_reanalyze(out), cache)[:2])
            times.setdefault("cached results, new report folder", []).append(
                _run(_reanalyze(base / f"report-{i}"), cache)[:2])
            wall, cpu, printed = _run(_reanalyze(out), cache)
            assert "is up to date" in printed, printed
            times.setdefault("unchanged re-run", []).append((wall, cpu))
        if opts.fits or opts.only_fits:
            for kind in ("normal-normal", "meta-regression", "binomial-normal", "pymc-nuts"):
                fits = base / f"fits-{kind}"
                for i in range(opts.repeat):
                    shutil.rmtree(fits, ignore_errors=True)
                    for state in ("cold", "warm"):
                        times.setdefault(f"NUTS fit, {kind}, {state} compile cache", []).append(
                            _run([sys.executable, "-c", FIT.replace("{kind!r}", repr(kind))], fits)[:2])
    finally:
        shutil.rmtree(base, ignore_errors=True)
    load = (load, os.getloadavg())
    print(f"{'case':<66} {'runs':>4} {'wall median s':>14} {'CPU median s':>13} {'budget s':>9}")
    failed = False
    for case, values in times.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        budget = BUDGETS.get(case)
        failed |= budget is not None and wall > budget
        print(f"{case:<66} {len(values):>4} {wall:>14.1f} {cpu:>13.1f} {budget if budget else '':>9}")
    print(f"load average (1, 5, 15 min) before {tuple(round(v, 1) for v in load[0])}, "
          f"after {tuple(round(v, 1) for v in load[1])} on {os.cpu_count()} cores")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
