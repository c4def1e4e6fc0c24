"""What the bias models say a study's estimate should be, as a function of its standard error: the curves a funnel
plot overlays.

- PET and PEESE: E[y | se] = mu + b se (PET) or mu + b se^2 (PEESE), so the posterior mean curve is the line (or
  parabola) through the posterior means of mu and b (Stanley & Doucouliagos 2014). Given the quadrature nodes
  (tau, g), (mu, b) is Gaussian; where b's prior is truncated to [l, u] (b > 0 by default), the conditional mean
  of b is the truncated normal's, m + s (phi(alpha) - phi(beta)) / (Phi(beta) - Phi(alpha)) with
  alpha = (l - m) / s, beta = (u - m) / s, and that of mu moves with it along the regression
  E[mu | b] = m_mu + Cov(mu, b) / Var(b) (b - m_b) (Johnson, Kotz & Balakrishnan 1994, ch. 13).
- Step-function selection models (Vevea & Hedges 1995): a study with standard error se reports
  y ~ N(mu, se^2 + tau^2) weighted by omega_j(p(y / se)), so its expected estimate is
  sum_j omega_j int_{A_j} y N(y; mu, v) dy / sum_j omega_j P(y in A_j), A_j the estimates whose p-value falls in
  interval j (truncated-normal moments), averaged over the posterior of (mu, tau, omega) at the quadrature nodes.

A class curve (all PET models, all PEESE models, all selection models) averages its models' curves with their
posterior model probabilities renormalised within the class: the posterior mean of y given se and the class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr

from bayesmeta.bias.gaussian import GaussianFit, log_interval_prob
from bayesmeta.bias.models import WeightFunction
from bayesmeta.bias.quadrature import logsumexp
from bayesmeta.bias.selection import SelectionFit, omegas, z_thresholds
from bayesmeta.bias.smc import SmcFit

_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)
MASS_LEFT_OUT = 1e-4
"""Posterior mass of the quadrature nodes left out of a selection model's curve (the lightest ones; the rest is
renormalised): the curve moves by at most about this share of the spread of the expected estimates (1e-4 of it
against all nodes on the data of tests/test_bias_curves.py), invisible in a figure, at a tenth of the cost."""
MIN_CLASS_WEIGHT = 1e-6
"""Selection models below this share of their class's posterior probability are left out of its curve."""


def _log_phi(x: np.ndarray) -> np.ndarray:
    return -0.5 * x * x - _LOG_SQRT_2PI


