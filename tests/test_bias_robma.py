"""RoBMA's conventions (bayesmeta/bias/robma.py) and the reproduction of a published RoBMA-PSMA analysis.

Which side is which: RoBMA's printed numbers are Monte Carlo estimates (JAGS chains per model, marginal likelihoods
by bridge sampling, model-averaged estimates from the mixed chains; printed to 3 decimals, without their Monte Carlo
error); ours are deterministic quadrature (each log marginal likelihood to a stated error, here below 4e-3). The
tolerances are therefore RoBMA's, stated per quantity below."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bayesmeta.bias import WeightFunction, fit_bias
from bayesmeta.bias.robma import d_to_z, n_from_d, t_thresholds, z_priors, z_to_d
from bayesmeta.bias.selection import effect_thresholds, observed_intervals

REF = Path(__file__).parent / "reference"


def bem2011() -> tuple[np.ndarray, np.ndarray]:
    with open(REF / "bem2011.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return np.array([float(r["yi"]) for r in rows]), np.array([float(r["sei"]) for r in rows])


def test_d_to_z_is_robmas_combine_data():
    """n from se(d) = sqrt(4/n + d^2/(2n)) (Borenstein et al. 2009, eq. 4.20) inverts to the sample size; z is
    atanh of r = d / sqrt(d^2 + 4); se(z) = 1/sqrt(n - 3); z -> d back is r -> 2r/sqrt(1 - r^2)."""
    d, n = np.array([0.25, -0.4, 1.2]), np.array([40.0, 120.0, 75.0])
    se = np.sqrt(4 / n + d**2 / (2 * n))
    z, se_z, n_back = d_to_z(d, se)
    assert n_back == pytest.approx(n, rel=1e-12)
    assert z == pytest.approx(np.arctanh(d / np.sqrt(d**2 + 4)), rel=1e-12)
    assert se_z == pytest.approx(1 / np.sqrt(n - 3), rel=1e-12)
    r = np.tanh(z)
    assert z_to_d(z) == pytest.approx(2 * r / np.sqrt(1 - r**2), rel=1e-12)


def test_t_thresholds_put_each_study_in_its_t_test_p_value_interval():
    """A study's interval under the t cut-offs is that of its one-sided t-test p-value, t = d sqrt(n) / 2 with
    n - 2 df (scipy's t distribution as the reference), and the cut-offs tend to the normal ones as n grows."""
    wf = WeightFunction("one", (0.025, 0.05, 0.5))
    d = np.array([0.62, 0.51, 0.30, -0.10, 0.45])
    n = np.array([30.0, 42.0, 25.0, 60.0, 36.0])
    se = np.sqrt(4 / n + d**2 / (2 * n))
    z, se_z, n_imp = d_to_z(d, se)
    p = stats.t.sf(d * np.sqrt(n) / 2, n - 2)
    crit = t_thresholds(n_imp)(wf)
    assert observed_intervals(wf, z, se_z, crit).tolist() == np.searchsorted(wf.cutoffs, p, "right").tolist()
    big = np.array([1e7])
    z_big, se_big, n_big = d_to_z(np.array([0.1]), np.sqrt(4 / big + 0.01 / (2 * big)))
    assert t_thresholds(n_big)(wf) == pytest.approx(effect_thresholds(wf, se_big), rel=1e-5)


def test_two_sided_t_thresholds_are_symmetric_in_the_p_value():
    wf = WeightFunction("two", (0.05, 0.10))
    d = np.array([-0.9, 0.9, 0.2])
    n = np.array([20.0, 20.0, 50.0])
    se = np.sqrt(4 / n + d**2 / (2 * n))
    z, se_z, n_imp = d_to_z(d, se)
    p = 2 * stats.t.sf(np.abs(d) * np.sqrt(n) / 2, n - 2)
    crit = t_thresholds(n_imp)(wf)
    assert observed_intervals(wf, z, se_z, crit).tolist() == np.searchsorted(wf.cutoffs, p, "right").tolist()


def test_n_from_d_at_zero_effect():
    assert n_from_d(np.array([0.0]), np.array([0.2])) == pytest.approx([100.0])


@pytest.fixture(scope="module")
def bem_fit():
    d, se = bem2011()
    z, se_z, n = d_to_z(d, se)
    return fit_bias(z, se_z, ensemble="psma", priors=z_priors(), thresholds=t_thresholds(n))


def test_reproduces_robma_psma_inclusion_bayes_factors_for_bem2011(bem_fit):
    """RoBMA 2.0 README, RoBMA-PSMA on Bem (2011), printed to 3 decimals. Tolerance: a bridge-sampling error of
    0.05 in the log marginal likelihoods of one side of a component moves its log posterior odds by 0.05, so
    |log BF_ours - log BF_RoBMA| <= 0.05 plus the printed rounding (0.0005 / BF); the posterior probabilities
    by p(1 - p) x 0.05 plus 0.0005. Ours (exact): BF 0.480, 0.143, 16.34 against RoBMA's 0.479, 0.143, 16.323."""
    ref = json.loads((REF / "bias_published.json").read_text())["bartos2021_bem2011_psma"]["components"]
    for comp, want in ref.items():
        got = bem_fit.inclusion[comp]
        assert got.prior_prob == pytest.approx(want["prior_prob"], abs=1e-12)
        assert abs(math.log(got.bf) - math.log(want["bf"])) <= 0.05 + 0.0005 / want["bf"], comp
        p = want["post_prob"]
        assert abs(got.post_prob - p) <= p * (1 - p) * 0.05 + 0.0005, comp
    assert max(m.log_ml_error for m in bem_fit.models) < 0.01


def test_reproduces_robma_psma_model_averaged_effect_for_bem2011(bem_fit):
    """The model-averaged mu on Cohen's d (RoBMA transforms each draw z -> d). Mean: |difference| <= 0.003
    (rounding 0.0005 plus Monte Carlo error: posterior sd 0.07 over some thousands of mixed draws). The printed
    95% bounds are quantiles of draws: their Monte Carlo error is judged on the probability scale, our CDF at
    RoBMA's bounds within 0.005 of 0.025 and 0.975 (a binomial error of 0.005 is about 1000 effective draws)."""
    ref = json.loads((REF / "bias_published.json").read_text())["bartos2021_bem2011_psma"]["mu_cohens_d"]
    mu = bem_fit.mu
    mean_d = float(np.trapezoid(z_to_d(mu.x) * mu.density, mu.x))
    assert abs(mean_d - ref["mean"]) <= 0.003
    assert abs(float(mu.cdf(np.arcsinh(ref["ci_lower"] / 2))) - 0.025) <= 0.005
    assert abs(float(mu.cdf(np.arcsinh(ref["ci_upper"] / 2))) - 0.975) <= 0.005
    assert mu.atom > 0.5  # so the printed median 0.000 is the atom at mu = 0
