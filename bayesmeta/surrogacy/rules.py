"""One axis of the surrogacy grid: a Gauss rule on an interval [lo, hi], and the partial integrals of its
interpolating polynomial, which give the marginal CDF between the nodes.

On [lo, hi] the integrand is w(u) h(u) with h smooth and w(u) = (hi - u)^alpha (u - lo)^beta the part of the prior
that is singular where the interval ends at the edge of the support (the LKJ(eta) prior of rho, (1 - rho^2)^(eta - 1)
at rho = +-1; alpha = beta = 0 elsewhere). The n-point Gauss-Jacobi rule for w (Gauss-Legendre when alpha = beta = 0;
scipy.special.roots_jacobi) integrates w h with an error of the order of h's best polynomial approximation of degree
2n - 1 (Davis & Rabinowitz 1984, Methods of Numerical Integration, sec. 2.7). Between the nodes, h is replaced by
its interpolating polynomial through the n nodes, written in the Jacobi polynomials of the rule, whose
integral over [lo, hi] is the rule itself, so the CDF built from it ends at exactly the rule's total
(:meth:`AxisRule.conditional_cdf`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import roots_jacobi


@functools.cache
def _jacobi(n: int, alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights on [-1, 1] for the weight (1 - x)^alpha (1 + x)^beta."""
    x, w = roots_jacobi(n, alpha, beta)
    return x, w


def jacobi_table(x: np.ndarray, n: int, a: float, b: float) -> np.ndarray:
    """P_m^(a, b)(x) for m = 0..n-1 by the three-term recurrence (DLMF 18.9.1-2): shape (n, *x.shape)."""
    out = np.empty((n, *x.shape))
    out[0] = 1.0
    if n > 1:
        out[1] = (a + 1.0) + (a + b + 2.0) * (x - 1.0) / 2.0
    for m in range(1, n - 1):
        c = 2.0 * m + a + b
        out[m + 1] = ((c + 1.0) * ((c + 2.0) * c * x + a * a - b * b) * out[m]
                      - 2.0 * (m + a) * (m + b) * (c + 2.0) * out[m - 1]) / (2.0 * (m + 1) * (m + a + b + 1) * c)
    return out


@dataclass(frozen=True)
class AxisRule:
    """An n-point Gauss-Jacobi rule on [lo, hi] for the weight (hi - u)^alpha (u - lo)^beta: ``nodes``, ``weights``
    (so that sum_j weights_j h(nodes_j) ~ integral of w h) and ``log_w`` = log(weights / w(nodes)), the factor that
    multiplies the full integrand w h at the nodes."""

    lo: float
    hi: float
    alpha: float
    beta: float
    nodes: np.ndarray
    weights: np.ndarray
    log_w: np.ndarray
    x: np.ndarray
    x_weights: np.ndarray

    @classmethod
    def make(cls, lo: float, hi: float, n: int, alpha: float = 0.0, beta: float = 0.0) -> AxisRule:
        x, w = _jacobi(n, alpha, beta)
        half = (hi - lo) / 2.0
        nodes = lo + half * (x + 1.0)
        weights = w * half ** (1.0 + alpha + beta)
        log_w = np.log(weights) - alpha * np.log(hi - nodes) - beta * np.log(nodes - lo)
        return cls(float(lo), float(hi), float(alpha), float(beta), nodes, weights, log_w, x, w)

    @property
    def size(self) -> int:
        return self.nodes.size

    def conditional_cdf(self, masses: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """For node masses (P, n), one row per distribution (m_j = weights_j h(nodes_j)), the function r (P,) ->
        the CDF of row p at r_p: the integral from lo of w times the polynomial interpolating h at the nodes.

        In x (the interval mapped to [-1, 1]) the interpolant is sum_m b_m P_m^(alpha, beta), its coefficients by
        the rule's discrete orthogonality (exact to degree 2n - 1), and integral_-1^x (1 - u)^alpha (1 + u)^beta
        P_m(u) du is -(1 - x)^(alpha + 1) (1 + x)^(beta + 1) P_(m-1)^(alpha + 1, beta + 1)(x) / (2m) for m >= 1
        (from DLMF 18.9.16) and a regularised incomplete beta function for m = 0: the CDF is exact for the
        interpolant, and equals the rule's total at hi."""
        from scipy.special import betainc
        from scipy.special import betaln as log_beta

        n, a, b = self.size, self.alpha, self.beta
        table = jacobi_table(self.x, n, a, b)  # (n, n): P_m(x_j)
        norms = table**2 @ self.x_weights
        coef = (masses @ table.T) / norms  # (P, n): b_m per row, for masses m_j = w_j h_j
        total0 = math.exp((a + b + 1.0) * math.log(2.0) + log_beta(a + 1.0, b + 1.0))

        def cdf(r: np.ndarray) -> np.ndarray:
            x = np.clip((np.asarray(r, dtype=float) - self.lo) / (self.hi - self.lo) * 2.0 - 1.0, -1.0, 1.0)
            j0 = total0 * betainc(b + 1.0, a + 1.0, (1.0 + x) / 2.0)
            if n == 1:
                return coef[:, 0] * j0
            upper = jacobi_table(x, n - 1, a + 1.0, b + 1.0)  # (n - 1, P)
            edge = (1.0 - x) ** (a + 1.0) * (1.0 + x) ** (b + 1.0)
            rest = np.sum(coef[:, 1:].T * upper / (2.0 * np.arange(1, n))[:, None], axis=0)
            return coef[:, 0] * j0 - edge * rest

        return cdf


def weighted_quantile_root(cdf, probs: list[float], lo: float, hi: float) -> list[float]:
    """Solve cdf(x) = p on [lo, hi] for each p by Brent's method (scipy.optimize.brentq, xtol 1e-12 of the
    bracket); cdf is increasing from cdf(lo) <= p to cdf(hi) >= p."""
    from scipy.optimize import brentq

    tol = 1e-12 * max(hi - lo, 1e-300)
    out = []
    for p in probs:
        f_lo, f_hi = float(cdf(lo)) - p, float(cdf(hi)) - p
        if f_lo >= 0:
            out.append(lo)
        elif f_hi <= 0:
            out.append(hi)
        else:
            out.append(float(brentq(lambda x: float(cdf(x)) - p, lo, hi, xtol=tol, rtol=4 * np.finfo(float).eps)))
    return out


def log_normaliser(values: np.ndarray) -> float:
    """log sum exp of ``values`` (finite maximum assumed)."""
    top = float(np.max(values))
    return top + math.log(float(np.sum(np.exp(values - top))))
