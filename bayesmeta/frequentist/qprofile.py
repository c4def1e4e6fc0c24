"""Q-profile confidence interval for tau^2 (Viechtbauer 2007, Stat Med 26:37-52; metafor ``confint.rma.uni``)."""

from __future__ import annotations

from collections.abc import Sequence

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
