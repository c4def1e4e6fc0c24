"""Estimators of the between-study variance tau^2 in the (mixed-effects) model y = X b + u + e.

u ~ N(0, tau^2 I), e ~ N(0, diag(v)). Formulas follow Viechtbauer (2005, J Educ Behav Stat 30:261-293) and
metafor's ``rma.uni``: DerSimonian-Laird (method of moments), Paule-Mandel (generalised Q set to its expectation),
maximum likelihood and restricted maximum likelihood. Iterative estimators are solved here as exact roots of
their estimating equations (Brent's method to machine precision) instead of by metafor's Fisher scoring, which
stops once successive values differ by less than 1e-5; the two agree to that tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from bayesmeta.errors import ModelError

_XTOL = 1e-13
_MAX_TAU2 = 1e8


@dataclass(frozen=True)
class WeightedFit:
    """Weighted least squares at a given tau^2: W = diag(1 / (v + tau^2))."""

    tau2: float
    w: NDArray[np.float64]
    beta: NDArray[np.float64]
    vb: NDArray[np.float64]  # (X'WX)^-1
    P: NDArray[np.float64]  # W - W X (X'WX)^-1 X'W

    def q(self, y: NDArray[np.float64]) -> float:
        """Generalised Q statistic y'Py = sum w (y - Xb)^2."""
        return float(y @ self.P @ y)


def weighted_fit(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64], tau2: float) -> WeightedFit:
    w = 1.0 / (v + tau2)
    xtw = x.T * w
    xtwx = xtw @ x
    vb = np.linalg.inv(xtwx)
    beta = vb @ (xtw @ y)
    wx = xtw.T
    P = np.diag(w) - wx @ vb @ wx.T
    return WeightedFit(tau2=float(tau2), w=w, beta=beta, vb=vb, P=P)


def _bracket_root(f, lo: float = 0.0) -> float:
    """Root of a function that is positive at ``lo`` and negative far out (found by doubling)."""
    hi = 1.0
    while f(hi) > 0:
        hi *= 4.0
        if hi > _MAX_TAU2:
            raise ModelError("tau^2 estimate diverges (no root of the estimating equation below 1e8)")
    return float(optimize.brentq(f, lo, hi, xtol=_XTOL, rtol=4 * np.finfo(float).eps, maxiter=500))


def tau2_dl(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """DerSimonian & Laird (1986): tau^2 = max(0, (Q - (k - p)) / tr(P)), P at tau^2 = 0.

    Without moderators tr(P) = sum w - sum w^2 / sum w (Viechtbauer 2005, eq. 9).
    """
    k, p = x.shape
    fit0 = weighted_fit(y, v, x, 0.0)
    return max(0.0, (fit0.q(y) - (k - p)) / float(np.trace(fit0.P)))


def tau2_pm(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """Paule & Mandel (1982): tau^2 solving y'P(tau^2)y = k - p; zero if Q(0) <= k - p."""
    k, p = x.shape
    target = k - p

    def f(t: float) -> float:
        return weighted_fit(y, v, x, t).q(y) - target

    if f(0.0) <= 0:
        return 0.0
    return _bracket_root(f)


def _ml_score(y, v, x, t: float) -> float:
    fit = weighted_fit(y, v, x, t)
    r = y - x @ fit.beta
    return float(np.sum(fit.w**2 * r**2) - np.sum(fit.w))


def _reml_score(y, v, x, t: float) -> float:
    P = weighted_fit(y, v, x, t).P
    Py = P @ y
    return float(Py @ Py - np.trace(P))


def tau2_ml(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """Maximum likelihood: root of sum w^2 (y - Xb)^2 - sum w = 0 (Viechtbauer 2005, eq. 11), zero if the
    score is negative at tau^2 = 0."""
    if _ml_score(y, v, x, 0.0) <= 0:
        return 0.0
    return _bracket_root(lambda t: _ml_score(y, v, x, t))


def tau2_reml(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """Restricted maximum likelihood: root of y'PPy - tr(P) = 0 (Viechtbauer 2005, eq. 12), zero if the
    restricted score is negative at tau^2 = 0."""
    if _reml_score(y, v, x, 0.0) <= 0:
        return 0.0
    return _bracket_root(lambda t: _reml_score(y, v, x, t))


ESTIMATORS = {"DL": tau2_dl, "PM": tau2_pm, "ML": tau2_ml, "REML": tau2_reml}


def estimate_tau2(method: str, y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    if method == "FE":
        return 0.0
    return ESTIMATORS[method](y, v, x)


def tau2_standard_error(
    method: str, y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64], tau2: float
) -> float | None:
    """Standard error of tau^2 as metafor 3.8 ``rma.uni`` reports it; None for FE.

    DL: sqrt((2(k-p) + 4 tau^2 tr(P0) + 2 tau^4 tr(P0 P0)) / tr(P0)^2); ML: sqrt(2 / sum w^2);
    REML: sqrt(2 / tr(P P)); PM: sqrt(2 k^2 / (k - p) / (sum w)^2) (metafor's choice for PM and EB).
    """
    k, p = x.shape
    if method == "DL":
        P0 = weighted_fit(y, v, x, 0.0).P
        tr = float(np.trace(P0))
        return float(np.sqrt((2 * (k - p) + 4 * tau2 * tr + 2 * tau2**2 * np.sum(P0 * P0)) / tr**2))
    if method == "ML":
        w = 1.0 / (v + tau2)
        return float(np.sqrt(2.0 / np.sum(w**2)))
    if method == "REML":
        P = weighted_fit(y, v, x, tau2).P
        return float(np.sqrt(2.0 / np.sum(P * P)))
    if method == "PM":
        w = 1.0 / (v + tau2)
        return float(np.sqrt(2 * k**2 / (k - p) / np.sum(w) ** 2))
    return None
