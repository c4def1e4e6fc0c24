"""Each model's posterior of mu and of the effect in a new study (theta_new ~ N(mu, tau^2), without the bias
terms) as :class:`~bayesmeta.bias.marginals.GridMarginal` on a common grid.

Models without selection: given the nodes (tau, g), (mu, b) is Gaussian, and a truncated prior on coefficient c
makes the density of a Gaussian target x (mu, or theta_new with Var = V_mu + tau^2 and Cov(theta_new, c) =
Cov(mu, c)) equal to N(x; m_x, v_x) P(c in [l, u] | x) / P(c in [l, u]) (Azzalini 1985's skew-normal form).
Selection models: the log density of mu at the rule's mu nodes, interpolated by a polynomial through the
Gauss-Legendre nodes, and, for the new study, convolved with N(0, tau_j^2) at each tau node."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import BarycentricInterpolator
from scipy.ndimage import gaussian_filter1d
from scipy.special import logsumexp

from bayesmeta.bias.gaussian import GaussianFit, log_interval_prob
from bayesmeta.bias.marginals import GridMarginal
from bayesmeta.bias.selection import SelectionFit

_TINY = 1e-300


def _normal(x: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * (x - m) ** 2 / v) / np.sqrt(2 * np.pi * v)


def _skew(x, mx, vx, mc, vc, cxc, lower, upper):
    """N(x; mx, vx) P(c in [l, u] | x) / P(c in [l, u]) for (x, c) bivariate normal; x is the grid (last axis)."""
    slope = cxc / vx
    sd_c = np.sqrt(np.clip(vc - cxc * slope, 1e-24, None))
    cond = log_interval_prob(mc + slope * (x - mx), sd_c, lower, upper)
    marg = log_interval_prob(mc, np.sqrt(vc), lower, upper)
    return _normal(x, mx, vx) * np.exp(cond - marg)


def gaussian_posteriors(fit: GaussianFit, x: np.ndarray) -> tuple[GridMarginal, GridMarginal]:
    mass = fit.log_mass.ravel()
    w = np.exp(mass - logsumexp(mass))
    # the nodes holding all but 1e-10 of the mass (the rest cannot move a quantile)
    order = np.argsort(w)
    keep = np.zeros(w.size, dtype=bool)
    keep[order[np.cumsum(w[order]) > 1e-10]] = True
    w = w[keep][:, None]
    tau2 = (np.asarray(fit.tau).ravel()[keep] ** 2)[:, None]
    grid = x[None, :]
    if "mu" not in fit.design.names:
        pred = (w * _normal(grid, 0.0, tau2)).sum(0) if np.any(tau2 > 0) else np.zeros_like(x)
        return GridMarginal(x, np.zeros_like(x), 1.0), GridMarginal(x, pred, 0.0 if np.any(tau2 > 0) else 1.0)
    m0 = fit.cond.mean[0].ravel()[keep][:, None]
    v00 = fit.cond.cov[0][0].ravel()[keep][:, None]
    t = fit.design.truncated
    if t is None:
        mu = (w * _normal(grid, m0, v00)).sum(0)
        pred = (w * _normal(grid, m0, v00 + tau2)).sum(0)
        return GridMarginal(x, mu), GridMarginal(x, pred)
    pr = fit.design.priors[t]
    mc = fit.cond.mean[t].ravel()[keep][:, None]
    vc = fit.cond.cov[t][t].ravel()[keep][:, None]
    cxc = fit.cond.cov[0][t].ravel()[keep][:, None]
    if t == 0:
        inside = (grid >= pr.lower) & (grid <= pr.upper)
        mu = (w * _normal(grid, m0, v00) * inside / np.exp(log_interval_prob(m0, np.sqrt(v00), pr.lower,
                                                                           pr.upper))).sum(0)
    else:
        mu = (w * _skew(grid, m0, v00, mc, vc, cxc, pr.lower, pr.upper)).sum(0)
    pred = (w * _skew(grid, m0, v00 + tau2, mc, vc, cxc, pr.lower, pr.upper)).sum(0)
    return GridMarginal(x, mu), GridMarginal(x, pred)


def _interp_log(nodes: np.ndarray, logd: np.ndarray, x: np.ndarray) -> np.ndarray:
    """exp of the polynomial through (nodes, logd), zero outside the nodes' span."""
    top = float(np.max(logd))
    f = BarycentricInterpolator(nodes, np.clip(logd - top, -700.0, None))
    out = np.zeros_like(x)
    inside = (x >= nodes.min()) & (x <= nodes.max())
    out[inside] = np.exp(np.clip(f(x[inside]), -745.0, 50.0) + top)
    return out


def selection_posteriors(fit: SelectionFit, x: np.ndarray) -> tuple[GridMarginal, GridMarginal]:
    integ = fit.integral
    axes = fit.axes
    lm = integ.log_mass
    wx = tuple(i for i, a in enumerate(axes) if a.startswith("x"))
    lm = logsumexp(lm, axis=wx) if wx else lm
    lm = lm - logsumexp(lm)
    het = "log_tau" in axes
    h = x[1] - x[0]
    if "mu" not in axes:
        if not het:
            return GridMarginal(x, np.zeros_like(x), 1.0), GridMarginal(x, np.zeros_like(x), 1.0)
        tau = np.exp(integ.nodes[0])
        pred = (np.exp(lm)[:, None] * _normal(x[None, :], 0.0, tau[:, None] ** 2)).sum(0)
        return GridMarginal(x, np.zeros_like(x), 1.0), GridMarginal(x, pred)
    z_nodes = integ.nodes[0]
    lw = integ.log_weights[0]
    u = integ.nodes[1] if het else None
    coords0 = [np.zeros(1)] + ([u] if het else [])
    coords1 = [np.ones(1)] + ([u] if het else [])
    m = np.atleast_1d(fit.natural(coords0)[0])  # type: ignore[operator]
    sd = np.atleast_1d(fit.natural(coords1)[0]) - m  # type: ignore[operator]
    tau = np.exp(u) if het else np.zeros(1)
    cols = lm if het else lm[:, None]
    mu = np.zeros_like(x)
    pred = np.zeros_like(x)
    for j in range(tau.size):
        col = cols[:, j]
        if np.max(col) < -40:
            continue
        zx = (x - m[j]) / sd[j]
        dj = _interp_log(z_nodes, col - lw, zx) / sd[j]
        mu += dj
        pred += gaussian_filter1d(dj, tau[j] / h, mode="constant", truncate=6.0) if tau[j] > 0.05 * h else dj
    return GridMarginal(x, mu), GridMarginal(x, pred)
