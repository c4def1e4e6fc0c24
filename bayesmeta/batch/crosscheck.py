"""The NUTS cross-check of a sample of a batch's meta-analyses: the same model sampled by the NUTS engine
(:func:`bayesmeta.mcmc.fit_nuts`, 2 chains x 1000 draws), its summaries beside the exact ones. Studies are padded
as every NUTS fit is (:func:`bayesmeta.mcmc.padded_size`), so that one compiled model per prior structure serves
every k <= 32 on a worker (the compiled model cache of :mod:`bayesmeta.mcmc.compiled`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayesmeta.batch.table import GroupEffects
from bayesmeta.priors import PriorSet

COLUMNS = ("nuts_mu_median", "nuts_mu_ci_lower", "nuts_mu_ci_upper", "nuts_tau_median", "nuts_max_rhat")


def nuts_columns(results: pd.DataFrame, effects: GroupEffects, prior_sets: Sequence[PriorSet],
                 groups: frozenset[str], level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """The results with the NUTS columns (NaN for meta-analyses not in ``groups``)."""
    from bayesmeta.mcmc import fit_nuts

    out = results.copy()
    for column in COLUMNS:
        out[column] = np.nan
    index = {g: i for i, g in enumerate(effects.groups)}
    for group in sorted(groups & set(index)):
        i = index[group]
        m = effects.mask[i]
        for prior_set in prior_sets:
            post = fit_nuts(effects.yi[i, m], effects.sei[i, m], mu_prior=prior_set.mu, tau_prior=prior_set.tau,
                            draws=1000, tune=1000, chains=2, cores=1, seed=seed)
            mu, tau = post.marginal("mu"), post.marginal("tau")
            lo, hi = mu.interval(level)
            rhat = float(post.diagnostics.get("rhat_max", np.nan))
            row = (out["group"] == group) & (out["prior_set"] == prior_set.name) & (out["status"] == "ok")
            out.loc[row, list(COLUMNS)] = [mu.median(), lo, hi, tau.median(), rhat]
    return out
