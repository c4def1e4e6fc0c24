"""Random inputs: finite, monotone CDFs whose quantile functions invert them; degenerate data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesmeta.errors import InputError, ModelError
from bayesmeta.exact import fit_exact

TAIL = {
    "halfnormal": np.inf,
    "halfcauchy": 2.0,
    "lognormal_tau2": np.inf,
    "uniform": np.inf,
    "exponential": np.inf,
    "halft": 4.0,
}
PRIOR_PAIRS = [
    ("normal(0, 4)", "halfnormal(0.5)"),
    ("flat", "halfcauchy(1)"),
    ("normal(0, 1)", "lognormal_tau2(-2.56, 1.74)"),
    ("flat", "uniform(0, 2)"),
    ("normal(0, 10)", "exponential(1)"),
    ("flat", "halft(3, 0.5)"),
]


@st.composite
def datasets(draw):
    k = draw(st.integers(1, 6))
    log_se = draw(st.lists(st.floats(-4 * np.log(10), 3 * np.log(10)), min_size=k, max_size=k))
    y = draw(st.lists(st.floats(-5, 5), min_size=k, max_size=k))
    mu, tau = draw(st.sampled_from(PRIOR_PAIRS))
    return np.array(y), np.exp(log_se), mu, tau


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_random_inputs_give_proper_monotone_invertible_marginals(data):
    y, s, mu_prior, tau_prior = data
    post = fit_exact(y, s, mu_prior=mu_prior, tau_prior=tau_prior)
    # p(tau | y) decays like tau^-r, r = prior tail exponent + k - (1 if mu is flat): E(tau^m) < inf iff r > m + 1
    r = TAIL[tau_prior.split("(")[0]] + y.size - (mu_prior == "flat")
    for name in ("mu", "tau", "predictive", "theta[1]"):
        m = post.marginal(name)
        mean, sd = m.mean(), m.std()
        heavy = name in ("tau", "predictive") or (name == "mu" and mu_prior == "flat")
        assert np.isfinite(mean) == (not heavy or r > 2)
        assert np.isfinite(sd) == (not heavy or r > 3)
        sd = m.interval(0.5)[1] - m.interval(0.5)[0]
        assert sd > 0
        q = np.array([0.001, 0.025, 0.25, 0.5, 0.75, 0.975, 0.999])
        x = m.ppf(q)
        assert np.all(np.isfinite(x)) and np.all(np.diff(x) > 0)
        grid = np.linspace(x[0], x[-1], 60)
        cdf = m.cdf(grid)
        assert np.all(np.isfinite(cdf)) and np.all((cdf >= 0) & (cdf <= 1))
        assert np.all(np.diff(cdf) >= -1e-13)
        np.testing.assert_allclose(m.cdf(x), q, atol=1e-9)
        inner = grid[(cdf > 1e-3) & (cdf < 1 - 1e-3)]
        np.testing.assert_allclose(m.ppf(m.cdf(inner)), inner, atol=1e-7 * sd)
        assert np.all(m.pdf(grid) >= 0)
    lo, hi = post.marginal("tau").interval(0.95, "shortest")
    assert 0 <= lo < hi


def test_moments_that_do_not_exist_are_not_reported():
    """k = 1 with a flat mu and a half-Cauchy tau prior: p(tau | y) is the half-Cauchy prior, whose mean is
    infinite; theta_new and mu (given tau, N(y, s^2 + tau^2)) then have no mean either. Quantiles exist."""
    post = fit_exact([0.3], [0.2], mu_prior="flat", tau_prior="halfcauchy(0.5)")
    assert post.marginal("tau").mean() == np.inf and post.marginal("tau").std() == np.inf
    for name in ("mu", "predictive"):
        assert np.isnan(post.marginal(name).mean()) and post.marginal(name).std() == np.inf
    assert post.marginal("tau").median() == pytest.approx(0.5, rel=1e-10)
    assert post.marginal("mu").median() == pytest.approx(0.3, abs=1e-12)
    assert np.isfinite(post.marginal("theta[1]").mean())
    # with a normal prior on mu, its moments exist whatever the tail of tau
    post = fit_exact([0.3], [0.2], mu_prior="normal(0, 1)", tau_prior="halfcauchy(0.5)")
    assert np.isfinite(post.marginal("mu").std()) and post.marginal("predictive").std() == np.inf
    # one more study: p(tau | y) ~ tau^-3, the mean exists but not the variance
    post = fit_exact([0.3, 0.1], [0.2, 0.3], mu_prior="flat", tau_prior="halfcauchy(0.5)")
    assert np.isfinite(post.marginal("tau").mean()) and post.marginal("tau").std() == np.inf


def test_identical_studies_and_extreme_spread():
    post = fit_exact([0.2] * 5, [0.1] * 5, mu_prior="flat", tau_prior="halfnormal(0.5)")
    assert post.marginal("mu").median() == pytest.approx(0.2, abs=1e-12)
    assert post.marginal("tau").median() < 0.1
    post = fit_exact([-50.0, 50.0, 0.0], [0.01, 0.01, 0.01], mu_prior="flat", tau_prior="halfcauchy(1)")
    assert 10 < post.marginal("tau").median() < 1000


@pytest.mark.parametrize(
    "y,s,match",
    [
        ([0.1, np.nan], [0.1, 0.2], "yi"),
        ([0.1, 0.2], [0.1, 0.0], "sei"),
        ([0.1, 0.2], [0.1, np.inf], "sei"),
        ([0.1, 0.2], [0.1], "one length"),
        ([], [], "non-empty"),
    ],
)
def test_bad_data_is_located(y, s, match):
    with pytest.raises(InputError, match=match):
        fit_exact(y, s)


def test_bad_data_names_the_row():
    err = pytest.raises(InputError, fit_exact, [0.1, 0.2, 0.3], [0.1, -1.0, 0.2])
    assert err.value.row == 3 and err.value.column == "sei"


def test_bad_priors_and_ids():
    with pytest.raises(ModelError, match="does not suit parameter 'tau'"):
        fit_exact([0.1, 0.2], [0.1, 0.1], tau_prior="normal(0, 1)")
    with pytest.raises(ModelError, match="valid forms"):
        fit_exact([0.1, 0.2], [0.1, 0.1], mu_prior="cauchy(0, 1)")
    with pytest.raises(InputError, match="appears more than once"):
        fit_exact([0.1, 0.2], [0.1, 0.1], study=["a", "a"])


@pytest.mark.parametrize(
    "mu_prior, tau_prior, k",
    [("flat", "uniform(0, inf)", 3), ("normal(0, 4)", "halfnormal(0.5)", 17), ("flat", "jeffreys", 5)],
)
def test_shortest_intervals_solve_their_equations(mu_prior, tau_prior, k):
    """The shortest interval [a, b] has coverage F(b) - F(a) = level and equal densities at both ends (or starts at
    tau's lower bound, where the density is the higher), also for the heavy-tailed posteriors of k = 3 with flat
    priors, whose mixtures' standard deviations are orders of magnitude wider than the intervals."""
    rng = np.random.default_rng(7)
    sei = rng.uniform(0.1, 0.5, k)
    post = fit_exact(rng.normal(-0.4, 0.3, k), sei, mu_prior=mu_prior, tau_prior=tau_prior)
    for name in ("mu", "predictive", "tau"):
        m = post.marginal(name)
        for level in (0.5, 0.95):
            a, b = m.interval(level, "shortest")
            assert float(m.cdf(b) - m.cdf(a)) == pytest.approx(level, abs=1e-10)
            if name == "tau" and a == 0.0:
                assert float(m.pdf(0.0)) >= float(m.pdf(b))
            else:
                assert float(m.pdf(a)) == pytest.approx(float(m.pdf(b)), rel=1e-7)
            assert b - a < np.subtract(*m.interval(level, "central")[::-1]) + 1e-12
