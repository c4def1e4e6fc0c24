"""Exact Bayes factors for tau = 0 and mu = 0 by the Savage-Dickey density ratio (Dickey 1971).

For a point hypothesis nested in the model with the other parameters' priors unchanged, the Bayes factor of the
full model (H1) against the restriction (H0) is BF_10 = p(value) / p(value | y): prior density over posterior
density at the value. Both densities are exact here (the posterior of tau from its normalised density, that of
mu from the normal mixture). R bayesmeta's ``$bayesfactor["actual", ...]`` reports the reciprocal BF_01 (small
values being evidence against the hypothesis). Defined only when every prior is proper.
"""

from __future__ import annotations

import numpy as np

from bayesmeta.errors import ModelError
from bayesmeta.posterior import Posterior
from bayesmeta.priors import parse_prior


def _require_proper(post: Posterior) -> None:
    if post.engine != "exact":
        raise ModelError("exact Bayes factors need a posterior from the exact engine")
    improper = [
        f"{name}: {text}"
        for name, text in post.priors.items()
        if any(not parse_prior(t.strip()).proper for t in text.split(";"))
    ]
    if improper:
        raise ModelError(
            "a Bayes factor needs proper priors (the marginal likelihood is undefined otherwise); improper: "
            + ", ".join(improper)
        )


def _ratio(prior_density: float, posterior_density: float, what: str) -> float:
    if not prior_density > 0:
        raise ModelError(f"the prior density at {what} is zero, so the Savage-Dickey Bayes factor is undefined")
    if not posterior_density > 0:
        return float("inf")
    return float(prior_density / posterior_density)


def bayes_factor_tau0(post: Posterior) -> float:
    """BF_10 for heterogeneity: p(tau = 0) / p(tau = 0 | y) (> 1 favours tau > 0)."""
    _require_proper(post)
    prior = parse_prior(post.priors["tau"])
    prior_at_0 = float(np.exp(prior.logpdf(0.0, post.sei)))
    return _ratio(prior_at_0, float(post.marginal("tau").pdf(0.0)), "tau = 0")


def bayes_factor_mu0(post: Posterior) -> float:
    """BF_10 for an effect: p(mu = 0) / p(mu = 0 | y) (> 1 favours mu != 0)."""
    _require_proper(post)
    prior = parse_prior(post.priors["mu"])
    prior_at_0 = float(np.exp(prior.logpdf(0.0)))
    return _ratio(prior_at_0, float(post.marginal("mu").pdf(0.0)), "mu = 0")
