"""Model-averaged and conditional estimates of tau, omega and the PET/PEESE coefficients
(bayesmeta/bias/estimates.py): each model's part against a dense midpoint grid over the natural parameters (its
posterior written here from the model's definition with scipy), the one-sided p-value intervals, and the CLI's
output. The ensembles' estimates against the numbers RoBMA prints are in tests/test_bias_robma.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtr

from bayesmeta.bias import ModelSpec, WeightFunction, default_priors
from bayesmeta.bias.estimates import (Mixture, coefficient_component, interval_index, omega_component,
                                      one_sided_cutoffs, tau_component)
from bayesmeta.bias.gaussian import fit_gaussian
from bayesmeta.bias.models import ROBMA_WEIGHT_FUNCTIONS
from bayesmeta.bias.selection import fit_selection

REF = Path(__file__).parent / "reference"

YI = np.array([0.42, 0.31, 0.55, 0.12, 0.38, 0.61, 0.25, 0.47])
SEI = np.array([0.15, 0.12, 0.22, 0.10, 0.18, 0.25, 0.11, 0.20])


def weighted_loglik(y, s, mu, tau, om, cut):
    """One-sided step selection with one cut-off z_c on y / se: omega = 1 above, om below (Vevea & Hedges 1995),
    written from the definition with scipy, broadcast over leading axes of mu, tau, om."""
    sd = np.sqrt(s**2 + tau[..., None] ** 2)
    dens = -0.5 * ((y - mu[..., None]) / sd) ** 2 - np.log(sd)
    p_sig = ndtr((mu[..., None] - cut * s) / sd)
    w = np.where(y / s > cut, 1.0, om[..., None])
    return (dens + np.log(w) - np.log(p_sig + om[..., None] * (1 - p_sig))).sum(-1)


def dense_cdf(x: np.ndarray, w: np.ndarray, h: float):
    """The CDF of a 1-D midpoint grid (cell masses w at even centres x, step h), linear within each cell, and its
    mean."""
    edges = np.concatenate([[x[0] - h / 2], x + h / 2])
    cum = np.concatenate([[0.0], np.cumsum(w)]) / w.sum()
    return (lambda c: np.interp(c, edges, cum)), float(np.sum(x * w) / w.sum())


def check_dense(comp, ref, tol: float) -> None:
    """Our mean against the grid's, and the grid's CDF at our 2.5%, 50% and 97.5% quantiles."""
    cdf, mean = ref
    est = Mixture([(1.0, comp)]).estimate("x", 0.95)
    assert comp.mean == pytest.approx(mean, abs=tol)
    for value, p in ((est.ci_lower, 0.025), (est.median, 0.5), (est.ci_upper, 0.975)):
        assert float(cdf(value)) == pytest.approx(p, abs=tol), p


def test_tau_and_omega_of_a_selection_model_match_a_dense_grid():
    """H1 RE, one-sided cut-off 0.05 (omega ~ U(0, 1)), RoBMA's priors: the posterior of tau and of omega from the
    rule's axes (Legendre-interpolated CDFs) against a 120 x 120 x 160 midpoint grid in (mu, log tau, omega).
    Tolerance 2e-3 on means and CDF levels: the dense grid's own error (the midpoint rule in omega resolves its
    CDF to ~1e-3 near omega = 0, where the density piles up) dominates."""
    pri = default_priors("SMD")
    wf = WeightFunction("one", (0.05,))
    fit = fit_selection(ModelSpec(True, True, "selection", wf), pri, YI, SEI)
    cut = stats.norm.isf(0.05)
    mu = np.linspace(-1.0, 1.5, 120)
    u = np.linspace(-9.0, 1.0, 120)
    om = (np.arange(160) + 0.5) / 160
    lp = (weighted_loglik(YI, SEI, mu[:, None, None], np.exp(u)[None, :, None], om[None, None, :], cut)
          + pri.mu.logpdf(mu)[:, None, None] + (pri.tau.logpdf(np.exp(u)) + u)[None, :, None])
    w = np.exp(lp - lp.max())
    tau_w, om_w = w.sum((0, 2)), w.sum((0, 1))
    log_cdf, _ = dense_cdf(u, tau_w, u[1] - u[0])
    tau_ref = (lambda c: log_cdf(np.log(c))), float(np.sum(np.exp(u) * tau_w) / tau_w.sum())
    check_dense(tau_component(fit), tau_ref, 2e-3)
    check_dense(omega_component(fit, 1), dense_cdf(om, om_w, 1 / 160), 2e-3)


def test_omega_products_of_a_two_cutoff_model_match_a_dense_grid():
    """H0 FE, one-sided cut-offs (0.025, 0.05) with the cumulative Dirichlet(1, 1, 1) prior (uniform on
    1 >= omega_2 >= omega_3 >= 0): omega_2 = t_1^2 and omega_3 = t_1^2 t_2^2 against an 800 x 800 midpoint grid in
    (omega_2, r = omega_3 / omega_2) (Jacobian omega_2), omega_3's CDF linear within each row's r-cells."""
    pri = default_priors("SMD")
    wf = WeightFunction("one", (0.025, 0.05))
    fit = fit_selection(ModelSpec(False, False, "selection", wf), pri, YI, SEI)
    n = 800
    g = (np.arange(n) + 0.5) / n
    o2, r = np.meshgrid(g, g, indexing="ij")
    o3 = o2 * r
    c1, c2 = stats.norm.isf([0.025, 0.05])
    z = YI / SEI
    p1, p2 = stats.norm.sf(c1), stats.norm.sf(c2)  # mu = 0, tau = 0: P(y / se > c)
    lw = np.where(z > c1, 0.0, np.where(z > c2, np.log(o2[..., None]), np.log(o3[..., None])))
    denom = p1 + o2[..., None] * (p2 - p1) + o3[..., None] * (1 - p2)
    lp = (lw - np.log(denom)).sum(-1) + np.log(o2)
    w = np.exp(lp - lp.max())
    check_dense(omega_component(fit, 1), dense_cdf(g, w.sum(1), 1 / n), 2e-3)
    edges = np.linspace(0.0, 1.0, n + 1)
    rows = np.concatenate([np.zeros((n, 1)), np.cumsum(w, 1)], 1) / w.sum()

    def cdf3(c: float) -> float:
        return float(sum(np.interp(c / o, edges, row) for o, row in zip(g, rows)))

    check_dense(omega_component(fit, 2), (cdf3, float(np.sum(o3 * w) / w.sum())), 2e-3)


@pytest.mark.parametrize("truncated", ["b", "mu"])
def test_pet_coefficient_matches_a_dense_grid(truncated):
    """H1 RE PET, b's posterior against a 120 x 300 x 100 midpoint grid in (mu, b, log tau): RoBMA's priors
    (b ~ Cauchy(0, 1) on [0, inf), mu ~ N(0, 1): a truncated-normal mixture over the nodes), and with the
    truncation on mu instead (mu ~ N(0, 1) on [0, inf), b ~ N(0, 2): b's CDF by quadrature over mu's conditional
    quantiles)."""
    from bayesmeta.bias import TPrior

    pri = default_priors("SMD")
    if truncated == "mu":
        pri = replace(pri, mu=TPrior(0.0, 1.0, lower=0.0), pet=TPrior(0.0, 2.0))
        mu, b = (np.arange(120) + 0.5) * 2.0 / 120, -8.0 + (np.arange(300) + 0.5) * 20.0 / 300
        log_prior_mu, log_prior_b = stats.norm.logpdf(mu), stats.norm.logpdf(b, 0.0, 2.0)
    else:
        mu, b = np.linspace(-4.0, 2.0, 120), (np.arange(300) + 0.5) * 15.0 / 300
        log_prior_mu, log_prior_b = stats.norm.logpdf(mu), stats.cauchy.logpdf(b)
    fit = fit_gaussian(ModelSpec(True, True, "PET"), pri, YI, SEI)
    u = np.linspace(-9.0, 1.0, 100)
    tau = np.exp(u)
    sd = np.sqrt(SEI**2 + tau[:, None] ** 2)  # (tau, k)
    lp = np.empty((mu.size, b.size, u.size))
    for i, m in enumerate(mu):
        resid = (YI - m - b[:, None, None] * SEI) / sd[None]  # (b, tau, k)
        lp[i] = -0.5 * (resid * resid).sum(-1) - np.log(sd).sum(-1)[None, :]
    lp += log_prior_mu[:, None, None] + log_prior_b[None, :, None] + (pri.tau.logpdf(tau) + u)[None, None, :]
    w = np.exp(lp - lp.max()).sum((0, 2))
    check_dense(coefficient_component(fit), dense_cdf(b, w, b[1] - b[0]), 2e-3)


def test_mixture_quantiles_with_atoms_are_closed_form():
    """A uniform(0, 1) part with an atom at 0 (weight 0.3) or at 1 (weight 0.5): quantiles inf {x: F(x) >= q}
    by hand, the atom's whole level range giving its value exactly."""
    from bayesmeta.bias.estimates import Component

    uniform = Component(lambda x: np.clip(x, 0.0, 1.0), 0.5, 0.0, 1.0)
    low = Mixture([(0.7, uniform)], {0.0: 0.3})
    assert low.mean() == pytest.approx(0.35, abs=1e-15)
    np.testing.assert_allclose(low.quantiles(np.array([0.1, 0.3, 0.65, 0.965])), [0.0, 0.0, 0.5, 0.95],
                               atol=1e-9)
    high = Mixture([(0.5, uniform)], {1.0: 0.5})
    np.testing.assert_allclose(high.quantiles(np.array([0.025, 0.25, 0.5, 0.975])), [0.05, 0.5, 1.0, 1.0],
                               atol=1e-9)
    assert high.moment2() == pytest.approx(0.5 / 3 + 0.5, abs=1e-6)


