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
from bayesmeta.bias.estimates import Mixture, ensemble_mixtures
from bayesmeta.bias.informed import informed_priors
from bayesmeta.bias.robma import Z_PER_D, d_to_z, n_from_d, robma_d, t_thresholds, z_priors, z_to_d
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


def check_components(fit, ref: dict) -> None:
    """Inclusion Bayes factors and posterior probabilities against RoBMA's printed ones. Tolerance: a
    bridge-sampling (or product-space) error of 0.05 in the log marginal likelihoods of one side of a component
    moves its log posterior odds by 0.05, so |log BF_ours - log BF_RoBMA| <= 0.05 plus the printed rounding
    (0.0005 / BF), and the posterior probability by p (1 - p) 0.05 plus 0.0005."""
    for comp, want in ref.items():
        got = fit.inclusion[comp]
        if "prior_prob" in want:
            assert got.prior_prob == pytest.approx(want["prior_prob"], abs=1e-12)
        assert abs(math.log(got.bf) - math.log(want["bf"])) <= 0.05 + 0.0005 / want["bf"], (comp, got.bf)
        p = want["post_prob"]
        assert abs(got.post_prob - p) <= p * (1 - p) * 0.05 + 0.0005, (comp, got.post_prob)


def check_estimates(mu, ref: dict, to_d) -> None:
    """A posterior of mu (``to_d`` maps its grid to Cohen's d as RoBMA reports it) against RoBMA's printed mean,
    median and 95% bounds, which come from some thousands of autocorrelated draws. Tolerance: two Monte Carlo
    standard errors at 1000 effective draws -- 2 sd / sqrt(1000) for the mean, and for a quantile q_p our CDF
    at RoBMA's q_p within 2 sqrt(p (1 - p) / 1000) of p -- plus the printed rounding (0.0005)."""
    x = to_d(mu.x)
    dens = mu.density
    mean = float(np.trapezoid(x * dens, mu.x))
    sd = math.sqrt(float(np.trapezoid((x - mean) ** 2 * dens, mu.x)) + mu.atom * mean**2)
    assert abs(mean - ref["mean"]) <= 2 * sd / math.sqrt(1000) + 0.0005, (mean, ref["mean"])
    cum = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) * np.diff(mu.x) / 2)])
    for key, p in (("median", 0.5), ("ci_lower", 0.025), ("ci_upper", 0.975)):
        if key not in ref:
            continue
        at = float(np.interp(ref[key], x, mu.x))  # RoBMA's value on our grid's scale (to_d is increasing)
        cont = float(np.interp(at, mu.x, cum))
        # the atom at mu = 0 (models without an effect) makes the CDF jump there: F(0-) to F(0)
        below, upto = cont + (mu.atom if at > 0 else 0.0), cont + (mu.atom if at >= 0 else 0.0)
        tol = 2 * math.sqrt(p * (1 - p) / 1000)
        assert below - tol <= p <= upto + tol, (key, below, upto, p)


def check_tau(fit, ref: dict, per_d: float) -> None:
    """Model-averaged (``tau``) and conditional (``tau_conditional``, models with heterogeneity only) posterior
    means of tau, on RoBMA's scale (``per_d`` times ours), within 2 sd / sqrt(1000) plus rounding."""
    for key, conditional in (("tau", False), ("tau_conditional", True)):
        if key in ref:
            mean, sd = fit.tau_moments(conditional)
            assert abs(per_d * mean - ref[key]["mean"]) <= 2 * per_d * sd / math.sqrt(1000) + 0.0005, key


