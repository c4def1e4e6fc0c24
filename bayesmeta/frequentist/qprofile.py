"""Q-profile confidence interval for tau^2, and for tau, I^2 and H^2 with it (Viechtbauer 2007, Stat Med
26:37-52; metafor ``confint.rma.uni``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from numpy.typing import ArrayLike
from scipy import stats

from bayesmeta.errors import ModelError
from bayesmeta.effect_data import EffectData
from bayesmeta.frequentist.inputs import check_level, design_matrix, effects_input
from bayesmeta.frequentist.tau2 import bracket_root, weighted_fit


def tau2_ci_qprofile(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    level: float = 0.95,
    mods: ArrayLike | None = None,
    mod_names: Sequence[str] | None = None,
    *,
    sei: ArrayLike | None = None,
) -> tuple[float, float]:
    """Q-profile interval for tau^2: the values where the generalised Q(tau^2) = sum w*(y - Xb*)^2 with
    w* = 1/(v + tau^2) equals the chi^2_{k-p} quantiles 1 - alpha/2 (lower bound) and alpha/2 (upper bound).

    Q(tau^2) decreases in tau^2, so each bound is unique; a bound is truncated at 0 when Q(0) already lies below
    its quantile, as metafor does. Bounds are solved to machine precision (metafor's default uniroot tolerance is
    1.2e-4) and searched up to 1e8 times the data's scale max v + sum (y - mean y)^2, so the interval scales with
    the data (metafor caps the search at tau^2 = max(100, 10 tau^2-hat) by default). ``data``: an EffectData,
    or the effects yi with ``vi`` (or ``sei``).
    """
    level = check_level(level)
    y, v, _ = effects_input(data, vi, sei=sei, min_k=2)
    x, _ = design_matrix(mods, y.size, mod_names)
    df = y.size - x.shape[1]
    if df < 1:
        raise ModelError(f"the Q-profile interval needs k > p (k = {y.size}, p = {x.shape[1]})")
    alpha = 1 - level

    def q(t: float) -> float:
        return weighted_fit(y, v, x, t).q()

    q0 = q(0.0)

    def bound(target: float) -> float:
        if q0 <= target:
            return 0.0
        return bracket_root(lambda t: q(t) - target, y, v, what="Q-profile bound for tau^2")

    lower = bound(float(stats.chi2.ppf(1 - alpha / 2, df)))
    upper = bound(float(stats.chi2.ppf(alpha / 2, df)))
    return lower, upper


@dataclass(frozen=True)
class HeterogeneityInterval:
    """Estimates and Q-profile intervals of tau^2, tau, I^2 (percent) and H^2, as metafor ``confint.rma.uni``
    prints them: each a ``{estimate, ci_lower, ci_upper}`` in :meth:`as_dict`."""

    level: float
    tau2: tuple[float, float, float]
    tau: tuple[float, float, float]
    i2: tuple[float, float, float]
    h2: tuple[float, float, float]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": "Q-profile", "level": self.level}
        for name in ("tau2", "tau", "i2", "h2"):
            estimate, lower, upper = getattr(self, name)
            out[name] = {"estimate": estimate, "ci_lower": lower, "ci_upper": upper}
        return out


def heterogeneity_ci(
    data: EffectData | ArrayLike,
    tau2: float,
    vi: ArrayLike | None = None,
    level: float = 0.95,
    mods: ArrayLike | None = None,
    mod_names: Sequence[str] | None = None,
    *,
    sei: ArrayLike | None = None,
) -> HeterogeneityInterval:
    """The Q-profile interval of tau^2 (:func:`tau2_ci_qprofile`; Viechtbauer 2007) carried to tau = sqrt(tau^2),
    I^2 = 100 tau^2 / (s^2 + tau^2) and H^2 = tau^2 / s^2 + 1, with s^2 = (k - p) / tr(P) the typical
    within-study variance of the fit (Higgins & Thompson 2002), as metafor ``confint.rma.uni``; ``tau2`` is the
    fit's estimate."""
    lower, upper = tau2_ci_qprofile(data, vi, level=level, mods=mods, mod_names=mod_names, sei=sei)
    y, v, _ = effects_input(data, vi, sei=sei, min_k=2)
    x, _ = design_matrix(mods, y.size, mod_names)
    s2 = (y.size - x.shape[1]) / weighted_fit(y, v, x, 0.0).trace_p
    values = (float(tau2), lower, upper)
    return HeterogeneityInterval(
        level=check_level(level),
        tau2=values,
        tau=tuple(math.sqrt(t) for t in values),  # type: ignore[arg-type]
        i2=tuple(100.0 * t / (s2 + t) for t in values),  # type: ignore[arg-type]
        h2=tuple(t / s2 + 1.0 for t in values),  # type: ignore[arg-type]
    )
