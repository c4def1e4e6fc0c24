"""Priors split into a compiled shape and swappable numbers, so prior-grid refits reuse one compiled model.

A location-scale prior such as ``halfnormal(0.5)`` is sampled as ``tau = 0.5 * tau_std`` with
``tau_std ~ halfnormal(1)``: the unit prior is compiled into the model, the location and scale are data.
``halfnormal(0.25)``, ``halfnormal(0.5)`` and ``halfnormal(1)`` therefore share one compiled model; the scaling is
only a reparameterisation, so ``tau`` keeps exactly the density written in the prior text.
Priors without such a form (``flat``, ``halfflat``, ``uniform(0, inf)``, ``jeffreys``, ``power(...)``) are
compiled as written.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from bayesmeta.priors import Prior


@dataclass(frozen=True)
class PriorForm:
    """How one prior is built: ``value = loc + scale * <unit prior>``.

    ``unit`` is the prior compiled into the model (``None`` when the prior is compiled as written, with
    ``loc = 0`` and ``scale = 1``); ``depends_on_sei`` marks priors built from the standard errors (Jeffreys),
    whose compiled model is tied to the data.
    """

    prior: Prior
    unit: Prior | None
    loc: float = 0.0
    scale: float = 1.0
    depends_on_sei: bool = False

    @property
    def compiled_text(self) -> str:
        """Text of the part of the prior that is compiled (part of the cache key)."""
        return (self.unit if self.unit is not None else self.prior).text


def prior_form(prior: Prior) -> PriorForm:
    """Split a prior into its unit form, location and scale.

    normal(m, s) = m + s * normal(0, 1); halfnormal(s), halfcauchy(s), halft(nu, s) = s * the same with scale 1;
    exponential(rate) = (1 / rate) * exponential(1); uniform(0, u) = u * uniform(0, 1);
    lognormal(m, s) = exp(m) * lognormal(0, s). Anything else is compiled as written.
    """
    family = prior.family
    if family == "normal":
        return PriorForm(
            prior, dataclasses.replace(prior, mean=0.0, sd=1.0), prior.mean, prior.sd
        )
    if family in ("halfnormal", "halfcauchy", "halft"):
        return PriorForm(
            prior, dataclasses.replace(prior, scale_=1.0), 0.0, prior.scale_
        )
    if family == "exponential":
        return PriorForm(
            prior, dataclasses.replace(prior, rate=1.0), 0.0, 1.0 / prior.rate
        )
    if family == "uniform" and prior.proper and prior.lower == 0:
        return PriorForm(prior, dataclasses.replace(prior, upper=1.0), 0.0, prior.upper)
    if family == "lognormal":
        return PriorForm(
            prior, dataclasses.replace(prior, meanlog=0.0), 0.0, math.exp(prior.meanlog)
        )
    return PriorForm(
        prior, None, depends_on_sei=family == "jeffreys" or "jeffreys" in prior.text
    )
