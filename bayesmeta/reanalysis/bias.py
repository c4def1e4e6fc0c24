"""Publication bias and model averaging of one outcome for the report (the plan's ``[bias]`` section): the
ensemble of :func:`bayesmeta.bias.fit_bias` fitted with the direction of benefit taken into account, as plain
numbers (model table, inclusion Bayes factors, averaged and unadjusted posteriors of the effect).

Where benefit lies below the null the effects are fitted with their signs flipped and the summaries flipped back
(:mod:`bayesmeta.bias.direction`, the rule ``bayesmeta bias`` follows too)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesmeta.bias import Ensemble, default_priors, fit_bias, get_ensemble
from bayesmeta.bias.direction import fitted_effects, oriented_dict
from bayesmeta.bias.informed import informed_priors
from bayesmeta.effect_data import EffectData
from bayesmeta.plan import BiasPlan

CURVE_POINTS = 25
"""Standard errors (0 to 1.1 times the largest) at which the funnel plot's bias curves are evaluated."""
DENSITY_POINTS = 201
"""Points of the averaged and unadjusted posterior densities kept for the report's figure."""


def bias_ensemble(name: str) -> Ensemble:
    """The named ensemble of the plan's ``[bias] ensemble`` (:func:`bayesmeta.bias.get_ensemble`): ``pet-peese``
    (effect and heterogeneity absent/present crossed with no bias 1/2, PET 1/4, PEESE 1/4), ``metabma``,
    ``psma``."""
    return get_ensemble(name)


def bias_analysis(data: EffectData, plan: BiasPlan, level: float, seed: int = 0, unit: Any = None) -> dict[str, Any]:
    """The ensemble ``plan.ensemble`` (``custom``: the plan's ``[[bias.models]]``, ``plan.models``) fitted to the
    outcome's effects (flipped where benefit is below the null, :func:`bayesmeta.bias.direction.fitted_effects`):
    :func:`bayesmeta.bias.direction.oriented_dict` on the analysis and reported scales of the outcome, with
    ``flipped`` recording whether the signs were turned, and the funnel plot's curves and the densities;
    ``seed``: of the selection models estimated by sequential Monte Carlo; ``unit``: the outcome's scale unit
    (:func:`bayesmeta.scale_unit.scale_unit`), by which RoBMA's default priors are rescaled for an MD or GEN."""
    yi, flipped = fitted_effects(data.yi, data.benefit)
    priors = informed_priors(plan.informed, data.measure) if plan.informed else default_priors(data.measure, unit=unit)
    ensemble = Ensemble("custom", plan.models) if plan.ensemble == "custom" else bias_ensemble(plan.ensemble)
    fit = fit_bias(yi, data.sei, measure=data.measure, ensemble=ensemble, priors=priors, seed=seed)
    out = oriented_dict(fit, level, flipped)
    out["ensemble"] = plan.ensemble
    out["curves"] = _curves(fit, np.asarray(data.sei, float), flipped)
    out["density"] = _densities(fit, flipped)
    return out


def _curves(fit, sei: np.ndarray, flipped: bool) -> dict[str, Any]:
    """The funnel plot's curves (:func:`bayesmeta.bias.curves.class_curves`) on the outcome's analysis scale:
    ``se`` and, per bias class, its probabilities and expected estimate at each se (PET and PEESE with the
    intercept and slope of their line)."""
    from bayesmeta.bias.curves import class_curves

    se = np.linspace(0.0, 1.1 * float(np.max(sei)), CURVE_POINTS)
    sign = -1.0 if flipped else 1.0
    out: dict[str, Any] = {"se": se.tolist()}
    for kind, c in class_curves(fit, se).items():
        entry = {k: c[k] for k in ("prior_prob", "post_prob")}
        if "intercept" in c:
            entry.update(intercept=sign * c["intercept"], slope=sign * c["slope"], power=c["power"])
        entry["curve"] = (sign * np.asarray(c["curve"], float)).tolist()
        out[kind] = entry
    return out


def _densities(fit, flipped: bool) -> dict[str, Any]:
    """The averaged posterior of mu (its continuous part; the atom at 0 is ``mu_atom_at_0``) and the unadjusted
    one on :data:`DENSITY_POINTS` points of the analysis scale covering both from quantile 1e-4 to 1 - 1e-4."""
    parts = {"mu": fit.mu, "mu_unadjusted": fit.mu_unadjusted}
    present = [m for m in parts.values() if m is not None]
    lo = min(float(m.ppf(1e-4)) for m in present)
    hi = max(float(m.ppf(1 - 1e-4)) for m in present)
    x = np.linspace(lo, hi, DENSITY_POINTS)
    out: dict[str, Any] = {"x": (-x[::-1] if flipped else x).tolist()}
    for key, m in parts.items():
        d = None if m is None else m.pdf(x)
        out[key] = None if d is None else (d[::-1] if flipped else d).tolist()
    return out
