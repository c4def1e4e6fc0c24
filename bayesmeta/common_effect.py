"""The Bayesian common-effect model: every study estimates one effect (tau = 0), y_i ~ N(mu, sei_i^2).

With a normal prior mu ~ N(m0, s0^2) the posterior is normal in closed form (normal prior and normal likelihood,
Spiegelhalter, Abrams & Myles 2004, Bayesian Approaches to Clinical Trials and Health-Care Evaluation, section
3.6; Lee 2012, Bayesian Statistics: An Introduction, section 2.2):

    precision = 1/s0^2 + sum_i 1/sei_i^2,    mean = (m0/s0^2 + sum_i y_i/sei_i^2) / precision,    sd = precision^-1/2.

A flat prior (1/s0^2 = 0) gives the inverse-variance (common-effect) estimate and its z interval exactly. The
exact engine (:mod:`bayesmeta.exact`) integrates over a continuous tau prior and has no point mass at 0, hence this
module. Other mu priors are refused: the closed form does not hold for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from bayesmeta.effect_data import EffectData, effect_args
from bayesmeta.errors import InputError, ModelError
from bayesmeta.posterior import _check_level
from bayesmeta.priors import FlatPrior, NormalPrior, Prior, parse_prior
from bayesmeta.scales import to_analysis, to_reported


@dataclass(frozen=True)
class CommonEffectPosterior:
    """The normal posterior of mu under tau = 0 (analysis scale: log ratios for HR/RR/OR)."""

    measure: str
    mean: float
    sd: float
    k: int
    mu_prior: str

    def prob_below(self, value: float, param: str = "mu") -> float:
        """P(mu < value), ``value`` on the reported scale (a ratio for HR/RR/OR); the effect in a new study is mu
        itself, so ``param`` may be 'mu' or 'predictive'."""
        self._check_param(param)
        return float(stats.norm.cdf(to_analysis(value, self.measure), self.mean, self.sd))

    def prob_above(self, value: float, param: str = "mu") -> float:
        """P(mu > value), ``value`` on the reported scale."""
        self._check_param(param)
        return float(stats.norm.sf(to_analysis(value, self.measure), self.mean, self.sd))

    def summary(self, level: float = 0.95, scale: str = "analysis") -> dict[str, float]:
        """{median, mean, sd, ci_lower, ci_upper} of mu with the central ``level`` interval; ``scale='reported'``
        gives median and interval as ratios for HR/RR/OR (mean and sd stay on the analysis scale)."""
        _check_level(level)
        if scale not in ("analysis", "reported"):
            raise InputError(f"scale '{scale}' is not known", valid="analysis, reported")
        z = float(stats.norm.ppf(0.5 + level / 2))
        lo, hi = self.mean - z * self.sd, self.mean + z * self.sd
        show = (lambda v: float(to_reported(v, self.measure))) if scale == "reported" else float
        return {"median": show(self.mean), "mean": self.mean, "sd": self.sd, "ci_lower": show(lo),
                "ci_upper": show(hi)}

    @staticmethod
    def _check_param(param: str) -> None:
        if param not in ("mu", "predictive"):
            raise ModelError(f"the common-effect model has no parameter '{param}' (valid: mu, predictive)")


def common_effect_posterior(data: EffectData | Sequence[float] | np.ndarray, sei: Any = None, *,
                            mu_prior: Prior | str, vi: Any = None, measure: str | None = None) -> CommonEffectPosterior:
    """The posterior of mu under the common-effect model (module docstring for the formula). ``mu_prior``:
    ``normal(m0, s0)`` or ``flat``; any other prior raises :class:`ModelError`."""
    args = effect_args(data, sei, vi=vi, measure=measure)
    y = np.asarray(args.yi, dtype=float)
    s = np.asarray(args.errors(), dtype=float)
    if y.ndim != 1 or y.shape != s.shape or y.size == 0:
        raise InputError("yi and sei must be two non-empty vectors of the same length", valid="one value per study")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise InputError("every yi must be finite and every sei finite and > 0", column="sei",
                         valid="standard errors > 0")
    prior = parse_prior(mu_prior)
    if isinstance(prior, NormalPrior):
        m0, p0 = prior.mean, 1.0 / prior.sd**2
    elif isinstance(prior, FlatPrior):
        m0, p0 = 0.0, 0.0
    else:
        raise ModelError(f"the common-effect posterior has a closed form only under a normal or flat mu prior, not "
                         f"{prior.text}; it is not approximated")
    w = 1.0 / s**2
    precision = p0 + float(w.sum())
    mean = (p0 * m0 + float((w * y).sum())) / precision
    return CommonEffectPosterior(measure=args.measure, mean=mean, sd=precision**-0.5, k=int(y.size),
                                 mu_prior=prior.text)
