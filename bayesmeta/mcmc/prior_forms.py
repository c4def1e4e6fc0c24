"""Priors split into a compiled shape and swappable numbers, so prior-grid refits reuse one compiled model.

A location-scale prior such as ``halfnormal(0.5)`` is sampled as ``tau = 0.5 * tau_std`` with
``tau_std ~ halfnormal(1)``: the unit prior is compiled into the model, the location and scale are data.
``halfnormal(0.25)``, ``halfnormal(0.5)`` and ``halfnormal(1)`` therefore share one compiled model; the scaling is
only a reparameterisation, so ``tau`` keeps exactly the density written in the prior text.
The positive families (half-normal, half-t and half-Cauchy, exponential, log-normal, Lomax, inverse-gamma and
the log-t prior on tau^2) go further: their unit densities are compiled once, side by side, and the family and its
shape parameters are data too (:data:`POSITIVE_FAMILIES`), so a prior sensitivity study over tau priors of
different families refits one compiled model. Priors without such a form (``flat``, ``halfflat``,
``uniform(0, inf)``, ``jeffreys``, ``power(...)``) are compiled as written.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from bayesmeta.priors import Prior

POSITIVE_FAMILIES = ("halfnormal", "halft", "exponential", "lognormal", "lomax", "invgamma", "logt_tau2")
"""Unit densities compiled into every model's positive parameters (tau, the binomial model's baseline sd); the
prior's family picks one at run time (half-Cauchy is half-t with one degree of freedom)."""
POSITIVE_UNIT = "positive(family, shape)"
"""The compiled text of a positive parameter whose family is data (part of the cache key)."""


@dataclass(frozen=True)
class PriorForm:
    """How one prior is built: ``value = loc + scale * <unit prior>``.

    ``unit`` is the prior at location 0 and scale 1 (``None`` when the prior is compiled as written, with
    ``loc = 0`` and ``scale = 1``); ``family`` (an index into :data:`POSITIVE_FAMILIES`) and ``shape`` (two shape
    parameters) mark a positive unit whose family is data; ``depends_on_sei`` marks priors built from the
    standard errors (Jeffreys), whose compiled model is tied to the data.
    """

    prior: Prior
    unit: Prior | None
    loc: float = 0.0
    scale: float = 1.0
    depends_on_sei: bool = False
    family: int | None = None
    shape: tuple[float, float] = (1.0, 1.0)

    @property
    def compiled_text(self) -> str:
        """Text of the part of the prior that is compiled (part of the cache key)."""
        if self.family is not None:
            return POSITIVE_UNIT
        return (self.unit if self.unit is not None else self.prior).text


def _positive(prior: Prior, unit: Prior, scale: float, family: str, shape: tuple[float, float] = (1.0, 1.0)
              ) -> PriorForm:
    return PriorForm(prior, unit, 0.0, scale, family=POSITIVE_FAMILIES.index(family),
                     shape=(float(shape[0]), float(shape[1])))


def prior_form(prior: Prior) -> PriorForm:
    """Split a prior into its unit form, location and scale.

    normal(m, s) = m + s * normal(0, 1); uniform(0, u) = u * uniform(0, 1); the positive families, with their
    family and shape parameters as data: halfnormal(s), halfcauchy(s) = halft(1, s), halft(nu, s),
    lomax(a, s) = s * the same with scale 1; exponential(rate) = (1 / rate) * exponential(1);
    lognormal(m, s) = exp(m) * lognormal(0, s); invgamma(a, b) = b * invgamma(a, 1);
    logt_tau2(l, s, df) = exp(l / 2) * logt_tau2(0, s, df). Anything else is compiled as written.
    """
    family = prior.family
    if family == "normal":
        return PriorForm(
            prior, dataclasses.replace(prior, mean=0.0, sd=1.0), prior.mean, prior.sd
        )
    if family == "halfnormal":
        return _positive(prior, dataclasses.replace(prior, scale_=1.0), prior.scale_, "halfnormal")
    if family == "halfcauchy":
        return _positive(prior, dataclasses.replace(prior, scale_=1.0), prior.scale_, "halft", (1.0, 1.0))
    if family == "halft":
        return _positive(prior, dataclasses.replace(prior, scale_=1.0), prior.scale_, "halft", (prior.nu, 1.0))
    if family == "exponential":
        return _positive(prior, dataclasses.replace(prior, rate=1.0), 1.0 / prior.rate, "exponential")
    if family == "uniform" and prior.proper and prior.lower == 0:
        return PriorForm(prior, dataclasses.replace(prior, upper=1.0), 0.0, prior.upper)
    if family == "lognormal":
        return _positive(prior, dataclasses.replace(prior, meanlog=0.0, on_tau2=False), math.exp(prior.meanlog),
                         "lognormal", (prior.sdlog, 1.0))
    if family == "lomax":
        return _positive(prior, dataclasses.replace(prior, scale_=1.0), prior.scale_, "lomax", (prior.shape, 1.0))
    if family == "invgamma":
        return _positive(prior, dataclasses.replace(prior, scale_=1.0), prior.scale_, "invgamma", (prior.shape, 1.0))
    if family == "logt_tau2":
        return _positive(prior, dataclasses.replace(prior, location=0.0, label=""), math.exp(prior.location / 2),
                         "logt_tau2", (prior.scale_, prior.df))
    return PriorForm(
        prior, None, depends_on_sei=family == "jeffreys" or "jeffreys" in prior.text
    )
