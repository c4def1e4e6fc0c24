"""Publication bias and model uncertainty: Bayesian model averaging over effect, heterogeneity and publication
bias (normal-normal, PET, PEESE and step-function selection models), with marginal likelihoods by deterministic
integration (see :mod:`bayesmeta.bias.gaussian`, :mod:`bayesmeta.bias.selection`)."""

from bayesmeta.bias.ensemble import BiasResult, Inclusion, ModelResult, fit_bias
from bayesmeta.bias.models import (ROBMA_WEIGHT_FUNCTIONS, Ensemble, ModelSpec, WeightFunction, get_ensemble,
                                   metabma_ensemble, psma_ensemble)
from bayesmeta.bias.priors import BiasPriors, TPrior, default_priors, parse_tprior

__all__ = [
    "BiasPriors", "BiasResult", "Ensemble", "Inclusion", "ModelResult", "ModelSpec", "ROBMA_WEIGHT_FUNCTIONS",
    "TPrior", "WeightFunction", "default_priors", "fit_bias", "get_ensemble", "metabma_ensemble",
    "parse_tprior", "psma_ensemble",
]