def check_mixture(mix: Mixture, ref: dict, per_d: float, name: str) -> None:
    """A model-averaged or conditional posterior of tau, omega, PET or PEESE (``per_d`` times ours on RoBMA's
    scale) against RoBMA's printed mean, median and 95% bounds, with check_estimates' tolerances: the mean within
    2 sd / sqrt(1000) plus rounding, our CDF at RoBMA's quantile (+-0.0005 of printed rounding; an atom counts
    from F(a-) to F(a)) within 2 sqrt(p (1 - p) / 1000) of p."""
    mean = per_d * mix.mean()
    sd = per_d * math.sqrt(max(mix.moment2() - mix.mean() ** 2, 0.0))
    assert abs(mean - ref["mean"]) <= 2 * sd / math.sqrt(1000) + 0.0005, (name, mean, ref["mean"])
    for key, p in (("median", 0.5), ("ci_lower", 0.025), ("ci_upper", 0.975)):
        if key not in ref:
            continue
        at = [(ref[key] - 0.0005) / per_d, ref[key] / per_d, (ref[key] + 0.0005) / per_d]
        lo, _, hi = (float(v) for v in mix.cdf(np.array(at)))
        if at[1] in mix.atoms:
            lo = min(lo, float(mix.cdf(np.array([np.nextafter(at[1], -np.inf)]))[0]))
        tol = 2 * math.sqrt(p * (1 - p) / 1000)
        assert lo - tol <= p <= hi + tol, (name, key, lo, hi, p)


ESTIMATE_PER_D = {"tau": 1 / Z_PER_D, "PEESE": Z_PER_D}
"""RoBMA's reporting scale (Cohen's d) per unit of ours (Fisher's z) for the estimates (robma.fit_bias_robma)."""


@pytest.fixture(scope="module")
def bem_fit():
    d, se = bem2011()
    z, se_z, n = d_to_z(d, se)
    return fit_bias(z, se_z, ensemble="psma", priors=z_priors(), thresholds=t_thresholds(n))


def test_reproduces_robma_psma_on_bem2011(bem_fit):
    """RoBMA 2.0 README, RoBMA-PSMA on Bem (2011), printed to 3 decimals; ours (exact): inclusion BFs 0.480,
    0.143, 16.34 against RoBMA's 0.479, 0.143, 16.323; model-averaged mu on d (RoBMA's linear 2 z) mean 0.0378
    against 0.037."""
    ref = json.loads((REF / "bias_published.json").read_text())["bartos2021_bem2011_psma"]
    check_components(bem_fit, ref["components"])
    check_estimates(bem_fit.mu, ref["mu_cohens_d"], robma_d)
    check_tau(bem_fit, {"tau": ref["tau_cohens_d"]}, 1 / Z_PER_D)
    assert bem_fit.mu.atom > 0.5  # so the printed median 0.000 is the atom at mu = 0
    assert max(m.log_ml_error for m in bem_fit.models) < 0.01


def test_reproduces_robmas_averaged_tau_omega_pet_peese_on_bem2011(bem_fit):
    """The same summary's model-averaged tau, omega per one-sided p-value interval, PET and PEESE on d (ours:
    tau 0.010 [0, 0.115]; omega[0.025,0.05] 0.934 [0.338, 1], omega[0.05,0.5] 0.782 [0.009, 1], omega[0.975,1]
    0.802 [0.007, 1]; PET 0.753 [0, 2.784]; PEESE 6.194 [0, 25.48] against RoBMA's 0.010 [0, 0.113]; 0.935
    [0.338, 1], 0.780 [0.009, 1], 0.801 [0.007, 1]; 0.759 [0, 2.805]; 6.183 [0, 25.463])."""
    ref = json.loads((REF / "bias_published.json").read_text())["bartos2021_bem2011_psma"]
    averaged, _ = ensemble_mixtures([(m.spec, m.post_prob, m.fit) for m in bem_fit.models])
    want = {"tau": ref["tau_cohens_d"], **ref["estimates"]}
    assert set(averaged) == set(want)
    for name, r in want.items():
        check_mixture(averaged[name], r, ESTIMATE_PER_D.get(name, 1.0), name)


