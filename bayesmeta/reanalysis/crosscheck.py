"""The NUTS cross-check of the exact posteriors and the simulated operating characteristics of the monitoring
rule, run in a second process while the exact analyses proceed."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.plan import OutcomePlan, Plan
from bayesmeta.reanalysis.outcome import derived_seed, outcome_unit, record_skip
from bayesmeta.reanalysis.result import OutcomeAnalysis
from bayesmeta.reanalysis.statements import benefit_probability, benefit_statement
from bayesmeta.scales import to_analysis

QUANTILES = (0.025, 0.25, 0.5, 0.75, 0.975)

AGREEMENT_LIMIT = 4.0  # |NUTS - exact| / MCSE beyond this flags a disagreement between the engines

def quantile_agreement(exact: Any, nuts: Any, nuts_idata: Any, o: OutcomePlan) -> pd.DataFrame:
    """Exact vs NUTS quantiles of mu and tau, and P(benefit) at each threshold, with the NUTS Monte Carlo
    standard error (ArviZ ``mcse``: quantile method for quantiles, mean of the indicator for probabilities, at
    least the iid binomial SE) and z = (NUTS - exact) / MCSE."""
    import arviz as az

    rows = []
    for param in ("mu", "tau"):
        draws = np.asarray(nuts_idata.posterior[param]).ravel()
        for q in QUANTILES:
            e = float(exact.marginal(param).ppf(q))
            n = float(np.quantile(draws, q))
            se = float(az.mcse(nuts_idata, var_names=[param], method="quantile", prob=q)[param])
            rows.append({"parameter": param, "quantity": f"q{q:g}", "exact": e, "nuts": n, "mcse": se})
    mu = nuts_idata.posterior["mu"]
    size = int(mu.size)
    for t in o.thresholds:
        cut = to_analysis(t, o.measure)
        indicator = (mu < cut) if o.benefit.below else (mu > cut)
        e = benefit_probability(exact, o, t)
        n = float(indicator.mean())
        # when every draw falls on one side ArviZ's MCSE is 0; the iid binomial SE at the exact probability is
        # then the smallest honest error
        se = max(float(az.mcse(indicator.astype(float).to_dataset(name="p"), method="mean")["p"]),
                 float(np.sqrt(e * (1 - e) / size)))
        rows.append({"parameter": "mu", "quantity": f"P({benefit_statement(o, t)})", "exact": e, "nuts": n,
                     "mcse": se})
    table = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["z"] = (table["nuts"] - table["exact"]) / table["mcse"]
    table["agrees"] = ~(table["z"].abs() > AGREEMENT_LIMIT)
    return table

def nuts_jobs(plan: Plan, effects: dict[str, pd.DataFrame], mains: dict[str, Any],
              seeds: dict[str, int]) -> list[dict[str, Any]]:
    """One job per outcome of the plan's [mcmc] table with data: the inputs of :func:`bayesmeta.mcmc.fit_nuts`
    (``mains``: the main prior set of each outcome)."""
    jobs = []
    m = plan.mcmc
    for name in m.outcomes:
        e = effects.get(name)
        if e is None or len(e) == 0:
            continue
        seed = seeds[f"nuts.{name}"] = derived_seed(plan.seed, "nuts", name)
        main = mains[name]
        jobs.append({"name": name, "data": e["yi"].to_numpy(float), "sei": e["sei"].to_numpy(float),
                     "study": e["study_id"].astype(str).tolist(), "measure": plan.outcome(name).measure,
                     "mu_prior": main.mu.text, "tau_prior": main.tau.text, "draws": m.draws, "tune": m.tune,
                     "chains": m.chains, "cores": m.cores, "seed": seed, "target_accept": m.target_accept})
    return jobs

def fit_nuts_jobs(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Fit every job with NUTS, all padded to one size so that the model is compiled once; a job that cannot be
    fitted returns its error message. Returns name -> (Posterior or message, seconds)."""
    from bayesmeta.errors import ModelError
    from bayesmeta.mcmc import fit_nuts, padded_size

    pad = padded_size(max(len(j["data"]) for j in jobs)) if jobs else None
    out: dict[str, Any] = {}
    for job in jobs:
        args = {k: v for k, v in job.items() if k != "name"}
        t0 = time.perf_counter()
        try:
            out[job["name"]] = (fit_nuts(**args, pad_to=pad), time.perf_counter() - t0)
        except ModelError as exc:
            out[job["name"]] = (str(exc), time.perf_counter() - t0)
    return out

