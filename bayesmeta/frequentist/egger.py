"""Egger's regression test for funnel-plot asymmetry (Egger M et al. 1997, BMJ 315:629-634)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from bayesmeta.asymmetry import MIN_K, below_min_k
from bayesmeta.errors import ModelError
from bayesmeta.effect_data import EffectData
from bayesmeta.frequentist.inputs import effects_input
from bayesmeta.frequentist.result import plain


@dataclass(frozen=True)
class EggerResult:
    """Egger's test: ``intercept`` is the asymmetry coefficient, tested with t on k - 2 df (``tval``, ``pval``);
    ``limit_estimate`` is the slope (the effect as the standard error goes to 0) with its CI. ``below_min_k``: k
    is below the ``min_k`` = 10 studies a funnel-asymmetry test needs (Sterne et al. 2011, BMJ 343:d4002)."""

    k: int
    intercept: float
    se: float
    tval: float
    df: int
    pval: float
    limit_estimate: float
    limit_ci_lower: float
    limit_ci_upper: float
    min_k: int = MIN_K
    below_min_k: bool = False

    def as_dict(self) -> dict[str, Any]:
        return plain(self)


def egger_test(data: EffectData | ArrayLike, vi: ArrayLike | None = None, level: float = 0.95, *,
               sei: ArrayLike | None = None) -> EggerResult:
    """Ordinary least squares of y_i/se_i on 1/se_i (Egger et al. 1997); the intercept measures asymmetry.

    Identical to metafor ``regtest(model="lm")`` (weighted regression of y on se with weights 1/v, testing the
    coefficient of se): its ``zval`` is this ``tval`` and its ``est`` the ``limit_estimate``. ``data``: an
    EffectData, or the effects yi with ``vi`` (or ``sei``).
    """
    y, v, _ = effects_input(data, vi, sei=sei, min_k=3)
    se = np.sqrt(v)
    z = y / se
    x = np.column_stack([np.ones_like(se), 1.0 / se])
    if np.linalg.matrix_rank(x) < 2:
        raise ModelError(
            "Egger's test needs studies of different precision: all sampling variances are equal, so the "
            "precision 1/se cannot be separated from the intercept"
        )
    coef, *_ = np.linalg.lstsq(x, z, rcond=None)
    resid = z - x @ coef
    df = y.size - 2
    sigma2 = float(resid @ resid) / df
    if not sigma2 > 0:
        raise ModelError("Egger's test is undefined: the regression fits the standardised effects exactly")
    cov = sigma2 * np.linalg.inv(x.T @ x)
    ses = np.sqrt(np.diag(cov))
    tval = coef[0] / ses[0]
    crit = stats.t.ppf(1 - (1 - level) / 2, df)
    return EggerResult(
        k=int(y.size),
        intercept=float(coef[0]),
        se=float(ses[0]),
        tval=float(tval),
        df=df,
        pval=float(2 * stats.t.sf(abs(tval), df)),
        limit_estimate=float(coef[1]),
        limit_ci_lower=float(coef[1] - crit * ses[1]),
        limit_ci_upper=float(coef[1] + crit * ses[1]),
        below_min_k=below_min_k(y.size),
    )