def poulsen2006() -> tuple[np.ndarray, np.ndarray]:
    with open(REF / "poulsen2006.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return np.array([float(r["yi"]) for r in rows]), np.array([float(r["sei"]) for r in rows])


@pytest.mark.parametrize("ensemble, key", [("metabma", "robma_cohens_d"), ("metabma", "robma_fishers_z"),
                                           ("psma", "robma_psma_fishers_z")])
def test_reproduces_robma_informed_fits_of_poulsen2006(ensemble, key):
    """RoBMA's MedicineBMA vignette: the Oral Health informed priors (Bartos et al. 2021) on Poulsen et al. (2006),
    without bias models on Cohen's d (effect BF 217.517, heterogeneity 3.511; ours 218.53, 3.524) and on Fisher's
    z (priors x 1/2; 347.932, 2.608; ours 348.2, 2.606), and as RoBMA-PSMA on z (6.022, 2.502, 2.304; ours 5.97,
    2.501, 2.312); tau's means (0.231/0.297, 0.186/0.256, 0.202/0.285; ours 0.233/0.299, 0.188/0.260,
    0.203/0.284) and its medians and 95% bounds; RoBMA-PSMA's omega, PET and PEESE, averaged and conditional
    (conditional omega[0.05,0.5] 0.411 [0.014, 0.951], PET 2.909 [0.171, 5.614], PEESE 7.048 [0.375, 18.162];
    ours 0.412 [0.015, 0.951], 2.947 [0.156, 5.659], 7.043 [0.403, 17.93])."""
    ref = json.loads((REF / "bias_published.json").read_text())["bartos2021_poulsen2006_informed"][key]
    d, se = poulsen2006()
    priors = informed_priors("Oral Health", "SMD")
    if key == "robma_cohens_d":
        fit, to_d, per_d = fit_bias(d, se, measure="SMD", ensemble=ensemble, priors=priors), np.asarray, 1.0
    else:
        z, se_z, n = d_to_z(d, se)
        fit = fit_bias(z, se_z, ensemble=ensemble, priors=z_priors(priors), thresholds=t_thresholds(n))
        to_d, per_d = robma_d, 1 / Z_PER_D
    check_components(fit, ref["components"])
    check_estimates(fit.mu, ref["mu"], to_d)
    check_estimates(fit.mu_conditional, ref["mu_conditional"], to_d)
    check_tau(fit, ref, per_d)
    # tau's full summaries, and RoBMA-PSMA's omega, PET and PEESE, model-averaged and conditional
    averaged, conditional = ensemble_mixtures([(m.spec, m.post_prob, m.fit) for m in fit.models])
    for mixes, want in ((averaged, {"tau": ref["tau"], **ref.get("estimates", {})}),
                        (conditional, {"tau": ref["tau_conditional"], **ref.get("estimates_conditional", {})})):
        assert set(mixes) == set(want)
        for name, r in want.items():
            check_mixture(mixes[name], r, ESTIMATE_PER_D.get(name, 1.0) if per_d != 1.0 else 1.0, name)


def test_fisher_z_option_reproduces_robma_from_the_command_line(bem_fit, capsys):
    """`bayesmeta bias --fisher-z` is fit_bias_robma: the z fit above, its effects and tau carried to d by 2."""
    from bayesmeta.cli import main

    path = str(REF / "bem2011.csv")
    assert main(["bias", path, "--measure", "SMD", "--fisher-z", "--ensemble", "psma", "--benefit", "above",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = json.loads((REF / "bias_published.json").read_text())["bartos2021_bem2011_psma"]["components"]
    for comp, want in ref.items():
        assert abs(math.log(out["inclusion"][comp]["bf"]) - math.log(want["bf"])) <= 0.05 + 0.0005 / want["bf"]
    assert out["mu"]["analysis"]["mean"] == pytest.approx(robma_d(bem_fit.mu.mean()), rel=1e-9)
    assert out["mu"]["analysis"]["ci_upper"] == pytest.approx(robma_d(bem_fit.mu.interval(0.95)[1]), rel=1e-9)
    assert main(["bias", path, "--measure", "SMD", "--fisher-z", "--tau-prior", "halfnormal(0.5)"]) == 2
    assert "--fisher-z" in capsys.readouterr().err
    assert main(["bias", str(REF / "power_pose.csv"), "--measure", "MD", "--fisher-z"]) == 2
    assert "needs --measure SMD" in capsys.readouterr().err
