"""The Bayesian column and the within-trial interactions of ``bayesmeta compare --plan``: the report's own
computations on the plan's outcomes, without the rest of a reanalysis.

Each outcome of the plan gets the report's effects (:func:`bayesmeta.effects.effects_for` with the plan's zero-cell
rule and vtype), the exact posterior under its main prior set oriented for its benefit (same seed as the report's)
and the report's ``bayes`` record (:func:`bayesmeta.reanalysis.outcome.posterior_record`: the random-effects
posterior and the common-effect model). A published pooled row's Bayesian cell is then the report's
(:func:`bayesmeta.reanalysis.comparison.pooled_bayesian`), so is a published subgroup row's (the exact posterior on
the studies of its level, :func:`bayesmeta.reanalysis.comparison.subset_rows`), and the declared strata's
within-trial interactions are the report's (:func:`bayesmeta.reanalysis.interactions.strata_interactions`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from bayesmeta.plan import Plan
from bayesmeta.reanalysis.result import OutcomeAnalysis


def plan_analyses(plan: Plan, rows: pd.DataFrame, studies: pd.DataFrame | None,
                  vtypes: str | Mapping[str, str]) -> tuple[dict[str, OutcomeAnalysis], dict[str, dict[str, Any]]]:
    """(outcome -> its effects and ``bayes`` record, outcome -> the prior sets oriented for it) for every plan
    outcome with rows in ``rows`` (a :func:`bayesmeta.data.load_outcomes` table). ``vtypes``: one vtype for every
    outcome or per outcome (``compare --vtype`` or the plan's). An outcome whose posterior cannot be computed keeps
    an empty ``bayes`` with the reason in ``skipped``, as in the report."""
    from bayesmeta.effects import effects_for
    from bayesmeta.errors import ModelError
    from bayesmeta.exact import fit_exact
    from bayesmeta.priors import load_prior_sets
    from bayesmeta.reanalysis.outcome import derived_seed, oriented_prior_set, outcome_data, posterior_record

    prior_sets = load_prior_sets(plan.priors_file)
    oriented = {o.name: {name: oriented_prior_set(ps, o) for name, ps in prior_sets.items()} for o in plan.outcomes}
    present = set(rows["outcome"].astype(str))
    analyses: dict[str, OutcomeAnalysis] = {}
    for o in plan.outcomes:
        if o.name not in present:
            continue
        vtype = vtypes if isinstance(vtypes, str) else vtypes.get(o.name, o.vtype)
        effects = effects_for(o.name, rows, studies, o.zero_cells, vtype)
        main = oriented[o.name][plan.main_prior]
        a = OutcomeAnalysis(plan=o, rows=rows[rows["outcome"] == o.name], effects=effects, k_published=None,
                            main_prior={"name": plan.main_prior, **main.as_dict()})
        analyses[o.name] = a
        if not len(effects):
            a.skipped["all"] = "no study has usable data for this outcome"
            continue
        data = outcome_data(effects, o)
        seed = derived_seed(plan.seed, "exact", o.name)
        try:
            post = fit_exact(data, mu_prior=main.mu, tau_prior=main.tau, seed=seed)
        except ModelError as exc:
            a.skipped["exact posterior"] = str(exc)
            continue
        a.bayes = posterior_record(post, data, main.mu, o, plan.level, seed)
    return analyses, oriented


def pooled_bayesian_columns(plan: Plan, analyses: Mapping[str, OutcomeAnalysis], pooled: pd.DataFrame
                            ) -> pd.DataFrame:
    """``pooled`` (:func:`bayesmeta.compare.compare_pooled`) with the report's Bayesian cell of each row
    (:data:`~bayesmeta.reanalysis.comparison.BAYESIAN_COLUMNS`): the common-effect model beside a published
    common-effect row, the random-effects posterior beside the others; '-' for an outcome the plan does not
    analyse."""
    from bayesmeta.reanalysis.comparison import BAYESIAN_COLUMNS, pooled_bayesian

    cells = []
    for r in pooled.itertuples(index=False):
        a = analyses.get(r.outcome)
        if a is None:
            cells.append({"bayesian": "- (outcome not in the plan)", "bayesian_value": None,
                          "bayesian_statement": ""})
            continue
        cell = pooled_bayesian(a.bayes, a.plan, r.published_model, plan)
        cells.append({c: cell[c] for c in BAYESIAN_COLUMNS})
    return pd.concat([pooled.reset_index(drop=True), pd.DataFrame(cells, columns=list(BAYESIAN_COLUMNS))], axis=1)


__all__ = ["plan_analyses", "pooled_bayesian_columns"]


def subgroup_bayesian_columns(plan: Plan, analyses: Mapping[str, OutcomeAnalysis],
                              oriented: Mapping[str, dict[str, Any]], published: pd.DataFrame,
                              rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (:func:`bayesmeta.strata.compare_subgroup_rows`) with the report's Bayesian cell of each published
    subgroup row (:data:`~bayesmeta.reanalysis.comparison.BAYESIAN_COLUMNS`): the posterior median, interval and
    probability of benefit of the exact fit under the main prior set on the studies of its level, where the
    report computes one (two studies or more); '-' elsewhere."""
    from bayesmeta.reanalysis.comparison import BAYESIAN_COLUMNS, subset_rows

    subgroup = published[published["analysis"] == "subgroup"]
    cells = {(r["outcome"], r["quantity"]): r for r in subset_rows(plan, dict(analyses), subgroup, dict(oriented))}
    none = {"bayesian": "-", "bayesian_value": None, "bayesian_statement": ""}
    filled = [{c: cells.get((r.outcome, f"{r.variable} = {r.level}"), none)[c] for c in BAYESIAN_COLUMNS}
              for r in rows.itertuples(index=False)]
    return pd.concat([rows.reset_index(drop=True), pd.DataFrame(filled, columns=list(BAYESIAN_COLUMNS))], axis=1)
