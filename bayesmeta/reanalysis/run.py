"""run_plan: every analysis of a plan, in order, with progress reports and the result cache."""

from __future__ import annotations

import time
from typing import Callable

import pandas as pd

from bayesmeta.cache import ResultCache, cache_key, library_versions
from bayesmeta.plan import Plan
from bayesmeta.reanalysis.binomial import add_binomial, binomial_jobs
from bayesmeta.reanalysis.claims import evaluate_claims
from bayesmeta.reanalysis.comparison import comparison_table, published_not_covered
from bayesmeta.reanalysis.interactions import strata_interactions
from bayesmeta.reanalysis.coverage import coverage_tables, published_k, published_pooled, published_ris
from bayesmeta.reanalysis.crosscheck import Worker, add_nuts, nuts_jobs, operating_jobs
from bayesmeta.reanalysis.metaregression import attach_covariates
from bayesmeta.reanalysis.outcome import (
    OUTCOME_STEPS,
    analyse_outcome,
    formula_columns,
    oriented_prior_set,
    record_skip,
)
from bayesmeta.reanalysis.result import OutcomeAnalysis, ReanalysisResult
from bayesmeta.reanalysis.subgroups import subgroup_reanalysis
from bayesmeta.reanalysis.surrogacy import surrogacy_reanalysis

Progress = Callable[[str], None]
"""Called with a short description as each step starts (a progress bar advances one step per call)."""

GLOBAL_STEPS = ("comparison with the published numbers", "reinterpretation and consistency",
                "subgroups from published estimates", "trial-level surrogacy", "the paper's claims")


def plan_steps(plan: Plan) -> list[str]:
    """The steps :func:`run_plan` reports to ``progress``, in order."""
    steps = ["loading data"]
    for o in plan.outcomes:
        steps += [f"{o.name}: {s}" for s in OUTCOME_STEPS]
    steps += list(GLOBAL_STEPS)
    steps += [f"{name}: NUTS cross-check" for name in plan.mcmc.outcomes]
    return steps + [f"{o.name}: binomial-normal model" for o in plan.outcomes if o.likelihood == "binomial"]


REINTERPRET_PRIORS = ("skeptical", "enthusiastic", "pessimistic", "vague")


def _mcid_below(plan: Plan) -> float:
    """The MCID for benefit below 1 used to reinterpret the published ratio rows: the ``mcid`` of the plan's
    first ratio outcome that has one (mirrored, 1/mcid, when its benefit lies above 1), else 0.8."""
    from bayesmeta.scales import is_ratio

    for o in plan.outcomes:
        if o.mcid is not None and is_ratio(o.measure):
            return o.mcid if o.benefit.below else 1.0 / o.mcid
    return 0.8


def _difference_mcids(plan: Plan) -> dict[str, float]:
    """The MCID on the difference scale of each difference outcome, to reinterpret its published rows: the
    outcome's clinical threshold (its ``mcid``, else its most demanding threshold) when that is not the null 0;
    outcomes without one are left out (their rows are skipped: a difference has no default MCID)."""
    from bayesmeta.reanalysis.statements import clinical_threshold
    from bayesmeta.scales import is_ratio

    out = {}
    for o in plan.outcomes:
        if not is_ratio(o.measure):
            threshold = clinical_threshold(o)
            if threshold != 0.0 and (threshold < 0.0) == o.benefit.below:
                out[o.name] = threshold
    return out


