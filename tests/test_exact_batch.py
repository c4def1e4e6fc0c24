"""The vectorised batch API equals the single-fit API member by member."""

from __future__ import annotations

import numpy as np
import pytest

from bayesmeta.errors import InputError, ModelError
from bayesmeta.exact import fit_exact, fit_exact_batch, fit_exact_priors

Y = np.array([-0.45, -0.2, -0.9, 0.1, -0.35, -0.6, -0.05])
SEI = np.array([0.21, 0.35, 0.4, 0.28, 0.15, 0.5, 0.3])
PARAMS = ("mu", "predictive", "tau")


def _assert_member_equals(batch, i, post):
    for param in PARAMS:
        m = post.marginal(param)
        assert batch.mean(param)[i] == pytest.approx(m.mean(), rel=1e-9, abs=1e-11)
        assert batch.std(param)[i] == pytest.approx(m.std(), rel=1e-9)
        q = np.array([0.05, 0.5, 0.95])
        got = [batch.ppf(v, param)[i] for v in q]
        np.testing.assert_allclose(got, m.ppf(q), rtol=1e-9, atol=1e-11)
        x = float(m.ppf(0.3))
        assert batch.cdf(x, param)[i] == pytest.approx(float(m.cdf(x)), abs=1e-11)
        np.testing.assert_allclose(batch.interval(0.9, param)[i], m.interval(0.9), rtol=1e-9, atol=1e-11)


def test_masked_datasets_equal_single_fits():
    n = 4
    y = np.tile(Y, (n, 1))
    sei = np.tile(SEI, (n, 1))
    mask = np.ones((n, Y.size), dtype=bool)
    mask[1, :3] = False  # a cumulative-style subset
    mask[2, 4] = False  # leave one out
    mask[3, 1:] = False  # a single study
    y[~mask] = np.nan  # absent entries need not be numbers
    sei[~mask] = np.nan
    batch = fit_exact_batch(y, sei, mu_prior="normal(0, 2)", tau_prior="halfcauchy(0.3)", mask=mask)
    assert batch.n == n
    for i in range(n):
        keep = mask[i]
        post = fit_exact(Y[keep], SEI[keep], mu_prior="normal(0, 2)", tau_prior="halfcauchy(0.3)")
        _assert_member_equals(batch, i, post)
        full = batch.posterior(i)
        assert full.k == keep.sum()
        assert full.study == tuple(str(j + 1) for j in np.flatnonzero(keep))
        for j, sid in enumerate(full.study):
            assert full.marginal(f"theta[{sid}]").mean() == pytest.approx(
                post.marginal(f"theta[{j + 1}]").mean(), rel=1e-10
            )
        assert batch.log_marginal_likelihood()[i] == pytest.approx(post.extras["log_marginal_likelihood"], rel=1e-12)


def test_prior_grid_equals_single_fits():
    priors = [
        ("normal(0, 1)", "halfnormal(0.5)"),
        ("flat", "halfcauchy(1)"),
        ("normal(-0.3, 0.2)", "lognormal_tau2(-2.56, 1.74)"),
        ("flat", "jeffreys"),
        ("flat", "uniform(0, inf)"),
        ("normal(0, 4)", "uniform(0, 1)"),
        ("normal(0, 4)", "power(halfcauchy(0.5), 0.9)"),
    ]
    batch = fit_exact_priors(Y, SEI, priors=priors)
    assert batch.n == len(priors)
    lml = batch.log_marginal_likelihood()
    for i, (mu, tau) in enumerate(priors):
        post = fit_exact(Y, SEI, mu_prior=mu, tau_prior=tau)
        _assert_member_equals(batch, i, post)
        assert batch.posterior(i).priors == {"mu": mu, "tau": tau}
        assert np.isnan(lml[i]) == ("log_marginal_likelihood" not in post.extras)


def test_per_member_thresholds_and_shortest_intervals():
    batch = fit_exact_priors(Y, SEI, priors=[("normal(0, 1)", "halfnormal(0.5)"), ("flat", "halfnormal(1)")])
    x = np.array([-0.2, -0.5])
    got = batch.cdf(x, "mu")
    for i in range(2):
        assert got[i] == pytest.approx(float(batch.posterior(i).marginal("mu").cdf(x[i])), abs=1e-14)
    assert batch.sf(0.0, "mu") == pytest.approx(1 - batch.cdf(0.0, "mu"), abs=1e-14)
    shortest = batch.interval(0.95, "tau", kind="shortest")
    assert shortest.shape == (2, 2) and np.all(shortest[:, 0] == 0.0)


def test_batch_errors():
    with pytest.raises(InputError, match="no studies"):
        fit_exact_batch(np.tile(Y, (2, 1)), np.tile(SEI, (2, 1)), mask=np.array([[True] * 7, [False] * 7]))
    bad = np.tile(SEI, (2, 1))
    bad[1, 2] = -0.1
    with pytest.raises(InputError, match="sei"):
        fit_exact_batch(np.tile(Y, (2, 1)), bad)
    with pytest.raises(ModelError, match="improper posterior"):
        mask = np.ones((2, 7), dtype=bool)
        mask[1, 2:] = False
        fit_exact_batch(np.tile(Y, (2, 1)), np.tile(SEI, (2, 1)), tau_prior="uniform(0, inf)", mask=mask)
    with pytest.raises(ModelError, match="no prior pairs"):
        fit_exact_priors(Y, SEI, priors=[])
    with pytest.raises(ValueError, match="unknown parameter"):
        fit_exact_batch(Y, SEI).cdf(0.0, "sigma")
