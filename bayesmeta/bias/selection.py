"""Step-function selection models (Vevea & Hedges 1995; the weight functions of RoBMA, Maier et al. 2022): the
weighted likelihood of study i with p-value in interval j(i),

    f(y_i | mu, tau, omega) = omega_{j(i)} N(y_i; mu, se_i^2 + tau^2) / sum_j omega_j P(p_i in interval j | mu, tau),

integrated over mu, log tau and the weights on the unit cube (omega_2 = x_1, omega_3 = x_1 x_2, ...; the cumulative
Dirichlet prior of :class:`~bayesmeta.bias.models.WeightFunction` with its Jacobian; each x_j as t_j^2, t_j in
[0, 1]) by the tensor rule of :mod:`bayesmeta.bias.quadrature`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, ndtr, ndtri

from bayesmeta.bias.models import ModelSpec, WeightFunction
from bayesmeta.bias.priors import BiasPriors
from bayesmeta.bias.gaussian import log_tau_range
from bayesmeta.bias.quadrature import Integral, integrate
from bayesmeta.errors import ModelError

_LOG_2PI = math.log(2 * math.pi)


def observed_intervals(wf: WeightFunction, yi: np.ndarray, sei: np.ndarray,
                       thresholds: np.ndarray | None = None) -> np.ndarray:
    """The interval (0 = smallest p-values, weight 1) of each study's one- or two-sided p-value; with
    ``thresholds`` (see :func:`effect_thresholds`) a study's p-value lies below cut-off j when y_i (|y_i| if
    two-sided) exceeds thresholds[i, j]."""
    if thresholds is not None:
        y = np.abs(yi) if wf.sided == "two" else yi
        return (y[:, None] <= thresholds).sum(1)
    z = yi / sei
    p = ndtr(-z) if wf.sided == "one" else 2.0 * ndtr(-np.abs(z))
    return np.searchsorted(np.asarray(wf.cutoffs), p, side="right")


def z_thresholds(wf: WeightFunction) -> np.ndarray:
    """|z| (two-sided) or z (one-sided) above which p falls below each cut-off."""
    c = np.asarray(wf.cutoffs)
    return ndtri(1.0 - c / 2.0) if wf.sided == "two" else ndtri(1.0 - c)


def effect_thresholds(wf: WeightFunction, sei: np.ndarray) -> np.ndarray:
    """The (k, cut-offs) effect sizes above which each study's p-value falls below each cut-off, for p-values of
    the normal test y / se (the default; RoBMA's t-test cut-offs for standardised effects are in
    :mod:`bayesmeta.bias.robma`)."""
    return sei[:, None] * z_thresholds(wf)[None, :]


def omegas(x: list[np.ndarray]) -> list[np.ndarray]:
    """omega_1 = 1, omega_{j+1} = x_1 ... x_j."""
    out = [np.ones(())]
    for xj in x:
        out.append(out[-1] * xj)
    return out


def log_weight_prior(wf: WeightFunction, x: list[np.ndarray]) -> np.ndarray:
    """log of the cumulative Dirichlet density of (omega_2..omega_J) times the Jacobian of the unit-cube map."""
    om = omegas(x)
    J = wf.intervals
    eta = [om[J - 1]] + [om[J - m] - om[J - m + 1] for m in range(2, J)] + [1.0 - om[1]]
    a = np.asarray(wf.alpha)
    out = gammaln(a.sum()) - gammaln(a).sum()
    for am, em in zip(a, eta):
        if am != 1.0:
            out = out + (am - 1.0) * np.log(em)
    for m, xm in enumerate(x[:-1], start=1):
        out = out + (J - 1 - m) * np.log(xm)
    return out


def _log_denominator(probs: list[np.ndarray], om: list[np.ndarray]) -> np.ndarray:
    """sum_i log sum_j omega_j P_ij. When (mu, tau) vary on leading axes and the weights on trailing ones (the
    tensor rules' layout), the sum over j is one matrix product; otherwise plain broadcasting."""
    ps = np.broadcast_shapes(*(p.shape for p in probs))[:-1]
    ws = np.broadcast_shapes(*(np.shape(o) for o in om))
    lead = len(ps) - len(ws)
    split = next((a for a in range(len(ps)) if a >= lead and ws[a - lead] != 1), len(ps))
    separable = all(d == 1 for d in ps[split:]) and all(d == 1 for d in ws[: max(split - lead, 0)])
    if not separable or len(om) < 2:
        denom = probs[0]
        for j in range(1, len(probs)):
            denom = denom + om[j][..., None] * probs[j]
        return np.log(denom).sum(-1)
    k = probs[0].shape[-1]
    p_mat = np.stack([np.broadcast_to(p, ps + (k,)) for p in probs], -1).reshape(-1, len(probs))
    o_mat = np.stack([np.broadcast_to(o, ws) for o in om], -1)
    o_mat = o_mat.reshape(-1, len(om))
    denom = p_mat @ o_mat.T  # (n_mu_tau * k, n_weights)
    n_mt = p_mat.shape[0] // k
    out = _log_prod(denom.reshape(n_mt, k, -1), float(np.min(o_mat)))
    return out.reshape(ps[:split] + tuple(ws[max(split - lead, 0):]))


def _log_prod(denom: np.ndarray, floor: float) -> np.ndarray:
    """sum over axis 1 of log(denom), as the log of products of groups of studies: each denominator is at least
    the smallest weight ``floor`` (the P_ij sum to 1 over j) and at most 1, so a group of g with floor^g above
    1e-280 cannot underflow; one log per group instead of per study."""
    k = denom.shape[1]
    g = int(min(k, max(1, 280.0 // max(-math.log10(max(floor, 1e-300)), 1e-3))))
    if g == 1:
        return np.log(denom).sum(1)
    full = (k // g) * g
    head = denom[:, :full].reshape(denom.shape[0], k // g, g, -1).prod(2)
    out = np.log(head).sum(1)
    if full < k:
        out = out + np.log(denom[:, full:].prod(1))
    return out


def weighted_loglik(wf: WeightFunction, yi: np.ndarray, sei: np.ndarray, mu, tau, x: list[np.ndarray],
                    thresholds: np.ndarray | None = None):
    """sum_i log f(y_i | mu, tau, omega) (module docstring), broadcast over mu, tau and the x's; ``thresholds``:
    the studies' cut-offs on the effect scale (default :func:`effect_thresholds`)."""
    mu = np.asarray(mu, dtype=float)[..., None]
    sd = np.sqrt(sei**2 + np.asarray(tau, dtype=float)[..., None] ** 2)
    normal = -0.5 * (_LOG_2PI + 2 * np.log(sd) + ((yi - mu) / sd) ** 2)
    crit = effect_thresholds(wf, sei) if thresholds is None else thresholds
    exceed = []
    for j in range(crit.shape[1]):
        e = ndtr((mu - crit[:, j]) / sd)
        if wf.sided == "two":
            e = e + ndtr((-crit[:, j] - mu) / sd)
        exceed.append(e)
    probs = [exceed[0]] + [exceed[j] - exceed[j - 1] for j in range(1, len(exceed))] + [1.0 - exceed[-1]]
    om = omegas(x)
    log_denom = _log_denominator(probs, om)
    counts = np.bincount(observed_intervals(wf, yi, sei, thresholds), minlength=wf.intervals)
    log_num = sum(counts[j] * np.log(om[j]) for j in range(1, wf.intervals) if counts[j])
    return normal.sum(-1) - log_denom + log_num


@dataclass
class SelectionFit:
    """A fitted selection model: its integral over (z, log tau, x_j), z = (mu - m(tau)) / s(tau), the names of
    its axes and the map to the natural parameters."""

    integral: Integral
    axes: tuple[str, ...]
    natural: object = None  # coords -> (mu, tau, weights, log Jacobian + log prior) of the rule's coordinates
    mu_bounds: tuple[float, float] = (-math.inf, math.inf)
    """The support of mu's prior: the integrand is 0 beyond a finite end (see
    :func:`bayesmeta.bias.posteriors.selection_posteriors`)."""


RULE_SIZES = {1: (40, 40), 2: (40, 24), 3: (40, 20), 4: (24, 12), 5: (20, 9)}
"""Nodes (for mu and log tau, per weight coordinate) of the tensor rule by its dimension."""
MAX_DIMENSIONS = max(RULE_SIZES)


def fit_selection(model: ModelSpec, priors: BiasPriors, yi: np.ndarray, sei: np.ndarray,
                  n: tuple[int, int] | None = None, thresholds: np.ndarray | None = None) -> SelectionFit:
    """log p(y | selection model) by the tensor rule of :func:`~bayesmeta.bias.quadrature.integrate` over
    (mu, log tau, x_j); ``n`` = (nodes for mu and log tau, nodes per weight coordinate); ``thresholds``: the
    studies' cut-offs on the effect scale (default :func:`effect_thresholds`)."""
    wf = model.weights
    assert wf is not None
    axes = (("mu",) if model.effect else ()) + (("log_tau",) if model.heterogeneity else ()) + tuple(
        f"x{j}" for j in range(1, wf.intervals))
    tau_prior = priors.tau
    d = len(axes)
    if d > MAX_DIMENSIONS:
        free = MAX_DIMENSIONS - int(model.effect) - int(model.heterogeneity)
        raise ModelError(f"the selection model {model.name} has {wf.intervals - 1} cut-offs, which with its "
                         f"{int(model.effect) + int(model.heterogeneity)} other parameter(s) makes a "
                         f"{d}-dimensional integral; the tensor rule here integrates at most "
                         f"{MAX_DIMENSIONS} dimensions: give it at most {free} cut-offs, or estimate it by "
                         "sequential Monte Carlo (bayesmeta.bias.smc.fit_selection_smc; fit_bias does so itself)")
    n = n or RULE_SIZES[d]
    n_w = n[1]


    def centre(tau):
        """mean and sd of mu given tau under the unweighted model with a flat prior: mu's coordinate is
        z = (mu - mean) / sd, so that the rule follows mu's conditional width as tau varies."""
        w = 1.0 / (sei**2 + np.asarray(tau)[..., None] ** 2)
        return (w * yi).sum(-1) / w.sum(-1), 1.0 / np.sqrt(w.sum(-1))

    def natural(coords):
        it = iter(coords)
        z = next(it) if model.effect else None
        if model.heterogeneity:
            u = next(it)
            tau = np.exp(u)
            jac = u + tau_prior.logpdf(tau)
        else:
            tau, jac = np.zeros(()), np.zeros(())
        if z is not None:
            m, sd = centre(tau)
            mu = m + sd * z
            jac = jac + np.log(sd) + priors.mu.logpdf(mu)
        else:
            mu = np.zeros(())
        # x_j = t_j^2: under selection the weights' posterior piles up near 0 (a near-pole of 1 / sum_j omega_j
        # P_ij at x = -P_i1 / P_i2); in t the rule's nodes gather there (9 nodes: median error 1e-4 instead of 1e-3)
        t = list(it)
        for tj in t:
            jac = jac + np.log(2.0 * tj)
        return mu, tau, [tj * tj for tj in t], jac

    def logf(*coords):
        mu, tau, x, jac = natural(coords)
        return jac + log_weight_prior(wf, x) + weighted_loglik(wf, yi, sei, mu, tau, x, thresholds)

    wide = ([(-40.0, 40.0)] if model.effect else []) + (
        [log_tau_range(yi, sei)] if model.heterogeneity else []) + [(0.0, 1.0)] * (wf.intervals - 1)
    sizes = [n[0]] * (len(axes) - wf.intervals + 1) + [n_w] * (wf.intervals - 1)
    # the trimmed box at drop 25 (slices below e^-25 of the mass left out): the rule's accuracy depends on the
    # box's width in units of the integrand's scale, and the one-cell pads of the scan cost up to 10x in error
    integral = integrate(logf, wide, sizes, scan=11 if len(axes) >= 4 else 21, drop=25.0, trim=True)
    return SelectionFit(integral, axes, natural, (priors.mu.lower, priors.mu.upper))
