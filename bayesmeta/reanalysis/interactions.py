"""The plan's within-trial strata (``outcomes.<name>.strata_of``, ``.subgroup``) analysed as within-trial
interactions (:func:`bayesmeta.interaction.within_trial_interactions`; Fisher et al. 2017, BMJ 356:j573), beside the
test of subgroup differences across levels that the comparison table recomputes from the same strata
(:func:`bayesmeta.strata.compare_subgroup_rows`: the published rows' pooling; the plan's ``data.pooling`` when the
paper printed no subgroup row of the characteristic)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bayesmeta.interaction import WithinTrialInteraction, within_trial_interactions
from bayesmeta.plan import Plan
from bayesmeta.reanalysis.result import OutcomeAnalysis
from bayesmeta.strata import across_level_test, compare_subgroup_rows, plan_strata


def strata_interactions(plan: Plan, analyses: dict[str, OutcomeAnalysis], published: pd.DataFrame | None,
                        prior_sets: dict[str, dict[str, Any]]) -> list[WithinTrialInteraction]:
    """Every declared strata outcome's within-trial interactions, each level against the reference level. The
    Bayesian pooling uses the strata outcome's main prior set: ``beta`` (the prior of a contrast between levels,
    centred on no difference) for the mean interaction and ``tau`` for its between-trial SD."""
    out: list[WithinTrialInteraction] = []
    for s in plan_strata(plan):
        a = analyses.get(s.outcome)
        if a is None or s.strata_of not in analyses or not len(a.effects) or s.subgroup not in a.effects.columns:
            continue
        rows = a.effects
        variable, across = s.subgroup, None
        if published is not None and len(published):
            _, tests = compare_subgroup_rows(rows, published, plan.pooling, (s,), plan.level)
            mine = tests[(tests["outcome"] == s.strata_of)
                         & (tests["variable"].astype(str).str.casefold() == s.subgroup.casefold())]
            if len(mine):
                t = mine.iloc[0]
                variable = str(t["variable"])
                across = {k: t[k] for k in ("method", "q_between", "df_between", "p_between", "k_used")}
        if across is None:
            across = across_level_test(rows, s.subgroup, plan.pooling, plan.level)
        main = prior_sets[s.outcome][plan.main_prior]
        found = within_trial_interactions(rows, s.subgroup, outcome=s.strata_of, strata=s.outcome,
                                          variable=variable, measure=a.plan.measure, benefit=a.plan.benefit,
                                          mu_prior=main.beta, tau_prior=main.tau, level=plan.level, across=across)
        for i in found:
            if i.k == 0:
                a.warnings.append(f"within-trial interaction {i.level} / {i.reference} of {s.subgroup}: no trial "
                                  f"has rows of both levels")
            elif i.posterior is None:
                a.warnings.append(f"within-trial interaction {i.level} / {i.reference} of {s.subgroup}: exact "
                                  f"posterior not computed")
        out += found
    return out


__all__ = ["strata_interactions"]
