"""Exact posterior of the normal-normal hierarchical model and meta-regression by integration over tau
(Roever 2020, J Stat Softw 93(6)).

- :func:`fit_exact`: one dataset, optionally with covariates -> :class:`bayesmeta.posterior.Posterior`;
- :func:`fit_exact_batch`: many datasets (rows, with a mask of present studies) -> :class:`ExactBatch`;
- :func:`fit_exact_priors`: one dataset under many prior pairs -> :class:`ExactBatch`;
- :func:`bayes_factor_tau0`, :func:`bayes_factor_mu0`: Savage-Dickey Bayes factors.
"""

from bayesmeta.exact.bayes_factor import bayes_factor_mu0, bayes_factor_tau0
from bayesmeta.exact.engine import ExactBatch, fit_exact, fit_exact_batch, fit_exact_priors
from bayesmeta.exact.mixture import NormalMixture
from bayesmeta.exact.tau import TauMarginal

__all__ = [
    "ExactBatch",
    "NormalMixture",
    "TauMarginal",
    "bayes_factor_mu0",
    "bayes_factor_tau0",
    "fit_exact",
    "fit_exact_batch",
    "fit_exact_priors",
]
