"""Marginal likelihoods of the models without selection (normal-normal, PET, PEESE), Gaussian given tau and the
t priors' precision multipliers g: y ~ N(X beta, diag(se_i^2 + tau^2)), beta_j ~ N(m_j, s_j^2 / g_j), so

    log p(y | tau, g) = -1/2 [k log 2 pi + sum log v_i + sum log(s_j^2 / g_j) + log det P
                              + y'Wy + m'Q m - c'P^{-1}c]

with W = diag(1/v), Q = diag(g_j / s_j^2), P = X'WX + Q, c = X'Wy + Q m (the conjugate linear model; e.g.
O'Hagan & Forster 2004, ch. 11), times P(beta_t in [l, u] | y, tau, g) / P(beta_t in [l, u]) for a truncated prior
on one coefficient. tau (as log tau) and each sqrt(g) are integrated by :func:`bayesmeta.bias.quadrature.integrate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, ndtr

from bayesmeta.bias.models import ModelSpec
from bayesmeta.bias.priors import BiasPriors, TPrior
from bayesmeta.bias.quadrature import Integral, bracket, integrate
from bayesmeta.errors import ModelError
from bayesmeta.priors import Prior

LOG_TAU_RANGE = (-30.0, 4.0)
"""The range of log tau integrated over for effects on a log scale (tau up to e^4 = 55)."""


def log_tau_range(yi: np.ndarray, sei: np.ndarray) -> tuple[float, float]:
    """:data:`LOG_TAU_RANGE`, its upper end raised by log(reach / 10) when the data's reach (max |yi| + max sei)
    exceeds 10: an MD in days or mmHg can have tau beyond e^4 = 55 (Normand 1999: about 26 days, 260 in tenths of
    a day), and the range then scales with the unit, so that the fit is equivariant under a change of units (tau
    up to 5.5 times the reach). Log ratios, whose reach is below 10, keep the range."""
    reach = float(np.max(np.abs(yi)) + np.max(sei))
    lo, hi = LOG_TAU_RANGE
    return lo, hi + max(0.0, math.log(reach / 10.0))


def log_interval_prob(mean: np.ndarray, sd: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """log P(lower <= X <= upper) for X ~ N(mean, sd^2), accurate in the tails."""
    if math.isinf(upper):
        return log_ndtr((mean - lower) / sd)
    if math.isinf(lower):
        return log_ndtr((upper - mean) / sd)
    return np.log(np.clip(ndtr((upper - mean) / sd) - ndtr((lower - mean) / sd), 1e-300, None))


@dataclass(frozen=True)
class Design:
    """The coefficients of a model without selection: their covariates and priors (mu first when present)."""

    names: tuple[str, ...]
    columns: tuple[np.ndarray, ...]
    priors: tuple[TPrior, ...]

    @property
    def truncated(self) -> int | None:
        idx = [j for j, p in enumerate(self.priors) if p.truncated]
        if len(idx) > 1:
            raise ModelError("at most one coefficient of a model may have a truncated prior")
        return idx[0] if idx else None


def design(model: ModelSpec, priors: BiasPriors, sei: np.ndarray) -> Design:
    names, cols, pri = [], [], []
    if model.effect:
        names.append("mu"), cols.append(np.ones_like(sei)), pri.append(priors.mu)
    if model.bias == "PET":
        names.append("b"), cols.append(sei), pri.append(priors.pet)
    elif model.bias == "PEESE":
        names.append("b"), cols.append(sei**2), pri.append(priors.peese)
    return Design(tuple(names), tuple(cols), tuple(pri))


@dataclass
class Conditional:
    """log p(y | tau, g) and the Gaussian posterior of beta given (tau, g) (mean, covariance), on a grid."""

    loglik: np.ndarray
    mean: list[np.ndarray]
    cov: list[list[np.ndarray]]


def conditional(y: np.ndarray, sei: np.ndarray, d: Design, tau: np.ndarray | float,
                gs: list[np.ndarray | float]) -> Conditional:
    """The closed form of the module docstring, broadcast over tau and the g's (one per t-prior coefficient,
    1 for normal priors)."""
    tau = np.asarray(tau, dtype=float)
    shape = np.broadcast_shapes(tau.shape, *(np.shape(g) for g in gs))
    v = sei**2 + np.asarray(tau)[..., None] ** 2
    w = 1.0 / v
    k = y.size
    out = -0.5 * (k * math.log(2 * math.pi) + np.log(v).sum(-1) + (w * y * y).sum(-1))
    out = np.broadcast_to(out, shape).copy()
    p = len(d.columns)
    if p == 0:
        return Conditional(out, [], [])
    q = [np.asarray(g, dtype=float) / pr.scale**2 for g, pr in zip(gs, d.priors)]
    a = [[(w * d.columns[i] * d.columns[j]).sum(-1) for j in range(p)] for i in range(p)]
    c = [(w * d.columns[i] * y).sum(-1) + q[i] * d.priors[i].location for i in range(p)]
    for i in range(p):
        a[i][i] = a[i][i] + q[i]
        out = out + 0.5 * np.log(q[i]) - 0.5 * q[i] * d.priors[i].location ** 2
    if p == 1:
        det = a[0][0]
        cov = [[1.0 / det]]
        mean = [c[0] / det]
    else:
        det = a[0][0] * a[1][1] - a[0][1] * a[1][0]
        cov = [[a[1][1] / det, -a[0][1] / det], [-a[1][0] / det, a[0][0] / det]]
        mean = [cov[0][0] * c[0] + cov[0][1] * c[1], cov[1][0] * c[0] + cov[1][1] * c[1]]
    out = out - 0.5 * np.log(det) + 0.5 * sum(c[i] * mean[i] for i in range(p))
    t = d.truncated
    if t is not None:
        pr = d.priors[t]
        out = out + log_interval_prob(mean[t], np.sqrt(cov[t][t]), pr.lower, pr.upper) - pr.log_mass()
    cov_b = [[np.broadcast_to(cij, shape) for cij in row] for row in cov]
    return Conditional(out, [np.broadcast_to(m, shape) for m in mean], cov_b)


@dataclass
class GaussianFit:
    """A fitted model without selection: the integral over (log tau, sqrt(g)...), and the conditional posterior of
    beta, tau and log(integrand x weight) at the posterior rule's nodes."""

    integral: Integral
    design: Design
    tau: np.ndarray
    cond: Conditional
    log_mass: np.ndarray