def truncated_mean_shift(mean: np.ndarray, sd: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """E[X] - mean for X ~ N(mean, sd^2) truncated to [lower, upper], in logs where a tail is one-sided."""
    alpha, beta = (lower - mean) / sd, (upper - mean) / sd
    log_mass = log_interval_prob(mean, sd, lower, upper)
    with np.errstate(over="ignore", invalid="ignore"):
        up = np.exp(_log_phi(alpha) - log_mass) if np.isfinite(lower) else 0.0
        down = np.exp(_log_phi(beta) - log_mass) if np.isfinite(upper) else 0.0
    return sd * (up - down)


def coefficient_means(fit: GaussianFit) -> dict[str, float]:
    """Posterior means of the coefficients of a model without selection (``mu``, and ``b`` for PET/PEESE; a
    coefficient the model lacks is 0), from the conditional Gaussian posterior at the posterior rule's nodes."""
    mass = np.asarray(fit.log_mass, dtype=float).ravel()
    w = np.exp(mass - logsumexp(mass))
    names = fit.design.names
    means = [np.asarray(m, dtype=float).ravel().copy() for m in fit.cond.mean]
    t = fit.design.truncated
    if t is not None:
        pr = fit.design.priors[t]
        sd_t = np.sqrt(np.asarray(fit.cond.cov[t][t], dtype=float).ravel())
        shift = truncated_mean_shift(means[t], sd_t, pr.lower, pr.upper)
        for j in range(len(names)):
            if j != t:  # the other coefficient follows b along its conditional regression
                cov_jt = np.asarray(fit.cond.cov[j][t], dtype=float).ravel()
                means[j] = means[j] + cov_jt / sd_t**2 * shift
        means[t] = means[t] + shift
    out = {"mu": 0.0, "b": 0.0}
    for name, m in zip(names, means):
        out[name] = float(np.sum(w * m))
    return out


def _interval_edges(wf: WeightFunction) -> list[list[tuple[float, float]]]:
    """Per interval j (0 = smallest p-values, weight 1), the z = y / se ranges whose p-value lies in it."""
    t = list(z_thresholds(wf))  # decreasing
    bounds = [np.inf, *t, -np.inf] if wf.sided == "one" else [np.inf, *t, 0.0]
    out = []
    for j in range(wf.intervals):
        hi, lo = bounds[j], bounds[j + 1]
        out.append([(lo, hi)] if wf.sided == "one" else [(lo, hi), (-hi, -lo)])
    return out


def selected_mean(wf: WeightFunction, se: np.ndarray, mu: np.ndarray, tau: np.ndarray,
                  weights: Sequence[np.ndarray]) -> np.ndarray:
    """E[y | se, mu, tau, omega] of a study under the weight function (module docstring), broadcast over the
    arrays; ``weights`` are omega_1 = 1, omega_2, ..., omega_J."""
    se = np.asarray(se, dtype=float)
    s = np.maximum(np.sqrt(se**2 + np.asarray(tau, dtype=float) ** 2), 1e-12)
    num = np.zeros(np.broadcast_shapes(se.shape, np.shape(mu), s.shape))
    den = np.zeros_like(num)
    for om, pieces in zip(weights, _interval_edges(wf)):
        for lo, hi in pieces:
            a, b = (e if np.isinf(e) else e * se for e in (lo, hi))  # the range of y
            alpha, beta = (a - mu) / s, (b - mu) / s
            p = np.clip(ndtr(beta) - ndtr(alpha), 0.0, None)
            dens = np.exp(_log_phi(np.where(np.isinf(alpha), 0.0, alpha))) * np.isfinite(alpha) - np.exp(
                _log_phi(np.where(np.isinf(beta), 0.0, beta))) * np.isfinite(beta)
            num = num + om * (mu * p + s * dens)
            den = den + om * p
    return num / den


def selection_curve(fit: SelectionFit, wf: WeightFunction, se: np.ndarray) -> np.ndarray:
    """Posterior mean of a study's expected estimate at each standard error in ``se`` under a selection model
    (an SMC fit: the mean over its equally weighted particles)."""
    if isinstance(fit, SmcFit):
        om = [np.asarray(o)[:, None] if np.ndim(o) else o for o in omegas(fit.x)]
        values = selected_mean(wf, np.asarray(se, dtype=float)[None, :], fit.mu[:, None], fit.tau[:, None], om)
        return values.mean(0)
    integ = fit.integral
    lm = np.asarray(integ.log_mass, dtype=float)
    d = lm.ndim
    coords = [np.asarray(n, dtype=float).reshape([-1 if i == j else 1 for i in range(d)])
              for j, n in enumerate(integ.nodes)]
    mu, tau, x, _ = fit.natural(coords)  # type: ignore[operator]
    w = np.exp(lm - logsumexp(lm)).ravel()
    order = np.argsort(w)
    keep = np.zeros(w.size, dtype=bool)
    keep[order[np.cumsum(w[order]) > MASS_LEFT_OUT]] = True

    def flat(a) -> np.ndarray:
        return np.broadcast_to(np.asarray(a, dtype=float), lm.shape).ravel()[keep][:, None]

    om = [flat(o) for o in omegas([np.asarray(xj) for xj in x])]
    values = selected_mean(wf, np.asarray(se, dtype=float)[None, :], flat(mu), flat(tau), om)
    return (w[keep][:, None] * values).sum(0) / w[keep].sum()


def class_curves(result, se: np.ndarray) -> dict[str, dict[str, object]]:
    """Per bias class of ``result`` (:class:`~bayesmeta.bias.ensemble.BiasResult`) present in its ensemble: the
    class's posterior probability and its posterior mean curve at the standard errors ``se`` (analysis scale), for
    PET and PEESE also the averaged ``intercept`` (E[mu]) and ``slope`` (E[b]) of the line in se or se^2."""
    out: dict[str, dict[str, object]] = {}
    for kind, power in (("PET", 1), ("PEESE", 2), ("selection", None)):
        members = [m for m in result.models if m.spec.bias == kind]
        if not members or any(m.fit is None for m in members):
            continue
        post = np.array([m.post_prob for m in members])
        total = float(post.sum())
        prior = np.array([m.prior_prob for m in members])
        if not (total > 0 or prior.sum() > 0):  # a user ensemble may give a class prior weight 0
            continue
        w = post / total if total > 0 else prior / prior.sum()
        entry: dict[str, object] = {"post_prob": total, "prior_prob": float(sum(m.prior_prob for m in members))}
        if power is not None:
            coef = [coefficient_means(m.fit) for m in members]
            intercept = float(np.dot(w, [c["mu"] for c in coef]))
            slope = float(np.dot(w, [c["b"] for c in coef]))
            entry.update(intercept=intercept, slope=slope, power=power, curve=intercept + slope * se**power)
        else:
            used = [(wi, m) for wi, m in zip(w, members) if wi > MIN_CLASS_WEIGHT]
            entry["curve"] = sum(wi * selection_curve(m.fit, m.spec.weights, se) for wi, m in used) / sum(
                wi for wi, _ in used)
        out[kind] = entry
    return out
