"""Posterior predictive p-values for a hypothesis on mu or tau (Meng 1994; Gelman, Meng & Stern 1996; R bayesmeta's
``pppvalue``, Roever 2020 sec. 3.5).

The parameters are drawn from their posterior restricted to the null hypothesis, data sets are replicated from
them, and the model is refitted to each (all at once, :func:`bayesmeta.exact.fit_exact_batch`); the p-value is how
far in the tail of the replicated statistic the observed one lies:

- mu = v (two-sided): tau ~ p(tau | y, mu = v) (on a fine grid of tau), theta_i ~ p(theta_i | tau, mu = v, y);
- mu >= v (alternative 'less') or mu <= v ('greater'): (tau, mu) from the posterior truncated to the null
  half-line: tau ~ p(tau | y) P(mu in null | tau, y), mu | tau, y a truncated normal, theta_i as above;
- tau = 0 (alternative 'greater'): mu ~ p(mu | y, tau = 0), theta_i = mu;
- y_i,rep ~ N(theta_i, s_i^2).

Statistics: 'median' (the refit's posterior median of the parameter; the default), 't' ((mean - v) / sd) or
'cdf' (P(parameter <= v)). Rejection region: both tails for a two-sided alternative (p = 2 min(upper, lower)
tail share, at most 1), the lower tail of 'median' and 't' for 'less' and the upper for 'greater' (reversed for
'cdf'). Monte Carlo with ``n`` replicates and a ``seed``: the p-value carries a standard error of about
sqrt(p (1 - p) / n), which the result states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bayesmeta.errors import ModelError
from bayesmeta.posterior import Posterior

ALTERNATIVES = ("two.sided", "less", "greater")
STATISTICS = ("median", "t", "cdf")


@dataclass(frozen=True)
class PPPValue:
    """A posterior predictive p-value and how it was obtained."""

    parameter: str
    value: float
    alternative: str
    statistic: str
    observed: float
    p_value: float
    mc_se: float
    n: int
    seed: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _statistic(batch, param: str, value: float, statistic: str) -> np.ndarray:
    if statistic == "median":
        return batch.ppf(0.5, param)
    if statistic == "t":
        return (batch.mean(param) - value) / batch.std(param)
    return batch.cdf(value, param)


def pppvalue(post: Posterior, parameter: str = "mu", value: float = 0.0, alternative: str = "two.sided",
             statistic: str = "median", n: int = 1000, seed: int = 0, grid: int = 2000) -> PPPValue:
    """The posterior predictive p-value of ``parameter`` ('mu' or 'tau') = ``value`` against ``alternative``
    for an exact posterior without covariates (see the module docstring)."""
    from scipy import stats

    from bayesmeta.exact import fit_exact_batch

    if post.engine != "exact" or post.covariates or not post.intercept:
        raise ModelError("posterior predictive p-values need an exact posterior without covariates")
    if parameter not in ("mu", "tau") or alternative not in ALTERNATIVES or statistic not in STATISTICS:
        raise ModelError(f"parameter 'mu' or 'tau', alternative one of {ALTERNATIVES}, statistic one of "
                         f"{STATISTICS}; got {parameter!r}, {alternative!r}, {statistic!r}")
    if parameter == "tau" and (value != 0.0 or alternative != "greater"):
        raise ModelError("for tau the hypothesis is tau = 0 against tau > 0 (alternative 'greater')")
    if n < 10:
        raise ModelError(f"n = {n} replicates is too few")
    rng = np.random.default_rng(seed)
    y, s = post.yi, post.sei
    s2 = s * s
    mu_prior, tau_prior = post.priors["mu"], post.priors["tau"]
    from bayesmeta.priors import NormalPrior, parse_prior

    mp = parse_prior(mu_prior)
    m0, p0 = (mp.mean, 1.0 / mp.sd**2) if isinstance(mp, NormalPrior) else (0.0, 0.0)

    def conditional_mu(tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = 1.0 / (s2[None, :] + tau[:, None] ** 2)
        prec = w.sum(axis=1) + p0
        return (np.sum(w * y, axis=1) + p0 * m0) / prec, 1.0 / np.sqrt(prec)

    if parameter == "tau":
        mean, sd = conditional_mu(np.zeros(1))
        mu = rng.normal(mean[0], sd[0], n)
        theta = np.repeat(mu[:, None], y.size, axis=1)
    else:
        tau_m = post.marginal("tau")
        nodes = np.linspace(0.0, float(tau_m.ppf(0.99999)) * 1.5, grid)
        log_prior = parse_prior(tau_prior).logpdf(nodes, s)
        if alternative == "two.sided":
            var = s2[None, :] + nodes[:, None] ** 2
            logw = log_prior - 0.5 * np.sum(np.log(var) + (y - value) ** 2 / var, axis=1)
        else:
            mean, sd = conditional_mu(nodes)
            null_prob = stats.norm.sf(value, mean, sd) if alternative == "less" else stats.norm.cdf(value, mean, sd)
            with np.errstate(divide="ignore"):
                logw = np.log(np.asarray(tau_m.pdf(nodes), dtype=float)) + np.log(null_prob)
        w = np.exp(logw - np.max(logw[np.isfinite(logw)]))
        w = np.where(np.isfinite(w), w, 0.0)
        tau = rng.choice(nodes, size=n, p=w / w.sum())
        if alternative == "two.sided":
            mu = np.full(n, float(value))
        else:
            mean, sd = conditional_mu(tau)
            lo, hi = ((value - mean) / sd, np.inf) if alternative == "less" else (-np.inf, (value - mean) / sd)
            mu = stats.truncnorm.rvs(lo, hi, loc=mean, scale=sd, random_state=rng)
        t2 = tau[:, None] ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            shrink = np.where(t2 > 0, s2 / (s2 + t2), 1.0)
        theta = (1 - shrink) * y + shrink * mu[:, None] + np.sqrt(shrink * t2) * rng.standard_normal((n, y.size))
    y_rep = theta + s * rng.standard_normal(theta.shape)
    batch = fit_exact_batch(y_rep, np.broadcast_to(s, y_rep.shape), mu_prior=mu_prior, tau_prior=tau_prior)
    observed_batch = fit_exact_batch(y[None, :], s[None, :], mu_prior=mu_prior, tau_prior=tau_prior)
    t_rep = _statistic(batch, parameter, value, statistic)
    t_obs = float(_statistic(observed_batch, parameter, value, statistic)[0])
    upper, lower = float(np.mean(t_rep >= t_obs)), float(np.mean(t_rep <= t_obs))
    if alternative == "two.sided":
        p = min(1.0, 2.0 * min(upper, lower))
    else:
        low_tail = (alternative == "less") != (statistic == "cdf")
        p = lower if low_tail else upper
    return PPPValue(parameter, float(value), alternative, statistic, t_obs, p,
                    math.sqrt(max(p * (1 - p), 1.0 / n) / n), n, seed)
