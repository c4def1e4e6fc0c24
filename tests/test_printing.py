"""The printed summaries of a posterior and of a frequentist fit: metafor's layout, numbers matching the fit (and,
for dat.bcg, R metafor's own), short and free of arrays."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from bayesmeta.exact import fit_exact
from bayesmeta.frequentist import rma
from bayesmeta.posterior import Posterior, SampleMarginal

REF = Path(__file__).parent / "reference"
RNG = np.random.default_rng(20250101)
SEI = RNG.uniform(0.1, 0.5, 17)
Y = RNG.normal(-0.4, 0.25, 17) + RNG.normal(0.0, SEI)


def _bcg(column: str) -> np.ndarray:
    with open(REF / "bcg.csv", newline="") as f:
        return np.array([float(r[column]) for r in csv.DictReader(f)])


def _tokens(text: str, first: str) -> list[str]:
    """The words of the line starting with the word ``first``."""
    return next(line.split() for line in text.splitlines() if line.split()[:1] == [first])


def test_posterior_prints_model_heterogeneity_and_pooled_ratio():
    post = fit_exact(Y, SEI, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)", measure="HR")
    text = repr(post)
    assert str(post) == text
    assert "array(" not in text and len(text.splitlines()) <= 20
    assert text.startswith("Bayesian random-effects model (exact engine; k = 17; measure HR)")
    assert "mu ~ normal(0, 4), tau ~ halfnormal(0.5)" in text
    tau_lo, tau_med, tau_hi = post.marginal("tau").ppf(np.array([0.025, 0.5, 0.975]))
    assert f"tau    {tau_med:.4f} [{tau_lo:.4f}, {tau_hi:.4f}]" in text
    assert f"tau^2  {tau_med**2:.4f} [{tau_lo**2:.4f}, {tau_hi**2:.4f}]" in text
    # I^2 at the median of tau, with Higgins & Thompson's typical variance written out here
    w = SEI**-2
    s2 = 16 * w.sum() / (w.sum() ** 2 - (w**2).sum())
    assert f"I^2    {100 * tau_med**2 / (tau_med**2 + s2):.1f}%" in text
    mu = post.marginal("mu")
    lo, hi = mu.interval(0.95)
    assert _tokens(text, "mu") == ["mu", f"{mu.median():.4f}", f"[{lo:.4f},", f"{hi:.4f}]", f"{mu.mean():.4f}",
                                   f"({mu.std():.4f})"]
    assert f"HR: {math.exp(mu.median()):.3f} [{math.exp(lo):.3f}, {math.exp(hi):.3f}]" in text
    assert f"P(HR < 1) = {float(mu.cdf(0.0)):.4f}" in text
    new_lo, new_hi = post.predictive_interval()
    assert f"HR in a new study: {math.exp(post.marginal('theta_new').median()):.3f} " in text
    assert f"[{math.exp(new_lo):.3f}, {math.exp(new_hi):.3f}]" in text


def test_posterior_of_draws_prints_the_same_layout():
    rng = np.random.default_rng(3)
    mu, tau = rng.normal(0.2, 0.1, 4000), np.abs(rng.normal(0.0, 0.3, 4000))
    marginals = {
        "mu": SampleMarginal(mu),
        "tau": SampleMarginal(tau),
        "theta_new": SampleMarginal(mu + tau * rng.standard_normal(4000)),
    }
    post = Posterior(
        engine="nuts",
        measure="MD",
        study_ids=("a", "b", "c"),
        y=np.array([0.1, 0.3, 0.2]),
        sei=np.array([0.2, 0.2, 0.2]),
        marginals=marginals,
        priors={"mu": "flat", "tau": "halfnormal(1)"},
        warnings=["R-hat reaches 1.02"],
    )
    text = repr(post)
    assert text.startswith("Bayesian random-effects model (nuts engine; k = 3; measure MD)")
    assert f"P(mu < 0) = {np.mean(mu < 0):.4f}" in text
    lo, hi = np.quantile(mu, [0.025, 0.975])
    assert _tokens(text, "mu")[:4] == ["mu", f"{np.median(mu):.4f}", f"[{lo:.4f},", f"{hi:.4f}]"]
    # equal standard errors: the typical variance is their square, 0.04
    assert "(typical within-study variance 0.0400)" in text
    assert text.endswith("warning: R-hat reaches 1.02")


def test_meta_regression_prints_its_coefficients():
    x = (np.arange(17) % 2).astype(float)
    post = fit_exact(Y, SEI, mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)", X=x, covariate_names=["grp"])
    text = repr(post)
    beta = post.marginal("beta[grp]")
    lo, hi = beta.interval(0.95)
    assert text.startswith("Bayesian meta-regression")
    assert _tokens(text, "beta[grp]")[:4] == ["beta[grp]", f"{beta.median():.4f}", f"[{lo:.4f},", f"{hi:.4f}]"]


def test_rma_prints_metafors_numbers_for_bcg():
    """dat.bcg, REML: every number of metafor's print.rma, formatted from bcg_metafor.json (metafor 3.8-1)."""
    ref = json.loads((REF / "bcg_metafor.json").read_text())["REML"]
    res = rma(_bcg("yi"), _bcg("vi"), method="REML")
    text = res.summary_text("RR")
    assert repr(res) == res.summary_text()
    assert "array(" not in text and len(text.splitlines()) <= 20
    assert text.startswith("Random-effects model (k = 13; tau^2 estimator: REML)")
    assert f"tau^2 (estimated amount of total heterogeneity): {ref['tau2']:.4f} (SE = " in text
    assert f"tau (square root of estimated tau^2 value):      {math.sqrt(ref['tau2']):.4f}" in text
    assert f"I^2 (total heterogeneity / total variability):   {ref['i2']:.2f}%" in text
    assert f"H^2 (total variability / sampling variability):  {ref['h2']:.2f}" in text
    assert f"Q(df = 12) = {ref['q']:.4f}, p-val < .0001" in text
    zval = ref["estimate"] / ref["se"]
    row = f"{ref['estimate']:.4f}  {ref['se']:.4f}  {zval:.4f}  <.0001  {ref['ci_lower']:.4f}  {ref['ci_upper']:.4f}"
    assert row in text
    ratio = math.exp(ref["estimate"]), math.exp(ref["ci_lower"]), math.exp(ref["ci_upper"])
    assert f"RR: {ratio[0]:.3f} [{ratio[1]:.3f}, {ratio[2]:.3f}]" in text
    assert "RR:" not in res.summary_text()


@pytest.mark.parametrize("method", ["FE", "REML"])
def test_rma_with_a_moderator_prints_the_tests(method):
    res = rma(_bcg("yi"), _bcg("vi"), method=method, mods=_bcg("ablat"), mod_names=["ablat"], test="knha")
    text = str(res)
    slope = res.coefficients[1]
    assert _tokens(text, "ablat") == [
        "ablat", f"{slope.estimate:.4f}", f"{slope.se:.4f}", f"{slope.stat:.4f}", "11",
        "<.0001" if slope.pval < 1e-4 else f"{slope.pval:.4f}", f"{slope.ci_lower:.4f}", f"{slope.ci_upper:.4f}",
    ]
    assert f"F(df1 = 1, df2 = 11) = {res.qm:.4f}" in text
    assert f"QE(df = 11) = {res.q:.4f}" in text
    assert ("tau^2 (estimated amount of residual heterogeneity)" in text) == (method != "FE")
    assert "prediction interval" not in text
