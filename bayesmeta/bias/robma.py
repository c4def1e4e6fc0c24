"""RoBMA's conventions for standardised effects, so that its published analyses can be reproduced (RoBMA >= 2.0,
Bartos & Maier; source R/transformations.R, ``combine_data`` and ``.get_cutoffs``):

- Cohen's d with its standard error is fitted on Fisher's z scale: z = atanh(d / sqrt(d^2 + 4)) = asinh(d / 2),
  n = (d^2 + 8) / (2 se^2) (the sample size implied by se(d) = sqrt(4/n + d^2/(2n)); Borenstein et al. 2009,
  ch. 4) and se(z) = 1 / sqrt(n - 3). RoBMA reports mu back on d by the linear factor 2 (its printed estimates
  match d = 2 z, not the exact d = 2 sinh z: Poulsen et al. 2006 in its MedicineBMA vignette, mean 1.045 against
  1.042 by 2 z and 1.093 by 2 sinh z).
- Priors stated on Cohen's d are moved to Fisher's z by the linear factor 1/2 (``scale_d2z``, "as in metaBMA"):
  mu ~ N(0, 1) becomes N(0, 1/2), tau ~ InvGamma(1, 0.15) becomes InvGamma(1, 0.075), PET's b is scale-free and
  PEESE's b (a coefficient of se^2) scales by the inverse, Cauchy(0, 5) becomes Cauchy(0, 10).
- The selection models' cut-offs are p-values of the study's t-test on its own scale (df = n - 2), not of the
  normal test y / se: a one-sided cut-off c is the d with t = qt(1 - c, n - 2) = d sqrt(n) / 2, carried to z.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy import stats

from bayesmeta.bias.ensemble import BiasResult, fit_bias
from bayesmeta.bias.marginals import GridMarginal
from bayesmeta.bias.models import Ensemble, WeightFunction
from bayesmeta.bias.priors import BiasPriors, TPrior
from bayesmeta.errors import InputError, ModelError
from bayesmeta.priors import InverseGammaPrior

Z_PER_D = 0.5
"""RoBMA's linear prior rescaling from Cohen's d to Fisher's z (``scale_d2z``)."""


def n_from_d(d: np.ndarray, se: np.ndarray) -> np.ndarray:
    """The total sample size implied by d and se(d) = sqrt(4/n + d^2/(2n)): n = (d^2 + 8) / (2 se^2)."""
    return (np.asarray(d, dtype=float) ** 2 + 8.0) / (2.0 * np.asarray(se, dtype=float) ** 2)


def d_to_z(d: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, se(z), n) of Cohen's d with standard error se, as RoBMA's ``combine_data(d, se)`` computes them."""
    d = np.asarray(d, dtype=float)
    n = n_from_d(d, se)
    if np.any(n <= 3):
        raise InputError("a standard error of Cohen's d implies a sample size of 3 or fewer", column="sei")
    return np.arcsinh(d / 2.0), 1.0 / np.sqrt(n - 3.0), n


def z_to_d(z: np.ndarray | float) -> np.ndarray:
    """Fisher's z back to Cohen's d: d = 2 r / sqrt(1 - r^2) with r = tanh z, i.e. 2 sinh z."""
    return 2.0 * np.sinh(np.asarray(z, dtype=float))


def robma_d(z: np.ndarray | float) -> np.ndarray:
    """RoBMA's report of a Fisher's z effect on Cohen's d: the linear factor z / Z_PER_D (module docstring)."""
    return np.asarray(z, dtype=float) / Z_PER_D