def fit_gaussian(model: ModelSpec, priors: BiasPriors, y: np.ndarray, sei: np.ndarray, n: int | None = None,
                 rtol: float = 1e-8, posterior_nodes: int | None = None) -> GaussianFit:
    """log p(y | model) by closed form in beta and quadrature over the rest: rules of 64 and 128 nodes per
    dimension in turn until the error estimate falls below ``rtol`` (or ``n``); the posterior's nodes come from a
    rule of ``posterior_nodes`` per dimension (default 32 for two dimensions, 24 for three) when there are two or
    more (a mixture of that many normals is ample for quantiles, and the skew-normal densities on the grid cost
    nodes x grid points)."""
    d = design(model, priors, sei)
    mix = [j for j, pr in enumerate(d.priors) if not pr.normal]
    tau_prior: Prior = priors.tau

    def pieces(*coords):
        it = iter(coords)
        tau = np.exp(next(it)) if model.heterogeneity else np.zeros(())
        extra = np.zeros(())
        if model.heterogeneity:
            extra = extra + tau_prior.logpdf(tau) + np.log(tau)
        gs: list = [1.0] * len(d.priors)
        for j in mix:
            # r = sqrt(g): g^(df/2 - 1) exp(-df g / 2) dg = 2 r^(df - 1) exp(-df r^2 / 2) dr, smooth at r = 0
            # for df >= 1 (a log g coordinate would leave a slowly decaying e^(v/2) tail); log_mixing is the
            # density of v = log g = 2 log r, and dv/dr = 2/r
            r = next(it)
            gs[j] = r * r
            extra = extra + d.priors[j].log_mixing(2.0 * np.log(r)) + math.log(2.0) - np.log(r)
        cond = conditional(y, sei, d, tau, gs)
        return cond, extra, tau

    def logf(*coords):
        cond, extra, _ = pieces(*coords)
        return cond.loglik + extra

    if any(d.priors[j].df < 1 for j in mix):
        raise ModelError("t priors with fewer than 1 degree of freedom are not supported")
    wide = ([log_tau_range(y, sei)] if model.heterogeneity else []) + [(0.0, 2.0 + 12.0 / math.sqrt(d.priors[j].df))
                                                               for j in mix]
    box = bracket(logf, wide) if wide else None
    for size in ((n,) if n else (64, 128)):
        integral = integrate(logf, wide, size, box=box)
        if integral.log_error < rtol:
            break
    # 24 per dimension for three (t priors on both mu and b): 14k nodes instead of 33k, quantiles within 1e-4
    nodes = posterior_nodes or (32 if len(wide) < 3 else 24)
    rule = integrate(logf, wide, nodes, box=box, error=False) if len(wide) >= 2 else integral
    grids = np.meshgrid(*rule.nodes, indexing="ij") if rule.nodes else []
    cond, _, tau = pieces(*grids)
    tau = np.broadcast_to(tau, rule.log_mass.shape)
    return GaussianFit(integral, d, tau, cond, rule.log_mass)
