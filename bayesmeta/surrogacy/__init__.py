"""Bayesian trial-level surrogacy (Daniels & Hughes 1997; Bujkiewicz et al. 2016): the bivariate normal-normal
model of two treatment effects per study, fitted by deterministic integration (the exact engine,
:mod:`bayesmeta.surrogacy.exact`) or by NUTS (nutpie), with the correlation and slope of the true
effects, the predicted final-outcome effect of a new trial, and the rank correlation the paper computed.

- :func:`effect_pairs`: the studies reporting both outcomes, from an outcomes table -> :class:`EffectPairs`;
- :func:`fit_surrogacy`: -> :class:`SurrogacyResult`.
"""

from bayesmeta.surrogacy.analysis import (
    Prediction,
    PriorVsPosterior,
    RankCorrelation,
    SurrogacyResult,
    fit_surrogacy,
    predict,
    published_rank_correlation,
    rho_prior_interval,
)
from bayesmeta.surrogacy.data import EffectPairs, effect_pairs
from bayesmeta.surrogacy.model import Priors

__all__ = [
    "EffectPairs",
    "Prediction",
    "PriorVsPosterior",
    "Priors",
    "RankCorrelation",
    "SurrogacyResult",
    "effect_pairs",
    "fit_surrogacy",
    "predict",
    "published_rank_correlation",
    "rho_prior_interval",
]
