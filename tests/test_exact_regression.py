"""Exact meta-regression (the bayesmeta ``bmr`` model): weighted least squares, GLS closed forms, independent
quadrature, simulation with known coefficients, and metafor's REML estimate for dat.bcg."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from bayesmeta.design import design_matrix
from bayesmeta.errors import InputError, ModelError
from bayesmeta.exact import fit_exact

REF = Path(__file__).parent / "reference"
BCG = pd.read_csv(REF / "bcg.csv")
Y = BCG["yi"].to_numpy()
S = np.sqrt(BCG["vi"].to_numpy())


def test_tau_near_zero_gives_weighted_least_squares():
    x, names = design_matrix(BCG, ["ablat", "year"])
    post = fit_exact(Y, S, X=x, covariate_names=names, tau_prior="halfnormal(1e-7)")
    design = np.column_stack([np.ones(Y.size), x])
    w = 1 / S**2
    info = design.T @ (w[:, None] * design)
    coef = np.linalg.solve(info, design.T @ (w * Y))
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    for j, name in enumerate(["mu", "beta[ablat]", "beta[year]"]):
        assert post.marginal(name).mean() == pytest.approx(coef[j], rel=1e-7)
        assert post.marginal(name).std() == pytest.approx(se[j], rel=1e-6)


def test_fixed_tau_gives_the_gls_posterior_with_normal_priors():
    tau0 = 0.3
    prior_mean, prior_sd = np.array([0.1, -0.01]), np.array([2.0, 0.05])
    post = fit_exact(
        Y,
        S,
        X=BCG["ablat"].to_numpy(),
        covariate_names=["ablat"],
        mu_prior="normal(0.1, 2)",
        beta_prior="normal(-0.01, 0.05)",
        tau_prior=f"uniform({tau0}, {tau0 * (1 + 1e-9)})",
        study=BCG["study"],
    )
    design = np.column_stack([np.ones(Y.size), BCG["ablat"]])
    w = 1 / (S**2 + tau0**2)
    prec = design.T @ (w[:, None] * design) + np.diag(1 / prior_sd**2)
    cov = np.linalg.inv(prec)
    mean = cov @ (design.T @ (w * Y) + prior_mean / prior_sd**2)
    assert post.marginal("beta[ablat]").mean() == pytest.approx(mean[1], rel=1e-7)
    assert post.marginal("beta[ablat]").std() == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-7)
    # study effects: shrinkage towards the regression line
    b = S**2 / (S**2 + tau0**2)
    fitted, spread = design @ mean, np.einsum("ij,jk,ik->i", design, cov, design)
    for i, sid in enumerate(BCG["study"]):
        th = post.marginal(f"theta[{sid}]")
        assert th.mean() == pytest.approx((1 - b[i]) * Y[i] + b[i] * fitted[i], abs=1e-8)
        assert th.std() == pytest.approx(math.sqrt(S[i] ** 2 * (1 - b[i]) + b[i] ** 2 * spread[i]), rel=1e-7)


def test_beta_marginal_against_independent_quadrature():
    """Normal priors on (mu, beta): p(tau | y) from N(y; X b0, S_tau + X B0 X') by scipy.stats, integrated by quad."""
    x = BCG["ablat"].to_numpy()
    design = np.column_stack([np.ones(Y.size), x])
    b0, v0 = np.array([0.0, 0.0]), np.array([4.0, 0.1]) ** 2
    post = fit_exact(
        Y,
        S,
        X=x,
        covariate_names=["ablat"],
        mu_prior="normal(0, 4)",
        beta_prior="normal(0, 0.1)",
        tau_prior="halfnormal(0.5)",
    )

    def log_post(t):
        cov = np.diag(S**2 + t * t) + design @ np.diag(v0) @ design.T
        return stats.multivariate_normal.logpdf(Y, design @ b0, cov) + stats.halfnorm.logpdf(t, scale=0.5)

    def cond(t):
        w = 1 / (S**2 + t * t)
        c = np.linalg.inv(design.T @ (w[:, None] * design) + np.diag(1 / v0))
        return c @ (design.T @ (w * Y)), c

    top = log_post(0.3)
    dens = lambda t: math.exp(log_post(t) - top)
    z = integrate.quad(dens, 0, 5, epsabs=0, epsrel=1e-11, limit=200)[0]
    beta = post.marginal("beta[ablat]")
    for q in (0.05, 0.5, 0.95):
        xq = float(beta.ppf(q))
        f = lambda t, xq=xq: dens(t) * stats.norm.cdf(xq, cond(t)[0][1], math.sqrt(cond(t)[1][1, 1]))
        assert integrate.quad(f, 0, 5, epsabs=0, epsrel=1e-11, limit=200)[0] / z == pytest.approx(q, abs=1e-9)
    assert post.extras["log_marginal_likelihood"] == pytest.approx(top + math.log(z), abs=1e-8)


def test_bcg_slope_near_metafor_reml():
    reml = json.loads((REF / "bcg_metafor.json").read_text())["REML_metareg_ablat"]
    post = fit_exact(Y, S, X=BCG["ablat"].to_numpy(), covariate_names=["ablat"], tau_prior="halfnormal(0.5)")
    beta = post.marginal("beta[ablat]")
    # different estimators (posterior mean vs REML plug-in): agreement within a quarter of a posterior sd
    assert beta.mean() == pytest.approx(reml["slope"], abs=0.25 * beta.std())
    assert post.marginal("mu").mean() == pytest.approx(reml["intercept"], abs=0.25 * post.marginal("mu").std())
    assert beta.std() > reml["se"][1]  # the posterior also carries the uncertainty in tau
    assert post.prob_below(0.0, "beta[ablat]") > 0.99
    assert post.priors == {"mu": "flat", "tau": "halfnormal(0.5)", "beta": "flat"}


def test_simulation_recovers_known_coefficients():
    rng = np.random.default_rng(2024)
    k, mu, beta, tau = 300, -0.3, 0.5, 0.15
    x = rng.uniform(-1, 1, k)
    s = rng.uniform(0.05, 0.3, k)
    y = mu + beta * x + rng.normal(0, tau, k) + rng.normal(0, s)
    post = fit_exact(y, s, X=x, covariate_names=["dose"], tau_prior="halfnormal(1)")
    for name, truth in [("mu", mu), ("beta[dose]", beta), ("tau", tau)]:
        m = post.marginal(name)
        assert abs(m.mean() - truth) < 3 * m.std(), name
    assert post.marginal("beta[dose]").std() < 0.05


def test_regression_sampler():
    x = BCG["ablat"].to_numpy()
    post = fit_exact(
        Y,
        S,
        X=x,
        covariate_names=["ablat"],
        mu_prior="normal(0, 4)",
        tau_prior="halfnormal(0.5)",
        study=BCG["study"],
    )
    draws = post.get_draws(8000, seed=2)
    assert draws["beta"].shape == (1, 8000, 1) and draws["theta"].shape == (1, 8000, 13)
    assert stats.kstest(draws["beta"].ravel(), post.marginal("beta[ablat]").cdf).pvalue > 1e-3
    sid = BCG["study"][3]
    assert stats.kstest(draws["theta"][0, :, 3], post.marginal(f"theta[{sid}]").cdf).pvalue > 1e-3
    np.testing.assert_array_equal(post.design, x[:, None])


def test_regression_errors():
    x = BCG["ablat"].to_numpy()
    with pytest.raises(InputError, match="covariate name"):
        fit_exact(Y, S, X=x, covariate_names=["a", "b"])
    with pytest.raises(InputError, match="one row per study"):
        fit_exact(Y, S, X=x[:5])
    with pytest.raises(ModelError, match="not identified"):
        fit_exact(Y, S, X=np.column_stack([x, 2 * x]), covariate_names=["a", "b"])
    # flat mu and flat slope need k >= 4 studies with the improper uniform tau prior
    with pytest.raises(ModelError, match="k >= 4"):
        fit_exact(Y[:3], S[:3], X=x[:3], tau_prior="uniform(0, inf)")
    beta = fit_exact(Y[:4], S[:4], X=x[:4], tau_prior="uniform(0, inf)").marginal("beta[x1]")
    # proper, but p(tau | y) ~ tau^-2 leaves the flat-prior slope without a mean
    assert np.isfinite(beta.median()) and np.isnan(beta.mean())
    # with a normal prior the slope is identified by the prior even from collinear covariates
    post = fit_exact(
        Y,
        S,
        X=np.column_stack([x, 2 * x]),
        covariate_names=["a", "b"],
        mu_prior="normal(0, 4)",
        beta_prior=["normal(0, 1)", "normal(0, 1)"],
    )
    assert post.marginal("beta[a]").mean() == pytest.approx(0.5 * post.marginal("beta[b]").mean(), rel=1e-6)


# -- linear combinations of the coefficients (Posterior.contrast) ----------------------------------------------
def test_contrast_at_tau_near_zero_is_the_weighted_least_squares_combination():
    """tau ~ 0 with flat priors: b | y ~ N((X'WX)^-1 X'Wy, (X'WX)^-1), so c'b is normal with mean c'b_hat and
    variance c'(X'WX)^-1 c; checked for the pooled effect at a latitude and for a difference of slopes."""
    x, names = design_matrix(BCG, ["ablat", "year"])
    post = fit_exact(Y, S, X=x, covariate_names=names, tau_prior="halfnormal(1e-7)")
    design = np.column_stack([np.ones(Y.size), x])
    w = 1 / S**2
    info = design.T @ (w[:, None] * design)
    coef = np.linalg.solve(info, design.T @ (w * Y))
    cov = np.linalg.inv(info)
    for weights in ({"mu": 1.0, "beta[ablat]": 40.0}, {"beta[ablat]": 1.0, "beta[year]": -1.0}):
        c = np.array([weights.get(n, 0.0) for n in ("mu", "beta[ablat]", "beta[year]")])
        m, sd = float(c @ coef), float(np.sqrt(c @ cov @ c))
        combo = post.contrast(weights)
        assert combo.mean() == pytest.approx(m, abs=1e-7 * sd)
        assert combo.std() == pytest.approx(sd, rel=1e-6)
        lo, hi = combo.interval(0.95)
        assert lo == pytest.approx(m - stats.norm.ppf(0.975) * sd, abs=1e-5 * sd)
        assert hi == pytest.approx(m + stats.norm.ppf(0.975) * sd, abs=1e-5 * sd)
        np.testing.assert_allclose(post.contrast(c).median(), combo.median(), rtol=1e-12)


def test_contrast_of_one_coefficient_is_its_marginal_and_matches_joint_draws():
    x, names = design_matrix(BCG, ["ablat"])
    post = fit_exact(Y, S, X=x, covariate_names=names, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)")
    for q in (0.025, 0.5, 0.975):
        assert float(post.contrast({"mu": 1.0}).ppf(q)) == pytest.approx(float(post.marginal("mu").ppf(q)),
                                                                        abs=1e-10)
        assert float(post.contrast({"beta[ablat]": 1.0}).ppf(q)) == pytest.approx(
            float(post.marginal("beta[ablat]").ppf(q)), abs=1e-10)
    # the pooled effect at latitude 30: its exact mixture against the engine's exact joint draws
    combo = post.contrast({"mu": 1.0, "beta[ablat]": 30.0})
    n = 20_000
    draws = post.get_draws(n, seed=11)
    values = np.ravel(draws["mu"]) + 30.0 * np.ravel(draws["beta"][..., 0])
    assert combo.mean() == pytest.approx(values.mean(), abs=4 * values.std() / math.sqrt(n))
    assert float(combo.cdf(np.median(values))) == pytest.approx(0.5, abs=4 * 0.5 / math.sqrt(n))


def test_contrast_from_draws_and_bad_weights():
    from dataclasses import replace

    x, names = design_matrix(BCG, ["ablat"])
    post = fit_exact(Y, S, X=x, covariate_names=names, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)")
    drawn = replace(post, draws=post.get_draws(500, seed=2))  # a posterior with stored draws, as NUTS gives
    values = np.sort(np.ravel(drawn.draws["mu"] - 2.0 * drawn.draws["beta"][..., 0]))
    np.testing.assert_array_equal(drawn.contrast({"mu": 1.0, "beta[ablat]": -2.0}).draws, values)
    with pytest.raises(KeyError, match="available: mu, beta\\[ablat\\]"):
        post.contrast({"beta[year]": 1.0})
    with pytest.raises(ValueError, match="not all zero"):
        post.contrast({"mu": 0.0})
    with pytest.raises(ValueError, match="3 weights for 2 coefficients"):
        post.contrast([1.0, 0.0, 1.0])
