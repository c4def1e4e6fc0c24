"""The direction of benefit in the bias ensembles: the one rule by which the report's bias section and
``bayesmeta bias`` orient the effects.

The bias components (PET and PEESE slopes b > 0, one-sided selection on the p-values of positive effects) describe
small studies that exaggerate a positive effect. Where benefit lies below the null the effects are fitted with
their signs flipped (-yi) and the summaries flipped back, as RoBMA's ``effect_direction = "negative"`` does
(Bartos et al. 2022): bias then means small studies that show a larger benefit, on either side of the null."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bayesmeta.benefit import Benefit
from bayesmeta.bias.ensemble import BiasResult
from bayesmeta.scales import is_ratio, to_reported

SUMMARY_KEYS = ("mu", "mu_conditional", "mu_unadjusted", "predictive")
"""The summaries of :meth:`BiasResult.to_dict` on the effect's scale, turned back to the outcome's sign."""
SLOPES = ("PET", "PEESE")
"""The estimates whose sign follows the effects' (mu + b se, mu + b se^2)."""


def fitted_effects(yi: Sequence[float] | np.ndarray, benefit: Benefit | str) -> tuple[np.ndarray, bool]:
    """(effects the ensemble is fitted to, whether their signs were flipped): ``-yi`` where benefit lies below
    the null, ``yi`` above it."""
    flipped = Benefit.parse(benefit).below
    y = np.asarray(yi, dtype=float)
    return (-y if flipped else y), flipped


def flip_summary(s: dict[str, float]) -> dict[str, float]:
    """The summary of -X from that of X, with the keys X's has (central intervals swap ends; sd unchanged;
    a 0 stays 0, not -0.0)."""
    source = {"median": "median", "mean": "mean", "ci_lower": "ci_upper", "ci_upper": "ci_lower"}
    return {k: (s[k] if k == "sd" else -s[source[k]] + 0.0) for k in s}


def _reported(s: dict[str, float], measure: str | None) -> dict[str, float]:
    if measure is None or not is_ratio(measure):
        return {k: s[k] for k in ("median", "sd", "ci_lower", "ci_upper")}
    return {k: float(to_reported(s[k], measure)) for k in ("median", "ci_lower", "ci_upper")}


def oriented_dict(fit: BiasResult, level: float, flipped: bool) -> dict[str, Any]:
    """:meth:`BiasResult.to_dict` of a fit to :func:`fitted_effects`, on the outcome's own sign: mu, the
    conditional, unadjusted and new-study effects and each model's mu flipped back (analysis scale and reported,
    e.g. an OR below 1 for benefit), PET's and PEESE's slopes too (so a negative slope says that smaller studies
    show effects further below the null); tau and the omegas (publication weights per interval of one-sided
    p-values, of tests towards benefit) need no flip. ``flipped`` is recorded in the result."""
    out = fit.to_dict(level)
    out["flipped"] = flipped
    if not flipped:
        return out
    for key in SUMMARY_KEYS:
        if out[key] is not None:
            a = flip_summary(out[key]["analysis"])
            out[key] = {"analysis": a, "reported": _reported(a, fit.measure)}
    for m in out["models"]:
        if m["mu"] is not None:
            a = flip_summary(m["mu"]["analysis"])
            m["mu"] = {"analysis": a, "reported": _reported(a, fit.measure)}
    for table in (out["estimates"], out["estimates_conditional"]):
        for kind in SLOPES:
            if kind in table:
                table[kind] = flip_summary(table[kind])
    return out