def z_priors(d_priors: BiasPriors | None = None) -> BiasPriors:
    """Priors stated on Cohen's d (default: RoBMA's, mu ~ N(0, 1), tau ~ InvGamma(1, 0.15), PET ~ Cauchy(0, 1)+,
    PEESE ~ Cauchy(0, 5)+) moved to Fisher's z as RoBMA does (module docstring); the tau prior must be
    inverse-gamma (its scale moves; the shape stays)."""
    if d_priors is None:
        d_priors = BiasPriors(TPrior(0.0, 1.0), InverseGammaPrior(1.0, 0.15), TPrior(0.0, 1.0, 1.0, 0.0),
                              TPrior(0.0, 5.0, 1.0, 0.0))
    tau = d_priors.tau
    if not isinstance(tau, InverseGammaPrior):
        raise ModelError(f"only an inverse-gamma tau prior is moved to Fisher's z here, got {tau.text}")
    return BiasPriors(mu=d_priors.mu.scaled(Z_PER_D), tau=InverseGammaPrior(tau.shape, tau.scale_ * Z_PER_D),
                      pet=d_priors.pet, peese=d_priors.peese.scaled(1.0 / Z_PER_D),
                      note="priors for Cohen's d moved to Fisher's z by RoBMA's factor 1/2")


def t_thresholds(n: np.ndarray):
    """A function of a weight function giving the studies' cut-offs on Fisher's z scale from t-test p-values
    with n - 2 degrees of freedom (Cohen's d input; RoBMA's ``.get_cutoffs``): d_c = 2 t_c / sqrt(n),
    z_c = asinh(d_c / 2)."""
    n = np.asarray(n, dtype=float)

    def thresholds(wf: WeightFunction) -> np.ndarray:
        c = np.asarray(wf.cutoffs)[None, :]
        tail = c / 2.0 if wf.sided == "two" else c
        t = stats.t.isf(tail, (n - 2.0)[:, None])
        return np.arcsinh(t / np.sqrt(n)[:, None])

    return thresholds


def _on_d(m: GridMarginal) -> GridMarginal:
    """A posterior on Fisher's z carried to d by RoBMA's linear factor (x / Z_PER_D)."""
    return GridMarginal(m.x / Z_PER_D, m.density * Z_PER_D, m.atom)


def fit_bias_robma(d: Sequence[float], se: Sequence[float], *, ensemble: str | Ensemble = "psma",
                   d_priors: BiasPriors | None = None, seed: int = 0) -> BiasResult:
    """Cohen's d fitted as RoBMA does (module docstring): on Fisher's z with the priors (stated on d; default
    RoBMA's) moved to z and t-test selection cut-offs, the results carried back to d by the factor 2 (posteriors
    of mu and the new study, tau's moments and estimates), PET's coefficient unchanged (y = mu + b se holds on
    both scales with d = 2 z, se(d) = 2 se(z)) and PEESE's halved (mu + b se^2); log marginal likelihoods stay
    those of the z data, as RoBMA's; ``seed`` as :func:`~bayesmeta.bias.ensemble.fit_bias`'s."""
    z, se_z, n = d_to_z(np.asarray(d, dtype=float), np.asarray(se, dtype=float))
    fit = fit_bias(z, se_z, measure="SMD", ensemble=ensemble, priors=z_priors(d_priors), thresholds=t_thresholds(n),
                   seed=seed)
    models = [replace(m, mu=_on_d(m.mu), predictive=_on_d(m.predictive), tau_mean=m.tau_mean / Z_PER_D,
                      tau_sd=m.tau_sd / Z_PER_D) for m in fit.models]
    return replace(fit, models=models, mu=_on_d(fit.mu), predictive=_on_d(fit.predictive),
                   mu_conditional=_on_d(fit.mu_conditional) if fit.mu_conditional is not None else None,
                   mu_unadjusted=_on_d(fit.mu_unadjusted) if fit.mu_unadjusted is not None else None,
                   estimate_scale={"tau": 1 / Z_PER_D, "PEESE": Z_PER_D},
                   notes=fit.notes + ["fitted on Fisher's z as RoBMA does (priors x 1/2, t-test selection cut-offs); "
                                      "effects and tau reported on Cohen's d by the factor 2"])
