"""Estimators of the between-study variance tau^2 in the (mixed-effects) model y = X b + u + e.

u ~ N(0, tau^2 I), e ~ N(0, diag(v)). Formulas follow Viechtbauer (2005, J Educ Behav Stat 30:261-293) and
metafor's ``rma.uni``: DerSimonian-Laird (method of moments), Paule-Mandel (generalised Q set to its expectation),
maximum likelihood and restricted maximum likelihood. Iterative estimators are solved here as exact roots of
their estimating equations (Brent's method to machine precision), which metafor reaches with a tight
``control = list(threshold = 1e-12)``. metafor's default Fisher scoring stops once tau^2 changes by less than an
absolute 1e-5 and converges only linearly, so its default answer can lie further from the root than 1e-5: on the
risk-difference scale, where tau^2 is about 1e-4, by more than 10% (Niel-Weise 2007 RD: REML tau^2 1.38e-4 by
default, 1.23e-4 at the root). :func:`tau2_fisher` reproduces that default algorithm step by step, for
agreement with a default metafor output (``solver="fisher"`` of :func:`estimate_tau2`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from bayesmeta.errors import InputError, ModelError

_XTOL = 1e-13
_MAX_SCALE = 1e8


@dataclass(frozen=True)
class WeightedFit:
    """Weighted least squares at a given tau^2: W = diag(1 / (v + tau^2)), P = W - W X (X'WX)^-1 X'W.

    Computed from a complete Householder QR of W^(1/2) X = [U1 U2] [R; 0] with the rows in decreasing order of
    weight (row sorting keeps the factorisation accurate row by row when the weights span many orders of
    magnitude; Cox AJ & Higham NJ 1998, BIT 38:34-53). The projection onto the residual space is U2 U2', so the
    Q statistic sum w (y - Xb)^2 = |U2' W^(1/2) y|^2, Py = W (y - Xb) and tr(P) = sum w_i (1 - h_ii) come
    without the cancellation of forming y'Py or sum w - sum w^2 / sum w, which loses every digit when one
    study outweighs the others by 1e14.
    """

    tau2: float
    w: NDArray[np.float64]
    beta: NDArray[np.float64]
    vb: NDArray[np.float64]  # (X'WX)^-1
    resid: NDArray[np.float64]  # y - Xb
    q_value: float  # sum w (y - Xb)^2
    complement: NDArray[np.float64]  # W^(1/2) U2, so that P = complement @ complement.T

    def q(self) -> float:
        """Generalised Q statistic y'Py = sum w (y - Xb)^2."""
        return self.q_value

    @property
    def py(self) -> NDArray[np.float64]:
        """P y = W (y - Xb)."""
        return self.w * self.resid

    @property
    def trace_p(self) -> float:
        """tr(P) = sum_i w_i (1 - h_ii)."""
        return float(np.sum(self.complement**2))

    @property
    def P(self) -> NDArray[np.float64]:
        return self.complement @ self.complement.T


def weighted_fit(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64], tau2: float) -> WeightedFit:
    k, p = x.shape
    w = 1.0 / (v + tau2)
    sw = np.sqrt(w)
    order = np.argsort(-w, kind="stable")
    q_full, r_full = np.linalg.qr(sw[order, None] * x[order], mode="complete")
    r = r_full[:p]
    rhs = q_full.T @ (sw[order] * y[order])
    r_inv = np.linalg.inv(r)  # upper triangular p x p: back substitution
    beta = r_inv @ rhs[:p]
    vb = r_inv @ r_inv.T
    q2 = np.empty((k, k - p))
    q2[order] = q_full[:, p:]
    resid_w = np.empty(k)
    resid_w[order] = q_full[:, p:] @ rhs[p:]  # W^(1/2) (y - Xb), the projection onto the residual space
    return WeightedFit(
        tau2=float(tau2),
        w=w,
        beta=beta,
        vb=vb,
        resid=resid_w / sw,
        q_value=float(np.sum(rhs[p:] ** 2)),
        complement=sw[:, None] * q2,
    )


def tau2_scale(y: NDArray[np.float64], v: NDArray[np.float64]) -> float:
    """The data's own scale for tau^2: the largest sampling variance plus the spread sum (y - mean y)^2.

    Roots of the estimating equations lie below a small multiple of it (Q(tau^2) <= sum (y - mean y)^2 / tau^2),
    so searches are bounded relative to it: multiplying y by a and v by a^2 multiplies every tau^2 by a^2.
    """
    return float(np.max(v) + np.sum((y - np.mean(y)) ** 2))


def bracket_root(f, y: NDArray[np.float64], v: NDArray[np.float64], what: str = "tau^2 estimate") -> float:
    """Root in tau^2 >= 0 of a function positive at 0 and negative far out, searched from the data's scale
    (:func:`tau2_scale`) by quadrupling, then solved by Brent's method to a precision far below the smallest
    sampling variance."""
    scale = tau2_scale(y, v)
    hi = scale
    while f(hi) > 0:
        hi *= 4.0
        if hi > _MAX_SCALE * scale:
            raise ModelError(f"{what} diverges (no root below {_MAX_SCALE:g} times the data's scale {scale:.3g})")
    xtol = _XTOL * float(np.min(v))
    return float(optimize.brentq(f, 0.0, hi, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=500))


