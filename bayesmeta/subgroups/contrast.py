"""Posterior of the difference of two subgroup effects theta_a - theta_b (log ratio of HRs: the interaction),
with and without partial pooling.

Hierarchical (normal-normal over the G levels of a characteristic): y_g ~ N(theta_g, s_g^2), theta_g ~ N(mu,
tau^2). Given tau and mu, theta_g | y ~ N((1 - B_g) y_g + B_g mu, s_g^2 (1 - B_g)) independently, B_g =
s_g^2 / (s_g^2 + tau^2); mu | tau, y ~ N(m(tau), V(tau)) (Roever 2020, J Stat Softw 93(6), sec. 2). Hence

    theta_a - theta_b | tau, y ~ N((1 - B_a) y_a - (1 - B_b) y_b + (B_a - B_b) m,
                                    s_a^2 (1 - B_a) + s_b^2 (1 - B_b) + (B_a - B_b)^2 V),

and its marginal is the normal mixture over the exact engine's tau nodes and weights (written with
1 - B = tau^2 / (s^2 + tau^2) and B_a - B_b = tau^2 (s_a^2 - s_b^2) / ((s_a^2 + tau^2)(s_b^2 + tau^2)), which
stay exact at tau near 0).

Unpooled: each theta_g has its own prior, flat or normal(m0, sd0), so theta_g | y is normal and the difference is
normal; with flat priors it is the closed form from two CIs, N(y_a - y_b, s_a^2 + s_b^2) (Altman & Bland 2003,
BMJ 326:219).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from bayesmeta.errors import ModelError
from bayesmeta.exact.mixture import NormalMixture
from bayesmeta.posterior import Posterior
from bayesmeta.priors import FlatPrior, NormalPrior, Prior

_TINY = 1e-300


def pooled_difference(posterior: Posterior, a: int, b: int) -> NormalMixture:
    """Marginal posterior of theta_a - theta_b (studies a and b of an exact-engine ``posterior``)."""
    extras = posterior.extras
    tau = np.asarray(extras["tau_nodes"], dtype=float)
    weights = np.asarray(extras["tau_weights"], dtype=float)
    m = np.asarray(extras["mu_conditional_mean"], dtype=float)
    v = np.asarray(extras["mu_conditional_sd"], dtype=float) ** 2
    ya, yb = float(posterior.yi[a]), float(posterior.yi[b])
    sa2, sb2 = float(posterior.sei[a]) ** 2, float(posterior.sei[b]) ** 2
    t2 = tau * tau
    va, vb = sa2 + t2, sb2 + t2
    mean = (t2 / va) * ya - (t2 / vb) * yb + (sa2 / va - sb2 / vb) * m
    d_shrink = t2 * (sa2 - sb2) / (va * vb)
    var = sa2 * t2 / va + sb2 * t2 / vb + d_shrink * d_shrink * v
    return NormalMixture(weights, mean, np.sqrt(np.maximum(var, _TINY)))


def unpooled_effect(yi: float, sei: float, prior: Prior) -> stats.rv_continuous:
    """theta | y for one subgroup with its own prior: N(y, s^2) under a flat prior, else the conjugate normal
    N((y/s^2 + m0/sd0^2) / (1/s^2 + 1/sd0^2), 1 / (1/s^2 + 1/sd0^2))."""
    mean, var = _unpooled_moments(yi, sei, prior)
    return stats.norm(mean, np.sqrt(var))


def unpooled_difference(ya: float, sa: float, yb: float, sb: float, prior: Prior) -> stats.rv_continuous:
    """theta_a - theta_b with independent unpooled posteriors (the closed form under flat priors)."""
    ma, va = _unpooled_moments(ya, sa, prior)
    mb, vb = _unpooled_moments(yb, sb, prior)
    return stats.norm(ma - mb, np.sqrt(va + vb))


def _unpooled_moments(yi: float, sei: float, prior: Prior) -> tuple[float, float]:
    if isinstance(prior, FlatPrior):
        return float(yi), float(sei) ** 2
    if isinstance(prior, NormalPrior):
        precision = 1.0 / sei**2 + 1.0 / prior.sd**2
        return (yi / sei**2 + prior.mean / prior.sd**2) / precision, 1.0 / precision
    raise ModelError(f"prior {prior.text!r} of an unpooled subgroup effect is neither flat nor normal(mean, sd)")
