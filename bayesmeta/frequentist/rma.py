"""Random- and common-effect meta-analysis and meta-regression (metafor ``rma.uni``).

Viechtbauer W (2005) J Educ Behav Stat 30:261-293 (tau^2 estimators); Viechtbauer W (2010) J Stat Softw 36(3)
(metafor); Higgins JPT & Thompson SG (2002) Stat Med 21:1539-1558 (I^2, H^2); Knapp G & Hartung J (2003) Stat
Med 22:2693-2710 (Knapp-Hartung adjustment, also Hartung-Knapp-Sidik-Jonkman).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from bayesmeta.effect_data import EffectData
from bayesmeta.errors import InputError, ModelError
from bayesmeta.frequentist.inputs import (
    canonical_method,
    canonical_test,
    check_level,
    design_matrix,
    effects_input,
)
from bayesmeta.frequentist.result import Coefficient, RmaResult
from bayesmeta.frequentist.tau2 import estimate_tau2, tau2_standard_error, weighted_fit


def rma(
    data: EffectData | ArrayLike,
    vi: ArrayLike | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    mods: ArrayLike | None = None,
    mod_names: Sequence[str] | None = None,
    tau2: float | None = None,
    *,
    sei: ArrayLike | None = None,
    solver: str = "root",
) -> RmaResult:
    """Fit the normal-normal model y_i ~ N(x_i'b, v_i + tau^2) as metafor ``rma.uni`` does.

    ``data`` is an :class:`~bayesmeta.effect_data.EffectData`, or the effects yi with their sampling variances
    ``vi`` (metafor's order) or standard errors ``sei``.

    method: 'FE' (common effect; alias 'EE'), 'DL', 'REML', 'PM', 'ML'. Weights w_i = 1/(v_i + tau^2); b by weighted
    least squares, Var(b) = (X'WX)^-1.

    test: 'z' (normal quantiles) or 'knha' (Knapp & Hartung 2003): Var(b) is multiplied by
    s^2 = sum w (y - Xb)^2 / (k - p), untruncated as in metafor's ``test="knha"``, with t (and F for the omnibus
    test) on k - p degrees of freedom.

    Heterogeneity: Q (QE) = sum (y - Xb_FE)^2 / v on k - p df. As metafor: for FE, I^2 = max(0, (Q - df)/Q) and
    H^2 = Q/df (Higgins & Thompson 2002); for the other estimators I^2 = tau^2/(tau^2 + s^2) and
    H^2 = (tau^2 + s^2)/s^2 with the typical within-study variance s^2 = (k - p)/tr(P) (which equals
    (k - 1) sum w / ((sum w)^2 - sum w^2) without moderators); with DL both forms coincide.

    Prediction interval (metafor ``predict``): b +- c * sqrt(se^2 + tau^2) with c the normal quantile when
    test='z' and the t quantile on k - p df when test='knha' (R meta >= 8 uses t_{k-1} throughout). Given only
    without moderators (None otherwise).

    ``solver``: ML and REML tau^2 as the exact root of the estimating equation ('root', metafor with a tight
    ``control = list(threshold = 1e-12)``) or by metafor's default Fisher scoring ('fisher', which stops when
    tau^2 changes by less than 1e-5; see :func:`~bayesmeta.frequentist.tau2.tau2_fisher`).

    ``tau2`` fixes tau^2 at a given value instead of estimating it (metafor's ``tau2`` argument); ``tau2_se`` is
    then None. A single study (k = 1) gets tau^2 = 0 with any estimator, as in metafor.

    Moderators: ``mods`` is k x m without intercept; an intercept is added. QM tests all non-intercept
    coefficients (chi^2 on m df, or QM/m ~ F(m, k - p) with knha, reported as the F value like metafor); R^2 is
    metafor's pseudo-R^2 = max(0, 100 (tau^2_RE - tau^2_ME) / tau^2_RE) against the intercept-only fit with the
    same estimator (0 when tau^2_RE = 0); for FE, the adjusted R^2 of the regression weighted by 1/v.
    """
    method = canonical_method(method)
    test = canonical_test(test)
    level = check_level(level)
    y, v, _ = effects_input(data, vi, sei=sei, min_k=1)
    k = y.size
    x, names = design_matrix(mods, k, mod_names)
    p = x.shape[1]
    if k < p:
        raise ModelError(f"{p} coefficients cannot be estimated from k = {k} studies")
    if method != "FE" and tau2 is None and k <= p and not (k == 1 and p == 1):
        raise ModelError(
            f"method {method} needs more studies than coefficients to estimate tau^2 (k = {k}, p = {p}); "
            "use method='FE'"
        )
    if test == "knha" and k <= p:
        raise ModelError(f"the Knapp-Hartung test needs k > p (k = {k}, p = {p}): no residual degrees of freedom")

    tau2_fixed = tau2 is not None and method != "FE"
    if tau2_fixed:
        tau2 = float(tau2)
        if not (np.isfinite(tau2) and tau2 >= 0):
            raise InputError(f"a fixed tau^2 must be a finite number >= 0, got {tau2}", column="tau2")
    else:
        # a single study: tau^2 = 0 whatever the estimator, as metafor does
        tau2 = 0.0 if k == 1 else estimate_tau2(method, y, v, x, solver)
    fit = weighted_fit(y, v, x, tau2)
    vb = fit.vb
    df_resid = k - p
    if test == "knha":
        s2 = fit.q() / df_resid
        if not s2 > np.finfo(float).eps:
            raise ModelError("the Knapp-Hartung scale factor is zero (the model fits the effects exactly)")
        vb = vb * s2
        dist = stats.t(df_resid)
    else:
        dist = stats.norm()
    crit = float(dist.ppf(1 - (1 - level) / 2))
    se = np.sqrt(np.diag(vb))
    stat = fit.beta / se
    pval = 2 * dist.sf(np.abs(stat))
    coefs = tuple(
        Coefficient(
            name=names[j],
            estimate=float(fit.beta[j]),
            se=float(se[j]),
            stat=float(stat[j]),
            pval=float(pval[j]),
            ci_lower=float(fit.beta[j] - crit * se[j]),
            ci_upper=float(fit.beta[j] + crit * se[j]),
        )
        for j in range(p)
    )

    fit0 = weighted_fit(y, v, x, 0.0)
    if df_resid > 0:
        q = max(0.0, fit0.q())
        q_p = float(stats.chi2.sf(q, df_resid))
        if method == "FE":
            i2 = max(0.0, 100.0 * (q - df_resid) / q) if q > 0 else 0.0
            h2 = q / df_resid
        else:
            s2_typical = df_resid / fit0.trace_p
            i2 = 100.0 * tau2 / (s2_typical + tau2)
            h2 = tau2 / s2_typical + 1.0
    else:
        # no residual degrees of freedom: metafor reports Q = 0 (p = 1), I^2 = 0, H^2 = 1
        q, q_p, i2, h2 = 0.0, 1.0, 0.0, 1.0

    qm = qm_df = qm_p = r2 = None
    pi_lower = pi_upper = None
    if p > 1:
        m = p - 1
        b2 = fit.beta[1:]
        qm = float(b2 @ np.linalg.solve(vb[1:, 1:], b2))
        qm_df = m
        if test == "knha":
            qm = qm / m
            qm_p = float(stats.f.sf(qm, m, df_resid))
        else:
            qm_p = float(stats.chi2.sf(qm, m))
        r2 = _pseudo_r2(method, y, v, x, tau2, solver)
    else:
        half = crit * float(np.sqrt(vb[0, 0] + tau2))
        pi_lower = float(fit.beta[0] - half)
        pi_upper = float(fit.beta[0] + half)

    c0 = coefs[0]
    return RmaResult(
        k=k,
        method=method,
        test=test,
        level=level,
        estimate=c0.estimate,
        se=c0.se,
        zval=c0.stat,
        pval=c0.pval,
        ci_lower=c0.ci_lower,
        ci_upper=c0.ci_upper,
        tau2=float(tau2),
        tau2_se=None if (k == 1 or tau2_fixed) else tau2_standard_error(method, y, v, x, tau2),
        i2=float(i2),
        h2=float(h2),
        q=float(q),
        q_df=df_resid,
        q_p=q_p,
        pi_lower=pi_lower,
        pi_upper=pi_upper,
        df=df_resid if test == "knha" else None,
        coefficients=coefs,
        qm=qm,
        qm_df=qm_df,
        qm_p=qm_p,
        r2=r2,
    )


def _pseudo_r2(method: str, y, v, x, tau2: float, solver: str = "root") -> float:
    """metafor's R^2 for a meta-regression (in percent).

    Random effects: max(0, 100 (tau^2_RE - tau^2_ME) / tau^2_RE), tau^2_RE from the intercept-only model with the
    same estimator (0 when tau^2_RE = 0). Common effect: the adjusted R^2 of the regression weighted by 1/v.
    """
    k, p = x.shape
    if method != "FE":
        tau2_re = estimate_tau2(method, y, v, np.ones((k, 1)), solver)
        # written as 1 - ratio so that tau^2 = 0 gives exactly 100, not 100 plus rounding
        return 0.0 if tau2_re == 0 else max(0.0, 100.0 * (1.0 - tau2 / tau2_re))
    w = 1.0 / v
    if np.all(y == y[0]):
        return 0.0
    rss = weighted_fit(y, v, x, 0.0).q()
    ybar = np.sum(w * y) / np.sum(w)
    tss = float(np.sum(w * (y - ybar) ** 2))
    adj = 1.0 - (rss / tss) * (k - 1) / (k - p)
    return max(0.0, 100.0 * adj)
