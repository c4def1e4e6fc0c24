"""The common result type: summaries and probability statements against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bayesmeta.exact import fit_exact
from bayesmeta.posterior import SampleMarginal


@pytest.fixture(scope="module")
def near_common_effect():
    """tau prior concentrated at 0 and flat mu: mu | y is the common-effect normal N(sum wy / sum w, 1 / sum w)."""
    y = np.array([-0.6, -0.2, -0.4, -0.9])
    sei = np.array([0.2, 0.3, 0.25, 0.4])
    post = fit_exact(y, sei, mu_prior="flat", tau_prior="halfnormal(1e-6)", measure="HR",
                     study=("a", "b", "c", "d"))
    w = 1 / sei**2
    return post, float(np.sum(w * y) / w.sum()), float(np.sqrt(1 / w.sum()))


def test_prob_below_is_the_normal_cdf_on_the_log_scale(near_common_effect):
    post, m, s = near_common_effect
    for cut in (0.5, 0.7, 1.0):
        assert post.prob_below(cut) == pytest.approx(stats.norm.cdf(np.log(cut), m, s), abs=1e-6)
        assert post.prob_above(cut) == pytest.approx(stats.norm.sf(np.log(cut), m, s), abs=1e-6)
    with pytest.raises(ValueError):
        post.prob_below(0.0)


def test_reported_scale_summary_exponentiates_quantiles(near_common_effect):
    post, m, s = near_common_effect
    nat = post.summary(scale="reported").loc["mu"]
    assert nat["median"] == pytest.approx(np.exp(m), rel=1e-6)
    assert nat["ci_lower"] == pytest.approx(np.exp(m - 1.959964 * s), rel=1e-5)
    assert "mean" not in post.summary(scale="reported").columns
    log = post.summary().loc["mu"]
    assert log["mean"] == pytest.approx(m, abs=1e-6) and log["sd"] == pytest.approx(s, rel=1e-5)


def test_shrinkage_is_none_when_tau_is_zero_and_full_toward_the_mean(near_common_effect):
    post, m, _ = near_common_effect
    table = post.shrinkage()
    # With tau = 0 every theta_i equals mu: shrinkage share 1.
    np.testing.assert_allclose(table["mean"], m, atol=1e-5)
    np.testing.assert_allclose(table["shrinkage"], 1.0, atol=1e-4)


def test_to_dict_and_inference_data(near_common_effect, tmp_path):
    post, m, s = near_common_effect
    d = post.to_dict(thresholds=(0.7,))
    assert d["mu"]["median"] == pytest.approx(m, abs=1e-6)
    assert d["prob_below"]["0.7"] == pytest.approx(stats.norm.cdf(np.log(0.7), m, s), abs=1e-6)
    idata = post.to_inference_data(n_draws=500, seed=1)
    assert set(idata.groups()) >= {"posterior", "log_likelihood", "posterior_predictive", "observed_data"}
    assert idata.posterior["theta"].dims[-1] == "study"
    assert list(idata.posterior["study"].values) == ["a", "b", "c", "d"]
    path = post.to_netcdf(str(tmp_path / "p.nc"), n_draws=200, seed=1)
    import arviz as az

    back = az.from_netcdf(path)
    assert back.posterior["mu"].shape[-1] == 200 or back.posterior["mu"].size == 200


def test_sample_marginal_matches_numpy_and_shortest_interval():
    rng = np.random.default_rng(3)
    draws = rng.exponential(1.0, 20000)
    m = SampleMarginal(draws)
    assert m.median() == pytest.approx(np.median(draws))
    assert m.cdf(1.0) == pytest.approx(np.mean(draws <= 1.0))
    lo, hi = m.interval(0.9, "shortest")
    # The shortest 90% interval of an exponential starts at 0 and ends near -ln(0.1).
    assert lo < 0.01 and hi == pytest.approx(-np.log(0.1), rel=0.03)
    clo, chi = m.interval(0.9)
    assert (chi - clo) > (hi - lo)
    with pytest.raises(ValueError):
        m.interval(1.5)
    with pytest.raises(ValueError):
        SampleMarginal([0.0, np.nan])


def test_covariate_effects_are_ratios_of_hrs_with_their_probability():
    # With tau held at ~0 and flat priors, beta | y is the weighted least squares normal.
    y = np.array([-0.7, -0.6, -0.2, -0.1, -0.65, -0.15])
    sei = np.array([0.2, 0.25, 0.2, 0.3, 0.22, 0.28])
    x = np.array([[0.0], [0.0], [1.0], [1.0], [0.0], [1.0]])
    post = fit_exact(y, sei, mu_prior="flat", tau_prior="halfnormal(1e-6)", X=x, covariate_names=("cis",),
                     measure="HR")
    X = np.column_stack([np.ones(6), x[:, 0]])
    W = np.diag(1 / sei**2)
    cov = np.linalg.inv(X.T @ W @ X)
    b = cov @ X.T @ W @ y
    row = post.covariate_effects().loc["cis"]
    assert row["median"] == pytest.approx(np.exp(b[1]), rel=1e-5)
    assert row["prob_below_1"] == pytest.approx(stats.norm.cdf(0, b[1], np.sqrt(cov[1, 1])), abs=1e-6)
    assert row["ci_lower"] == pytest.approx(np.exp(b[1] - 1.959964 * np.sqrt(cov[1, 1])), rel=1e-5)