def test_one_sided_intervals_are_robmas():
    """RoBMA's six weight functions give its seven one-sided p-value cut-offs; a two-sided model's weight 1 covers
    both tails, so omega[0.975,1] of a two-sided (0.05) model is 1 and omega[0.025,0.05] its omega_2."""
    assert one_sided_cutoffs(ROBMA_WEIGHT_FUNCTIONS) == [0.025, 0.05, 0.5, 0.95, 0.975]
    two = WeightFunction("two", (0.05, 0.10))
    assert [interval_index(two, a, b) for a, b in ((0, 0.025), (0.025, 0.05), (0.05, 0.5), (0.5, 0.95),
                                                   (0.95, 0.975), (0.975, 1))] == [0, 1, 2, 2, 1, 0]
    assert interval_index(WeightFunction("one", (0.025, 0.05, 0.5)), 0.5, 0.95) == 3


@pytest.mark.parametrize("key", ["test", "estimation"])
def test_power_pose_tau_reproduces_robma(key):
    """RoBMA's ReproducingBMA vignette, power pose on Cohen's d with tau ~ InvGamma(1, 0.15): model-averaged tau
    0.022, 0 [0, 0.178] (half-Cauchy mu, FE/RE x H0/H1) and 0.019, 0 [0, 0.152] (Cauchy mu, H1 FE and RE only;
    ours 0.0219, 0 [0, 0.172] and 0.0190, 0 [0, 0.152]). Tolerance (RoBMA's Monte Carlo error, as in
    tests/test_bias_robma.py): the mean within 2 sd / sqrt(1000) plus rounding, our CDF at a printed quantile
    within 2 sqrt(p (1 - p) / 1000) of p (the atom at tau = 0 counting from F(0-) to F(0))."""
    from bayesmeta.bias import TPrior, fit_bias
    from bayesmeta.bias.estimates import ensemble_mixtures
    from bayesmeta.priors import InverseGammaPrior

    ref = json.loads((REF / "bias_published.json").read_text())["robma_reproducingbma_power_pose"][key]
    rows = np.loadtxt(REF / "power_pose.csv", delimiter=",", skiprows=1, usecols=(1, 2))
    base = default_priors("SMD")
    mu = TPrior(0.0, 0.7071067811865476, 1.0, 0.0) if key == "test" else TPrior(0.0, 0.7071067811865476, 1.0)
    priors = replace(base, mu=mu, tau=InverseGammaPrior(1.0, 0.15))
    ensemble = "metabma" if key == "test" else [ModelSpec(True, False), ModelSpec(True, True)]
    fit = fit_bias(rows[:, 0], rows[:, 1], measure="SMD", ensemble=ensemble, priors=priors)
    mix = ensemble_mixtures([(m.spec, m.post_prob, m.fit) for m in fit.models])[0]["tau"]
    want = ref["tau"]
    sd = (mix.moment2() - mix.mean() ** 2) ** 0.5
    assert abs(mix.mean() - want["mean"]) <= 2 * sd / 1000**0.5 + 0.0005
    assert mix.cdf(np.array([-1e-300]))[0] < 0.5 <= mix.cdf(np.array([0.0]))[0]  # median 0: the atom
    for value, p in ((want["ci_upper"], 0.975),):
        lo, hi = mix.cdf(np.array([value - 0.0005, value + 0.0005]))
        tol = 2 * (p * (1 - p) / 1000) ** 0.5
        assert lo - tol <= p <= hi + tol


def test_estimates_in_the_json_and_the_table(capsys):
    """`bayesmeta bias --json` carries both tables; the printed table names every parameter."""
    from bayesmeta.cli import main

    path = str(REF / "power_pose.csv")
    # effects in units of one SD (Cohen's d) read as an MD: --uisd 2 makes the priors RoBMA's for d, unscaled
    assert main(["bias", path, "--measure", "MD", "--uisd", "2", "--ensemble", "metabma", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["estimates"]) == {"tau"} and set(out["estimates"]["tau"]) == {"mean", "median", "ci_lower",
                                                                                  "ci_upper"}
    assert out["estimates_conditional"]["tau"]["mean"] == pytest.approx(out["tau_conditional"]["mean"], rel=1e-9)
    assert out["estimates"]["tau"]["ci_lower"] == 0.0  # the fixed-effect models' atom
    assert main(["bias", path, "--measure", "MD", "--uisd", "2", "--ensemble", "metabma"]) == 0
    text = capsys.readouterr().out
    assert "Model-averaged and conditional estimates" in text and "tau" in text
