"""Step-function selection models: the weighted likelihood with all weights 1 is the unweighted one, and the
marginal likelihood on a small k equals a brute-force integration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from bayesmeta.bias import ModelSpec, WeightFunction, default_priors
from bayesmeta.bias.posteriors import _convolve_normals
from bayesmeta.bias.selection import _log_prod, fit_selection, observed_intervals, weighted_loglik

Y = np.array([0.45, 0.30, 0.05, 0.62])
S = np.array([0.20, 0.12, 0.15, 0.25])


@pytest.mark.parametrize("wf", [WeightFunction("one", (0.025, 0.05, 0.5)), WeightFunction("two", (0.05, 0.1))])
def test_all_weights_one_is_the_unweighted_likelihood(wf):
    x = [np.ones(())] * (wf.intervals - 1)
    got = weighted_loglik(wf, Y, S, 0.2, 0.1, x)
    assert float(got) == pytest.approx(float(stats.norm.logpdf(Y, 0.2, np.sqrt(S**2 + 0.01)).sum()), abs=1e-12)


def test_intervals_follow_the_p_values():
    wf = WeightFunction("one", (0.025, 0.05, 0.5))
    p = stats.norm.sf(Y / S)  # 0.012, 0.006, 0.37, 0.0066
    assert observed_intervals(wf, Y, S).tolist() == np.searchsorted([0.025, 0.05, 0.5], p, side="right").tolist()


def _simpson_2d(vals, x, y):
    return integrate.simpson(integrate.simpson(vals, x=y, axis=1), x=x)


def test_fixed_effect_selection_marginal_likelihood_matches_brute_force():
    wf = WeightFunction("one", (0.05,))
    pri = default_priors("SMD")
    got = fit_selection(ModelSpec(True, False, "selection", wf), pri, Y, S).integral
    mu = np.linspace(-3, 3, 3001)[:, None, None]
    w = np.linspace(0, 1, 801)[None, :, None]
    z = stats.norm.sf((S * 1.6448536269514722 - mu) / S)  # P(p < .05 | mu)
    num = np.where(stats.norm.sf(Y / S) < 0.05, 1.0, w) * stats.norm.pdf(Y, mu, S)
    vals = np.prod(num / (z + w * (1 - z)), axis=-1) * stats.norm.pdf(mu[..., 0])
    ref = _simpson_2d(vals, mu.ravel(), w.ravel())
    # measured: 7.6e-6 apart (weights as x = t^2 on the trimmed box; 5.5e-5 with x itself on the padded box),
    # about the Simpson grid's own error near w = 0
    assert got.log_value == pytest.approx(math.log(ref), abs=max(5e-5, 2 * got.log_error))
    assert got.log_error < 1e-5


def test_random_effects_selection_marginal_likelihood_matches_brute_force():
    wf = WeightFunction("two", (0.05,))
    pri = default_priors("SMD")
    got = fit_selection(ModelSpec(False, True, "selection", wf), pri, Y, S).integral
    t = 1.959963984540054
    sig = np.abs(Y / S) > t
    u = np.linspace(-9, 3, 3001)[:, None, None]
    w = np.linspace(0, 1, 801)[None, :, None]
    tau = np.exp(u)
    sd = np.sqrt(S**2 + tau**2)
    pin = 2 * stats.norm.sf(S * t / sd)
    num = np.where(sig, 1.0, w) * stats.norm.pdf(Y, 0.0, sd)
    vals = np.prod(num / (pin + w * (1 - pin)), axis=-1) * (stats.invgamma.pdf(tau, 1, scale=0.15) * tau)[..., 0]
    ref = _simpson_2d(vals, u.ravel(), w.ravel())
    assert got.log_value == pytest.approx(math.log(ref), abs=1e-6)  # measured 5.5e-8


def test_log_of_grouped_products_equals_the_sum_of_logs_even_near_underflow():
    rng = np.random.default_rng(0)
    for floor in (0.3, 1e-40):
        denom = floor + (1 - floor) * rng.uniform(size=(3, 23, 5))
        denom[0, :, 0] = floor  # every study at the smallest weight: the product would underflow ungrouped
        got = _log_prod(denom, floor)
        assert np.allclose(got, np.log(denom).sum(1), rtol=1e-13, atol=1e-10)


def test_new_study_convolution_of_a_normal_is_the_wider_normal():
    x = np.linspace(-4, 4, 2001)
    sd, tau = np.array([0.2, 0.3]), np.array([0.5, 0.05])
    dens = stats.norm.pdf(x[None, :], 0.3, sd[:, None])
    got = _convolve_normals(dens, tau, x[1] - x[0])
    want = stats.norm.pdf(x, 0.3, np.sqrt(sd**2 + tau**2)[:, None]).sum(0)
    assert np.max(np.abs(got - want)) < 1e-9
