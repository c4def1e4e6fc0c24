"""The binomial-normal model on the arm counts beside the normal-normal model (plan ``outcomes.<name>.likelihood =
"binomial"``).

The normal-normal model needs a log odds ratio and its variance per study, so a study with a zero cell gets 0.5
added to every cell first (the plan's ``zero_cells``; metafor escalc), which biases sparse data (Sweeting, Sutton &
Lambert 2004). The binomial-normal model (Smith, Spiegelhalter & Thomas 1995; Günhan, Röver & Friede 2020) takes
the counts as they are: events ~ Bin(n, expit(alpha_i +- theta_i / 2)), theta_i ~ N(mu, tau^2), alpha_i
exchangeable (:func:`bayesmeta.mcmc.fit_binomial_nuts`). It is fitted by NUTS with the plan's [mcmc] settings and
the outcome's main prior set, on the same studies as the normal model, and gated by the same diagnostics as the
NUTS cross-check (R-hat, bulk and tail ESS, divergences: its warnings join the outcome's).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.effect_data import COUNT_COLUMNS
from bayesmeta.plan import Plan
from bayesmeta.reanalysis.outcome import derived_seed, probability_table, record_skip, reported_summary
from bayesmeta.reanalysis.result import OutcomeAnalysis

DIAGNOSTIC_KEYS = ("rhat_max", "rhat_max_at", "ess_bulk_min", "ess_bulk_min_at", "ess_tail_min", "ess_tail_min_at",
                   "divergences", "n_draws")
"""The NUTS diagnostics the record keeps (:func:`bayesmeta.mcmc.diagnostics.diagnose`)."""


@dataclass(frozen=True)
class ZeroCellStudy:
    """A study with a zero cell: the normal model added ``added`` to each of its cells (the plan's
    ``zero_cells.add``), the binomial-normal model uses its counts as they are."""

    study: str
    events_treatment: int
    total_treatment: int
    events_control: int
    total_control: int
    added: float


@dataclass(frozen=True)
class LikelihoodShift:
    """How far the binomial-normal posterior lies from the normal-normal one (log-OR scale): the difference of the
    posterior medians of mu (``shift``, binomial minus normal), the ratio of the pooled ORs exp(shift), the shift
    in posterior SDs of mu under the binomial model (``shift_sd``), and the medians of tau under each."""

    normal_median: float
    binomial_median: float
    shift: float
    ratio: float
    shift_sd: float
    normal_tau_median: float
    binomial_tau_median: float


@dataclass(frozen=True)
class BinomialFit:
    """The binomial-normal fit of one outcome: mu, tau and predictive ({median, mean, sd, ci_lower, ci_upper} on the
    log-OR scale, ``summary``; median and interval of the ORs in ``reported``), P(benefit) at the plan's thresholds
    for the pooled and a new study's OR (rows as the normal model's ``probabilities``), the NUTS settings and
    diagnostics, the diagnostics' warnings, the difference to the normal model and the zero-cell studies."""

    outcome: str
    k: int
    seed: int
    chains: int
    draws: int
    tune: int
    seconds: float
    priors: dict[str, str]
    summary: dict[str, dict[str, float]]
    reported: dict[str, dict[str, float]]
    probabilities: list[dict[str, Any]]
    diagnostics: dict[str, Any]
    warnings: tuple[str, ...]
    shift: LikelihoodShift
    zero_cells: tuple[ZeroCellStudy, ...]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["likelihood"], out["engine"] = "binomial", "nuts"
        return out


def binomial_jobs(plan: Plan, effects: dict[str, pd.DataFrame], mains: dict[str, Any],
                  seeds: dict[str, int]) -> list[dict[str, Any]]:
    """One job per outcome with ``likelihood = "binomial"`` and data (none in a quick run): the arguments of
    :func:`bayesmeta.mcmc.fit_binomial_nuts` with the outcome's main prior set and the plan's [mcmc] settings."""
    if plan.quick:
        return []
    m, jobs = plan.mcmc, []
    for o in plan.outcomes:
        e = effects.get(o.name)
        if o.likelihood != "binomial" or e is None or len(e) == 0:
            continue
        seed = seeds[f"binomial.{o.name}"] = derived_seed(plan.seed, "binomial", o.name)
        jobs.append({"name": o.name, "data": {c: e[c].to_numpy(dtype="int64") for c in COUNT_COLUMNS},
                     "study": e["study_id"].astype(str).tolist(), "mu_prior": mains[o.name].mu.text,
                     "tau_prior": mains[o.name].tau.text, "draws": m.draws, "tune": m.tune, "chains": m.chains,
                     "cores": m.cores, "seed": seed, "target_accept": m.target_accept})
    return jobs