def tau2_dl(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """DerSimonian & Laird (1986): tau^2 = max(0, (Q - (k - p)) / tr(P)), P at tau^2 = 0.

    Without moderators tr(P) = sum w - sum w^2 / sum w (Viechtbauer 2005, eq. 9).
    """
    k, p = x.shape
    fit0 = weighted_fit(y, v, x, 0.0)
    return max(0.0, (fit0.q() - (k - p)) / fit0.trace_p)


def tau2_pm(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """Paule & Mandel (1982): tau^2 solving y'P(tau^2)y = k - p; zero if Q(0) <= k - p."""
    k, p = x.shape
    target = k - p

    def f(t: float) -> float:
        return weighted_fit(y, v, x, t).q() - target

    if f(0.0) <= 0:
        return 0.0
    return bracket_root(f, y, v)


def _ml_score(y, v, x, t: float) -> float:
    fit = weighted_fit(y, v, x, t)
    return float(np.sum(fit.py**2) - np.sum(fit.w))


def _reml_score(y, v, x, t: float) -> float:
    fit = weighted_fit(y, v, x, t)
    return float(np.sum(fit.py**2) - fit.trace_p)


def tau2_ml(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """Maximum likelihood: root of sum w^2 (y - Xb)^2 - sum w = 0 (Viechtbauer 2005, eq. 11), zero if the
    score is negative at tau^2 = 0."""
    if _ml_score(y, v, x, 0.0) <= 0:
        return 0.0
    return bracket_root(lambda t: _ml_score(y, v, x, t), y, v)


def tau2_reml(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """Restricted maximum likelihood: root of y'PPy - tr(P) = 0 (Viechtbauer 2005, eq. 12), zero if the
    restricted score is negative at tau^2 = 0."""
    if _reml_score(y, v, x, 0.0) <= 0:
        return 0.0
    return bracket_root(lambda t: _reml_score(y, v, x, t), y, v)


ESTIMATORS = {"DL": tau2_dl, "PM": tau2_pm, "ML": tau2_ml, "REML": tau2_reml}
SOLVERS = ("root", "fisher")
FISHER_THRESHOLD = 1e-5  # metafor rma.uni's control threshold: stop when tau^2 changes by less
FISHER_MAXITER = 100  # and its maxiter
FISHER_LL_TOL = float(np.finfo(float).eps ** 0.25)  # and its tol, for the check of the likelihood at tau^2 = 0


def tau2_hedges(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """Hedges' estimator, (RSS - tr(P V)) / (k - p) with the unweighted P = I - X (X'X)^-1 X' (may be negative):
    metafor's starting value of Fisher scoring."""
    k, p = x.shape
    h = np.eye(k) - x @ np.linalg.solve(x.T @ x, x.T)
    r = h @ y
    return float((r @ r - np.sum(np.diag(h) * v)) / (k - p))


def _restricted_loglik(y, v, x, t: float, method: str) -> float:
    """The (restricted) log-likelihood at tau^2 = t, as metafor's check at tau^2 = 0 computes it."""
    fit = weighted_fit(y, v, x, t)
    ll = -0.5 * np.sum(np.log(v + t)) - 0.5 * fit.q()
    if method == "REML":
        ll -= 0.5 * np.linalg.slogdet((x * fit.w[:, None]).T @ x)[1]
    return float(ll)


def tau2_fisher(y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64], method: str = "REML",
                threshold: float = FISHER_THRESHOLD, maxiter: int = FISHER_MAXITER) -> float:
    """ML or REML tau^2 by metafor's default Fisher scoring (``rma.uni``, metafor 3.8): start at
    max(0, Hedges' estimate); step adj = (y'PPy - tr P) / tr(PP) (REML) or (y'PPy - sum w) / sum w^2 (ML),
    halved while tau^2 + adj < 0; stop when |adj| <= ``threshold`` (an absolute change of tau^2; ModelError after
    ``maxiter`` steps). Then, as metafor, tau^2 = 0 when the (restricted) log-likelihood at 0 exceeds that at the
    result by more than eps^(1/4) and the result exceeds ``threshold``."""
    if method not in ("ML", "REML"):
        raise ModelError(f"Fisher scoring is for ML and REML, not {method}")
    tau2 = max(0.0, tau2_hedges(y, v, x))
    for _ in range(maxiter):
        fit = weighted_fit(y, v, x, tau2)
        p_mat = np.diag(fit.w) - (fit.w[:, None] * x) @ fit.vb @ (x.T * fit.w[None, :])
        py = p_mat @ y
        if method == "REML":
            adj = (py @ py - np.trace(p_mat)) / np.sum(p_mat * p_mat)
        else:
            adj = (py @ py - np.sum(fit.w)) / np.sum(fit.w**2)
        adj = 0.0 if not np.isfinite(adj) else float(adj)
        while tau2 + adj < 0.0:
            adj /= 2.0
        tau2 += adj
        if abs(adj) <= threshold:
            break
    else:
        raise ModelError("Fisher scoring did not converge (metafor's default maxiter of 100 steps)")
    if (_restricted_loglik(y, v, x, 0.0, method) - _restricted_loglik(y, v, x, tau2, method) > FISHER_LL_TOL
            and tau2 > threshold):
        return 0.0
    return tau2


def estimate_tau2(method: str, y: NDArray[np.float64], v: NDArray[np.float64], x: NDArray[np.float64],
                  solver: str = "root") -> float:
    """tau^2 by ``method``; ML and REML as the exact root of their estimating equation (``solver="root"``) or by
    metafor's default Fisher scoring (``"fisher"``, :func:`tau2_fisher`); the other estimators ignore ``solver``."""
    if solver not in SOLVERS:
        raise InputError(f"unknown tau^2 solver '{solver}'", column="solver", valid=" or ".join(SOLVERS))
    if method == "FE":
        return 0.0
    if solver == "fisher" and method in ("ML", "REML"):
        return tau2_fisher(y, v, x, method)
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
        fit0 = weighted_fit(y, v, x, 0.0)
        P0, tr = fit0.P, fit0.trace_p
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