def operating_jobs(plan: Plan, effects: dict[str, pd.DataFrame], mains: dict[str, Any],
                   seeds: dict[str, int]) -> list[dict[str, Any]]:
    """One simulation of the monitoring rule's operating characteristics per monitored outcome with data: the
    arguments of :func:`bayesmeta.sequential.operating_characteristics` (standard errors resampled from the
    outcome's studies, k as observed; heterogeneities: the plan's ``monitoring.tau_values``, else the outcome's scale
    unit's, :meth:`bayesmeta.scale_unit.ScaleUnit.monitoring_tau_values`)."""
    m = plan.monitoring
    jobs = []
    for name in m.outcomes:
        e = effects.get(name)
        if e is None or len(e) == 0:
            continue
        o = plan.outcome(name)
        seed = seeds[f"operating.{name}"] = derived_seed(plan.seed, "operating", name)
        main = mains[name]
        taus = m.tau_values if m.tau_values is not None else outcome_unit(plan, o, main, e).monitoring_tau_values()
        jobs.append({"name": name, "k": len(e), "sei": e["sei"].to_numpy(float), "true_ratio": m.true_effects[name],
                     "tau_values": taus, "n_sim": m.simulations, "seed": seed, "mu_prior": main.mu.text,
                     "tau_prior": main.tau.text, "benefit_prob": m.benefit_probability,
                     "futility_mcid": m.futility_mcid.get(name), "futility_prob": m.futility_probability,
                     "measure": o.measure, "benefit": o.benefit.value})
    return jobs

def run_operating_job(job: dict[str, Any]) -> Any:
    """:func:`bayesmeta.sequential.operating_characteristics` of one job; a ModelError returns its message."""
    from bayesmeta.errors import ModelError
    from bayesmeta.sequential import operating_characteristics

    args = {k: v for k, v in job.items() if k != "name"}
    try:
        return operating_characteristics(**args)
    except ModelError as exc:
        return str(exc)


@contextmanager
def _sigint_blocked_for_children():
    """SIGINT blocked while the worker process is started: it inherits the blocked signal from its first
    instruction, so a Ctrl-C to the process group prints no traceback from it (this process handles the Ctrl-C
    and stops the worker). Here a SIGINT arriving meanwhile is only delayed (pending), not lost."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


SIMULATION_SECONDS_PER_LOOK = 2.5e-4
"""CPU time of one simulated look of the monitoring rule (one exact fit; measured 0.15-0.35 ms on this project's
2-core benchmark machine for k = 4 to 22)."""
WORKER_START_SECONDS = 5.0
"""CPU time a spawned worker spends importing PyMC, ArviZ and bayesmeta before it does any work."""


def simulation_seconds(operating: list[dict[str, Any]]) -> float:
    """Expected CPU time of the operating-characteristics jobs: simulations x true effects x tau values x looks
    (k) x :data:`SIMULATION_SECONDS_PER_LOOK`."""
    looks = sum(j["n_sim"] * len(j["true_ratio"]) * len(j["tau_values"]) * j["k"] for j in operating)
    return looks * SIMULATION_SECONDS_PER_LOOK


def worker_pays_off(nuts: list[dict[str, Any]], operating: list[dict[str, Any]]) -> bool:
    """Whether a second process saves time: there are NUTS fits, or the simulations are expected to take
    longer than the worker's start-up (:data:`WORKER_START_SECONDS`)."""
    return bool(nuts) or simulation_seconds(operating) >= WORKER_START_SECONDS