def fit_binomial_jobs(jobs: list[dict[str, Any]]) -> dict[str, tuple[Any, float]]:
    """Fit every job (one compiled model for up to 32 studies); a job that cannot be fitted returns its error
    message. Returns name -> (Posterior or message, seconds)."""
    from bayesmeta.errors import ModelError
    from bayesmeta.mcmc import fit_binomial_nuts

    out: dict[str, tuple[Any, float]] = {}
    for job in jobs:
        args = {k: v for k, v in job.items() if k != "name"}
        t0 = time.perf_counter()
        try:
            out[job["name"]] = (fit_binomial_nuts(**args), time.perf_counter() - t0)
        except ModelError as exc:
            out[job["name"]] = (str(exc), time.perf_counter() - t0)
    return out


def zero_cell_studies(effects: pd.DataFrame, added: float) -> tuple[ZeroCellStudy, ...]:
    """The studies with a zero cell (no events, or only events, in an arm) whose log OR the normal model took after
    adding ``added`` to each cell (method 'counts_cc'; with ``zero_cells.to = "all"`` the other studies are
    corrected too, but have no zero cell for the binomial model to take as it is)."""
    events = effects[["events_treatment", "events_control"]].to_numpy(dtype=float)
    totals = effects[["total_treatment", "total_control"]].to_numpy(dtype=float)
    zero = ((events == 0) | (events == totals)).any(axis=1)
    rows = effects[(effects["method"].astype(str) == "counts_cc").to_numpy() & zero]
    return tuple(ZeroCellStudy(str(r["study_id"]), *(int(r[c]) for c in COUNT_COLUMNS), float(added))
                 for _, r in rows.iterrows())


def likelihood_shift(normal: dict[str, Any], binomial: dict[str, Any]) -> LikelihoodShift:
    """:class:`LikelihoodShift` from the two posteriors' summaries (``to_dict`` form: mu and tau on the log-OR
    scale)."""
    shift = binomial["mu"]["median"] - normal["mu"]["median"]
    return LikelihoodShift(normal["mu"]["median"], binomial["mu"]["median"], shift, float(np.exp(shift)),
                           shift / binomial["mu"]["sd"], normal["tau"]["median"], binomial["tau"]["median"])


def add_binomial(a: OutcomeAnalysis, plan: Plan, fitted: tuple[Any, float] | None) -> None:
    """Record the binomial-normal fit of an outcome (:class:`BinomialFit`); its diagnostics' warnings join the
    outcome's, as the NUTS cross-check's do."""
    what = "binomial-normal model"
    if fitted is None:
        record_skip(a, what, "quick run (--quick)" if plan.quick else "no data to fit")
        return
    post, seconds = fitted
    if isinstance(post, str):
        record_skip(a, what, post)
        a.warnings.append(f"{what} not run: {post}")
        return
    o, m = a.plan, plan.mcmc
    fit = post.to_dict(plan.level)
    a.binomial_idata = post.to_inference_data()
    a.binomial = BinomialFit(
        outcome=o.name, k=post.k, seed=post.seed, chains=m.chains, draws=m.draws, tune=m.tune, seconds=seconds,
        priors={"mu": fit["priors"]["mu"], "tau": fit["priors"]["tau"]},
        summary={p: {c: fit[p][c] for c in ("median", "mean", "sd", "ci_lower", "ci_upper")}
                 for p in ("mu", "tau", "predictive")},
        reported=reported_summary(post, plan.level), probabilities=probability_table(post, o),
        diagnostics={k: post.diagnostics.get(k) for k in DIAGNOSTIC_KEYS}, warnings=tuple(post.warnings),
        shift=likelihood_shift(a.bayes, fit), zero_cells=zero_cell_studies(a.effects, o.zero_cells.add))
    a.warnings += [f"binomial-normal (NUTS): {w}" for w in post.warnings]
