"""Binomial-normal NUTS model on arm counts: a simulation with known log odds ratios, agreement with the
normal approximation where it is accurate (large arms), seeds, the empirical display effects, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from bayesmeta.effects import log_or_from_counts
from bayesmeta.errors import InputError, ModelError
from bayesmeta.exact import fit_exact
from bayesmeta.mcmc import CACHE, fit_binomial_nuts
from bayesmeta.mcmc.binomial import centred_baselines
from bayesmeta.posterior import Posterior

pytestmark = pytest.mark.slow

MU, TAU, K, SEED = -0.5, 0.2, 30, 1


def arms(events_treatment, total_treatment, events_control, total_control) -> dict:
    """A table of arm counts as the binomial-normal fit takes it."""
    return {"events_treatment": events_treatment, "total_treatment": total_treatment,
            "events_control": events_control, "total_control": total_control}


@pytest.fixture(scope="module")
def counts() -> dict[str, np.ndarray]:
    """30 trials of 400-1200 patients per arm; true log ORs theta_i ~ N(-0.5, 0.2^2), baselines ~ N(-1, 0.5^2)."""
    rng = np.random.default_rng(2024)
    theta = rng.normal(MU, TAU, K)
    alpha = rng.normal(-1.0, 0.5, K)
    n = rng.integers(400, 1200, size=(2, K))
    expit = lambda x: 1.0 / (1.0 + np.exp(-x))
    a = rng.binomial(n[0], expit(alpha + theta / 2))
    c = rng.binomial(n[1], expit(alpha - theta / 2))
    return {"a": a, "n1": n[0], "c": c, "n2": n[1], "theta": theta}


@pytest.fixture(scope="module")
def fit(counts) -> Posterior:
    return fit_binomial_nuts(arms(counts["a"], counts["n1"], counts["c"], counts["n2"]), seed=SEED)


def test_posterior_covers_the_simulated_truth(fit, counts):
    assert fit.warnings == [] and fit.measure == "OR" and fit.engine == "nuts"
    lo, hi = fit.marginal("mu").interval(0.95)
    assert lo < MU < hi and hi - lo < 0.25
    lo, hi = fit.marginal("tau").interval(0.95)
    assert lo < TAU < hi
    covered = [fit.marginal(f"theta[study{i + 1}]").interval(0.95) for i in range(K)]
    assert sum(lo < t < hi for t, (lo, hi) in zip(counts["theta"], covered)) >= 27


def test_large_arms_agree_with_the_normal_approximation(fit, counts):
    """With 400-1200 patients per arm the two-stage normal model on escalc log ORs is accurate, so both models
    give the same mu and tau to a small fraction of a posterior sd."""
    y, var, _ = log_or_from_counts(counts["a"], counts["n1"], counts["c"], counts["n2"])
    exact = fit_exact(
        y, np.sqrt(var), mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)"
    )
    for param in ("mu", "tau"):
        sd = exact.marginal(param).std()
        assert (
            abs(fit.marginal(param).mean() - exact.marginal(param).mean()) < 0.15 * sd
        )
        assert abs(fit.marginal(param).std() - sd) < 0.15 * sd
    np.testing.assert_allclose(fit.yi, y)
    np.testing.assert_allclose(fit.sei, np.sqrt(var))


def test_same_seed_same_draws_without_recompiling(fit, counts):
    compiles = CACHE.compiles
    again = fit_binomial_nuts(arms(counts["a"], counts["n1"], counts["c"], counts["n2"]), seed=SEED)
    assert CACHE.compiles == compiles and again.diagnostics["settings"]["cache_hit"]
    for name in ("mu", "tau", "theta", "predictive"):
        np.testing.assert_array_equal(again.draws[name], fit.draws[name])


def test_study_without_events_stays_in_the_likelihood(fit, counts):
    a, c = counts["a"].copy(), counts["c"].copy()
    a[0] = c[0] = 0
    post = fit_binomial_nuts(arms(a, counts["n1"], c, counts["n2"]), seed=SEED)
    assert post.k == K and post.diagnostics["settings"]["cache_hit"]
    assert (
        np.isnan(post.yi[0])
        and np.isnan(post.sei[0])
        and np.all(np.isfinite(post.yi[1:]))
    )
    assert post.warnings[0].startswith("Study 'study1' has no events in either arm")
    idata = post.extras["idata"]
    assert idata.log_likelihood["events"].shape == (4, 1000, K)
    assert np.all(np.isfinite(idata.log_likelihood["events"].values))


def test_centring_follows_the_information_in_each_study():
    n = np.array([10, 1000, 1000, 30])
    a = np.array([0, 300, 150, 0])
    c = np.array([1, 200, 400, 0])
    np.testing.assert_array_equal(centred_baselines(a, n, c, n), [0.0, 1.0, 1.0, 0.0])


def test_refusals_and_bad_counts():
    with pytest.raises(ModelError, match="odds ratio only"):
        fit_binomial_nuts(arms([3, 4], [10, 10], [5, 6], [10, 10]), measure="RR")
    with pytest.raises(ModelError, match="valid: 'OR'"):
        fit_binomial_nuts(arms([3, 4], [10, 10], [5, 6], [10, 10]), measure="HR")
    with pytest.raises(ModelError, match="jeffreys"):
        fit_binomial_nuts(arms([3, 4], [10, 10], [5, 6], [10, 10]), tau_prior="jeffreys")
    with pytest.raises(InputError) as err:
        fit_binomial_nuts(arms([3, 12], [10, 10], [5, 6], [10, 10]), study=["x", "y"])
    assert err.value.column == "events_treatment" and err.value.row == 3
    with pytest.raises(InputError) as err:
        fit_binomial_nuts(arms([3, 4], [10, 10], [5, 2.5], [10, 10]))
    assert err.value.column == "events_control"
    with pytest.raises(InputError) as err:
        fit_binomial_nuts(arms([0, 0], [10, 0], [5, 2], [10, 10]))
    assert err.value.column == "total_treatment"


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")
def test_binomial_posterior_carries_its_likelihood_to_loo_and_power_scaling(fit, counts):
    """LOO and likelihood power-scaling of the binomial-normal fit use the binomial log-likelihood of the arm
    counts (one pointwise term per study); the analyses built on the normal likelihood refuse it."""
    import arviz as az

    from bayesmeta.influence import influence
    from bayesmeta.ppc import loo_pit
    from bayesmeta.sensitivity import power_scaling

    assert fit.likelihood == "binomial" and fit.to_dict()["likelihood"] == "binomial"
    idata = fit.to_inference_data()
    assert set(idata.log_likelihood.data_vars) == {"events"}
    np.testing.assert_array_equal(idata.observed_data["events_treatment"].values, counts["a"])
    loo = az.loo(idata, pointwise=True)
    assert loo.n_data_points == K and np.isfinite(loo.elpd_loo)
    # the pointwise log-likelihood is of counts (probabilities): every term below log 1
    assert np.all(idata.log_likelihood["events"].values < 0)
    table = power_scaling(fit)
    assert table.attrs["likelihood"] == "binomial" and np.all(np.isfinite(table["likelihood"]))
    for analysis in (loo_pit, influence):
        with pytest.raises(ModelError, match="binomial"):
            analysis(fit)
