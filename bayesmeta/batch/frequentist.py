"""DerSimonian-Laird and REML random-effects fits of many meta-analyses at once (padded arrays with a mask).

The same estimators as :func:`bayesmeta.frequentist.rma` (metafor ``rma.uni``), vectorised over rows:
DL tau^2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w)) (DerSimonian & Laird 1986); REML by Fisher scoring
tau^2 <- tau^2 + (y'PPy - tr P) / tr(PP), truncated at 0 (Viechtbauer 2005, J Educ Behav Stat 30:261), iterated
to machine precision; the Hartung-Knapp interval (Knapp & Hartung 2003) multiplies Var(mu) by
s^2 = sum w (y - mu)^2 / (k - 1) and uses t quantiles on k - 1 df, untruncated as metafor's ``test="knha"``.
A single study gets tau^2 = 0 and no Hartung-Knapp interval.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from bayesmeta.frequentist.tau2 import tau2_reml as reml_root


def _sums(y: np.ndarray, v: np.ndarray, mask: np.ndarray, tau2: np.ndarray):
    w = np.where(mask, 1.0 / (np.where(mask, v, 1.0) + tau2[:, None]), 0.0)
    y0 = np.where(mask, y, 0.0)
    sw = w.sum(axis=1)
    mu = (w * y0).sum(axis=1) / sw
    return w, y0, sw, mu


def tau2_dl(y: np.ndarray, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """DerSimonian-Laird tau^2 per row (0 for k = 1)."""
    k = mask.sum(axis=1)
    w, y0, sw, mu = _sums(y, v, mask, np.zeros(y.shape[0]))
    q = (w * (y0 - mu[:, None]) ** 2).sum(axis=1)
    c = sw - (w * w).sum(axis=1) / sw
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.maximum(0.0, (q - (k - 1)) / c)
    return np.where(k > 1, out, 0.0)


def tau2_reml(y: np.ndarray, v: np.ndarray, mask: np.ndarray, iterations: int = 200) -> np.ndarray:
    """REML tau^2 per row by Fisher scoring from the DL value (0 for k = 1); a row where scoring has not converged
    after ``iterations`` steps gets the root of the REML equation by Brent's method (:func:`bayesmeta.frequentist.tau2.tau2_reml`)."""
    k = mask.sum(axis=1)
    tau2 = tau2_dl(y, v, mask)
    active = k > 1
    for _ in range(iterations):
        if not active.any():
            break
        w, y0, sw, mu = _sums(y[active], v[active], mask[active], tau2[active])
        py = w * (y0 - mu[:, None])
        w2 = (w * w).sum(axis=1)
        trace_p = sw - w2 / sw
        trace_pp = w2 - 2.0 * (w**3).sum(axis=1) / sw + (w2 / sw) ** 2
        step = ((py * py).sum(axis=1) - trace_p) / trace_pp
        new = np.maximum(0.0, tau2[active] + step)
        done = np.abs(new - tau2[active]) <= 1e-12 * (1.0 + new)
        tau2[active] = new
        idx = np.flatnonzero(active)
        active[idx[done]] = False
    for i in np.flatnonzero(active):  # rare (scoring cycling near 0): the exact root, as rma finds it
        m = mask[i]
        tau2[i] = reml_root(y[i, m], v[i, m], np.ones((int(m.sum()), 1)))
    return np.where(k > 1, tau2, 0.0)


def random_effects(y: np.ndarray, v: np.ndarray, mask: np.ndarray, tau2: np.ndarray,
                   level: float = 0.95) -> dict[str, np.ndarray]:
    """mu, its se and Wald CI, the prediction interval (normal quantile, metafor ``predict`` with test='z') and
    the Hartung-Knapp CI, at the given tau^2 per row."""
    k = mask.sum(axis=1)
    w, y0, sw, mu = _sums(y, v, mask, tau2)
    se = np.sqrt(1.0 / sw)
    z = stats.norm.ppf(0.5 + level / 2)
    pred = z * np.sqrt(se**2 + tau2)
    df = np.maximum(k - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = (w * (y0 - mu[:, None]) ** 2).sum(axis=1) / (k - 1)
        half_hk = stats.t.ppf(0.5 + level / 2, df) * np.sqrt(s2) * se
    half_hk = np.where((k > 1) & (s2 > np.finfo(float).eps), half_hk, np.nan)
    return {
        "estimate": mu, "se": se, "ci_lower": mu - z * se, "ci_upper": mu + z * se,
        "pi_lower": mu - pred, "pi_upper": mu + pred, "tau2": tau2,
        "hk_ci_lower": mu - half_hk, "hk_ci_upper": mu + half_hk,
    }


def fit_frequentist(y: np.ndarray, v: np.ndarray, mask: np.ndarray, level: float = 0.95) -> dict[str, dict[str, np.ndarray]]:
    """{'DL': ..., 'REML': ...}: :func:`random_effects` at each estimator's tau^2."""
    return {"DL": random_effects(y, v, mask, tau2_dl(y, v, mask), level),
            "REML": random_effects(y, v, mask, tau2_reml(y, v, mask), level)}