def run_plan(plan: Plan, progress: Progress | None = None, *, cache: ResultCache | None = None,
             parallel: bool | None = None, while_waiting: Callable[[ReanalysisResult], object] | None = None,
             ) -> ReanalysisResult:
    """Compute everything the plan asks for (see the package docstring).

    With ``cache``, a stored result with the same key (:func:`bayesmeta.cache.cache_key`) is returned instead of
    recomputing (``cache_hit`` True). ``parallel`` runs the NUTS fits and the simulations in a second process
    (:class:`~bayesmeta.reanalysis.crosscheck.Worker`; None: only when that saves time); the results do not
    depend on it. ``while_waiting`` is called with the result before the NUTS fits and simulations are added to
    it (e.g. to start drawing figures that do not depend on them); the same object, completed, is returned.
    """
    from bayesmeta.consistency import apply_checks, check_published, reported_problems
    from bayesmeta.data import check_shared_columns, load_outcomes, load_published, load_studies, read_text_csv
    from bayesmeta.effects import derive_effects, effects_for
    from bayesmeta.priors import load_prior_sets
    from bayesmeta.reinterpret import reinterpret_published

    step = progress or (lambda description: None)
    key = cache_key(plan)  # also recorded in the report: a fingerprint of the inputs, plan and code
    if cache is not None:
        stored = cache.load(key)
        if isinstance(stored, ReanalysisResult):
            stored.cache_hit = True
            return stored

    timings: dict[str, float] = {}
    start = time.perf_counter()
    step("loading data")
    names = [o.name for o in plan.outcomes]
    studies = load_studies(plan.studies, plan.covariate_levels) if plan.studies is not None else None
    outcome_rows = load_outcomes(plan.outcomes_file, studies=studies, outcomes=names)
    published = load_published(plan.published) if plan.published is not None else None
    prior_sets = load_prior_sets(plan.priors_file)
    zero_cells = {o.name: o.zero_cells for o in plan.outcomes}
    all_effects = derive_effects(outcome_rows, studies, zero_cells=zero_cells,
                                 vtypes={o.name: o.vtype for o in plan.outcomes})
    printed = read_text_csv(plan.outcomes_file)  # the cells as printed, for the rounding of each number
    if studies is not None:  # a column of both files (e.g. year): the study table's is used, so they must agree
        check_shared_columns(printed, studies, str(plan.outcomes_file), str(plan.studies))
    reported = {o.name: apply_checks(reported_problems(rows, rows["measure"]), o.checks, str(plan.outcomes_file))
                for o in plan.outcomes for rows in [printed[printed["outcome"] == o.name]]}
    timings["loading data"] = time.perf_counter() - start

    seeds: dict[str, int] = {"plan": plan.seed}
    table_file = str(plan.studies if plan.studies is not None else plan.outcomes_file)
    covariates = (*plan.covariates, *formula_columns(plan))
    from bayesmeta.compare import published_formula_columns  # published coefficients of multiple meta-regressions

    covariates += tuple(c for c in published_formula_columns(published)
                        if c not in covariates and (studies is None or c in studies.columns))
    effects = {o.name: attach_covariates(effects_for(o.name, outcome_rows, studies, o.zero_cells, o.vtype),
                                         studies, covariates, table_file)
               for o in plan.outcomes}
    oriented = {o.name: {name: oriented_prior_set(ps, o) for name, ps in prior_sets.items()} for o in plan.outcomes}
    mains = {name: sets[plan.main_prior] for name, sets in oriented.items()}
    worker = Worker(nuts_jobs(plan, effects, mains, seeds), operating_jobs(plan, effects, mains, seeds), parallel,
                    binomial_jobs(plan, effects, mains, seeds))
    analyses: dict[str, OutcomeAnalysis] = {}
    for o in plan.outcomes:
        t0 = time.perf_counter()
        rows = all_effects[all_effects["outcome"] == o.name].reset_index(drop=True)
        analyses[o.name] = analyse_outcome(plan, o, rows, effects[o.name], oriented[o.name],
                                           published_k(published, o.name), seeds, step,
                                           published_ris(published, o.name))
        analyses[o.name].published = published_pooled(published, o.name, plan.pooling)
        analyses[o.name].warnings += [f"reported numbers: {message}" for message in reported[o.name]]
        timings[o.name] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("comparison with the published numbers")
    comparison = comparison_table(plan, analyses, published, all_effects, oriented)
    interactions = strata_interactions(plan, analyses, published, oriented)
    step("reinterpretation and consistency")
    if published is not None:
        benefit = {o.name: o.benefit for o in plan.outcomes}
        reinterpretation = reinterpret_published(published, priors=REINTERPRET_PRIORS, mcid=_mcid_below(plan),
                                                 benefit=benefit, level=plan.level,
                                                 difference_mcid=_difference_mcids(plan))
        consistency = check_published(plan.published)
    else:
        reinterpretation, consistency = pd.DataFrame(), pd.DataFrame()
    coverage, missing = coverage_tables(plan, studies, outcome_rows, all_effects, published)
    timings["comparison"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("subgroups from published estimates")
    subgroups = subgroup_reanalysis(plan, oriented)
    step("trial-level surrogacy")
    surrogacy, surrogacy_skipped = surrogacy_reanalysis(plan, outcome_rows, studies, published, seeds)
    step("the paper's claims")
    claims = evaluate_claims(plan, analyses, subgroups, surrogacy, surrogacy_skipped, published, prior_sets)
    timings["subgroups, surrogacy and claims"] = time.perf_counter() - t0

    result = ReanalysisResult(
        plan=plan, outcomes=analyses, coverage=coverage, missing_studies=missing, comparison=comparison,
        not_covered=published_not_covered(plan, published, comparison),
        reinterpretation=reinterpretation, consistency=consistency,
        priors={name: {**prior_sets[name].as_dict(), "description": prior_sets[name].description,
                       "source": prior_sets[name].source}
                for name in (plan.main_prior, *plan.sensitivity_priors)},
        versions=library_versions(), seeds=seeds, timings=timings, cache_key=key,
        subgroups=subgroups, surrogacy=surrogacy, surrogacy_skipped=surrogacy_skipped, claims=claims,
        interactions=interactions,
    )
    if while_waiting is not None:
        while_waiting(result)

    t0 = time.perf_counter()
    worker.take_back()
    timings["simulations taken back"] = time.perf_counter() - t0
    fits = worker.nuts()
    for name in plan.mcmc.outcomes:
        step(f"{name}: NUTS cross-check")
        a = analyses[name]
        if name not in fits:
            record_skip(a, "NUTS cross-check", "no data to fit" if a.k == 0 else "not fitted")
        elif a.bayes:
            add_nuts(a, plan, fits[name])
    binomial = worker.binomial()
    for o in plan.outcomes:
        if o.likelihood == "binomial":
            step(f"{o.name}: binomial-normal model")
            if analyses[o.name].bayes:
                add_binomial(analyses[o.name], plan, binomial.get(o.name))
            else:
                record_skip(analyses[o.name], "binomial-normal model", "no normal-normal posterior to compare with")
    for o in plan.outcomes:
        if o.name not in plan.mcmc.outcomes:
            record_skip(analyses[o.name], "NUTS cross-check", "quick run (--quick)" if plan.quick else
                        "not requested in the plan's [mcmc] outcomes")
    for name in plan.monitoring.outcomes:
        a = analyses[name]
        oc = worker.operating(name)
        if isinstance(oc, str):
            record_skip(a, "operating characteristics", oc)
        elif oc is not None:
            a.operating = oc
    timings["waiting for the worker"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - start
    if cache is not None:
        cache.store(key, result)
    return result