class Worker:
    """A second process (spawned: it shares no state) that runs the NUTS fits (the cross-check's, then the
    binomial-normal models') and then the operating-characteristics simulations while this process does the exact
    analyses; simulations it has not started when this process is done are taken back (:meth:`take_back`). On 2
    cores this about halves the run time.
    ``parallel=False`` runs the same functions in this process instead; the results are the same. ``parallel=None``
    starts the worker only when :func:`worker_pays_off`: a quick run, or a plan without NUTS and with few
    simulations, is faster in this process alone."""

    def __init__(self, nuts: list[dict[str, Any]], operating: list[dict[str, Any]],
                 parallel: bool | None = None, binomial: list[dict[str, Any]] | None = None) -> None:
        self.pool = None
        self._jobs = {j["name"]: j for j in operating}
        self._local: dict[str, Any] = {}
        self._binomial_jobs, self._binomial = binomial or [], None  # binomial-normal fits, after the NUTS ones
        if parallel is None:
            parallel = worker_pays_off(nuts + self._binomial_jobs, operating)
        if parallel and (nuts or operating or self._binomial_jobs):
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            with _sigint_blocked_for_children():  # the process starts at the first submit
                self._nuts = self.pool.submit(fit_nuts_jobs, nuts) if nuts else None
                if self._binomial_jobs:
                    from bayesmeta.reanalysis.binomial import fit_binomial_jobs

                    self._binomial = self.pool.submit(fit_binomial_jobs, self._binomial_jobs)
                self._operating = {j["name"]: self.pool.submit(run_operating_job, j) for j in operating}
            self.pool.shutdown(wait=False)
        else:
            self._nuts_jobs, self._operating_jobs = nuts, {j["name"]: j for j in operating}

    def nuts(self) -> dict[str, Any]:
        if self.pool is None:
            return fit_nuts_jobs(self._nuts_jobs) if self._nuts_jobs else {}
        return self._nuts.result() if self._nuts is not None else {}

    def binomial(self) -> dict[str, Any]:
        """The binomial-normal fits: name -> (Posterior or message, seconds)."""
        from bayesmeta.reanalysis.binomial import fit_binomial_jobs

        if self.pool is None:
            return fit_binomial_jobs(self._binomial_jobs) if self._binomial_jobs else {}
        return self._binomial.result() if self._binomial is not None else {}

    def take_back(self) -> None:
        """Run here the simulations the worker has not started yet (last queued first)."""
        if self.pool is None:
            return
        for name, future in reversed(list(self._operating.items())):
            if future.cancel():
                self._local[name] = run_operating_job(self._jobs[name])

    def operating(self, name: str) -> Any:
        if name in self._local:
            return self._local[name]
        if self.pool is None:
            job = self._operating_jobs.get(name)
            return None if job is None else run_operating_job(job)
        future = self._operating.get(name)
        return None if future is None else future.result()

def add_nuts(a: OutcomeAnalysis, plan: Plan, fitted: tuple[Any, float] | None) -> None:
    """Record the NUTS fit of an outcome: its summary, diagnostics, warnings and the agreement with the exact
    posterior (quantiles of mu and tau and the decision probabilities, in Monte Carlo SE units)."""
    from bayesmeta.exact import fit_exact

    if fitted is None:
        return
    nuts, seconds = fitted
    if isinstance(nuts, str):
        record_skip(a, "NUTS cross-check", nuts)
        a.warnings.append(f"NUTS cross-check not run: {nuts}")
        return
    o, m = a.plan, plan.mcmc
    main = a.main_prior
    e = a.effects
    exact = fit_exact(e["yi"].to_numpy(float), e["sei"].to_numpy(float), mu_prior=main["mu"], tau_prior=main["tau"],
                      study=e["study_id"].astype(str).tolist(), measure=o.measure, seed=a.bayes.get("seed"))
    idata = nuts.to_inference_data()
    agreement = quantile_agreement(exact, nuts, idata, o)
    a.nuts_idata = idata
    a.nuts = {
        "engine": nuts.engine, "seed": nuts.seed, "chains": m.chains, "draws": m.draws, "tune": m.tune,
        "seconds": seconds, "summary": nuts.to_dict(plan.level, thresholds=o.thresholds),
        "diagnostics": nuts.diagnostics, "warnings": list(nuts.warnings),
        "agreement": agreement, "all_agree": bool(agreement["agrees"].all()),
    }
    a.warnings += [f"NUTS: {w}" for w in nuts.warnings]
    for r in agreement[~agreement["agrees"]].itertuples():
        a.warnings.append(f"NUTS and exact engines disagree on {r.parameter} {r.quantity}: "
                          f"{r.nuts:.4g} vs {r.exact:.4g} ({r.z:+.1f} MCSE)")
