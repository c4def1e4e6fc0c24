"""The plan's [surrogacy] section: for each (surrogate, final) pair of outcomes, the trial-level surrogacy model
(:func:`bayesmeta.surrogacy.fit_surrogacy`) on the studies reporting both, beside the paper's Spearman
correlation when data.published prints it. The model is fitted by the exact engine (a fraction of a second), or
by NUTS when the plan says ``engine = "nuts"``, which a quick run skips."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bayesmeta.errors import ModelError
from bayesmeta.plan import Plan
from bayesmeta.reanalysis.outcome import derived_seed


def pair_key(surrogate: str, final: str) -> str:
    """'ORR~OS': the key of a pair in the result and in summary.json (as the published correlation rows)."""
    return f"{surrogate}~{final}"


def surrogacy_reanalysis(plan: Plan, outcome_rows: pd.DataFrame, studies: pd.DataFrame | None,
                         published: pd.DataFrame | None, seeds: dict[str, int]
                         ) -> tuple[dict[str, Any], dict[str, str]]:
    """(results by pair key, reasons for pairs not fitted by pair key). bayesmeta.surrogacy (which loads PyMC) is
    imported only when a pair is fitted."""
    sp = plan.surrogacy
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for x, y in sp.pairs:
        key = pair_key(x, y)
        if plan.quick and sp.engine == "nuts":
            skipped[key] = "quick run (--quick): the plan fits the surrogacy model by NUTS"
            continue
        if not sp.enabled:
            skipped[key] = "disabled in the plan's [surrogacy] (enabled = false)"
            continue
        from bayesmeta.surrogacy import Priors, effect_pairs, fit_surrogacy, published_rank_correlation

        try:
            pairs = effect_pairs(outcome_rows, x, y, studies)
        except ModelError as exc:
            skipped[key] = str(exc)
            continue
        seed = seeds[f"surrogacy.{key}"] = derived_seed(plan.seed, "surrogacy", key)
        paper = None if published is None else published_rank_correlation(published, x, y)
        final = plan.outcome(y)
        results[key] = fit_surrogacy(pairs, priors=Priors(within=sp.within), level=plan.level, new_x=sp.new_x,
                                     benefit=final.benefit, published=paper, engine=sp.engine, draws=sp.draws,
                                     chains=sp.chains, seed=seed)
    return results, skipped
