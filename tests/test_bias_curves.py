"""The curves the report's bias funnel overlays (bayesmeta.bias.curves) and the bias figures: posterior means of
the PET and PEESE coefficients against a dense quadrature of the full posterior (scipy's densities, no code of the
package), a selection model's expected estimate against numerical integration of the weighted normal, and the
figures' line data against the numbers of the analysis, on the display scale their axes state.

Data: dat.bcg (metafor), log RR of the 13 BCG trials, fitted with signs flipped (benefit below 1), as the report
does."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import logsumexp

from bayesmeta.benefit import Benefit
from bayesmeta.bias import ModelSpec, WeightFunction, default_priors, fit_bias
from bayesmeta.bias.curves import class_curves, coefficient_means, selected_mean, selection_curve
from bayesmeta.bias.gaussian import fit_gaussian
from bayesmeta.effect_data import EffectData
from bayesmeta.plan import BiasPlan
from bayesmeta.reanalysis.bias import bias_analysis

BCG = np.array([[-0.8893, 0.5706], [-1.5854, 0.4411], [-1.3481, 0.4158], [-1.4416, 0.1413], [-0.2175, 0.2267],
                [-0.7861, 0.0841], [-1.6209, 0.2238], [0.0120, 0.0630], [-0.4694, 0.2367], [-1.3713, 0.2703],
                [-0.3394, 0.1119], [0.4459, 0.7276], [-0.0173, 0.2668]])
Y, SE = -BCG[:, 0], BCG[:, 1]
F = math.pi / math.sqrt(3.0)  # RoBMA's d -> log OR factor: mu ~ N(0, F), tau ~ InvGamma(1, 0.15 F), PEESE b scale 5/F


def trapz_weights(x: np.ndarray) -> np.ndarray:
    w = np.full(x.size, x[1] - x[0])
    w[[0, -1]] /= 2
    return w


@pytest.mark.parametrize("kind, effect, het", [("PET", True, True), ("PEESE", True, False), ("PET", False, True)])
def test_pet_peese_coefficient_means_equal_a_dense_quadrature(kind, effect, het):
    """E[mu] and E[b] of y_i ~ N(mu + b se_i^p, se_i^2 + tau^2), b ~ half-Cauchy (scale 1 for PET, 5/F for
    PEESE), on a tensor grid of (mu, b, tau) with scipy's densities."""
    priors = default_priors("RR")
    fit = fit_gaussian(ModelSpec(effect, het, kind), priors, Y, SE)
    got = coefficient_means(fit)
    power, b_scale = (1, 1.0) if kind == "PET" else (2, 5.0 / F)
    mu = np.linspace(-1.5, 2.5, 121) if effect else np.zeros(1)
    b = np.linspace(0.0, 8.0, 321)
    tau = np.linspace(1e-6, 2.0, 101) if het else np.zeros(1)
    M, B, T = np.meshgrid(mu, b, tau, indexing="ij")
    # sum_i log N(y_i; mu + b x_i, v_i) expanded in mu and b, with the sums over studies per tau
    x = SE**power
    v = SE**2 + tau[:, None] ** 2
    w = 1 / v
    sums = {name: (w * term).sum(1) for name, term in
            (("1", 1.0), ("x", x), ("xx", x * x), ("y", Y), ("xy", x * Y), ("yy", Y * Y))}
    loglik = -0.5 * (np.log(2 * np.pi * v).sum(1) + sums["yy"] - 2 * M * sums["y"] - 2 * B * sums["xy"]
                     + M**2 * sums["1"] + 2 * M * B * sums["x"] + B**2 * sums["xx"])
    logp = loglik + np.log(2) + stats.cauchy.logpdf(B, 0, b_scale)
    if effect:
        logp += stats.norm.logpdf(M, 0, F) + np.log(trapz_weights(mu))[:, None, None]
    if het:
        logp += stats.invgamma.logpdf(T, 1.0, scale=0.15 * F) + np.log(trapz_weights(tau))[None, None, :]
    logp += np.log(trapz_weights(b))[None, :, None]
    w = np.exp(logp - logsumexp(logp))
    assert got["b"] == pytest.approx(float((w * B).sum()), abs=5e-4)
    assert got["mu"] == pytest.approx(float((w * M).sum()), abs=5e-4)
    if not effect:
        assert got["mu"] == 0.0


@pytest.mark.parametrize("wf", [WeightFunction("one", (0.025, 0.05, 0.5)), WeightFunction("two", (0.05, 0.10))])
@pytest.mark.parametrize("se, mu, tau", [(0.3, 0.2, 0.1), (0.1, -0.1, 0.0), (0.0, 0.3, 0.2), (0.5, 1.2, 0.4)])
def test_the_selected_mean_equals_numerical_integration_of_the_weighted_normal(wf, se, mu, tau):
    """E[y] of y ~ N(mu, se^2 + tau^2) weighted by omega_j of the interval holding y's p-value (quad)."""
    weights = [1.0, 0.6, 0.35, 0.2][: wf.intervals]
    s = math.sqrt(se**2 + tau**2)

    def weight(y: float) -> float:
        if se == 0:
            p = (0.0 if y > 0 else 1.0) if wf.sided == "one" else 0.0
        else:
            p = stats.norm.sf(y / se) if wf.sided == "one" else 2 * stats.norm.sf(abs(y / se))
        return weights[int(np.searchsorted(wf.cutoffs, p, side="right"))]

    z = stats.norm.isf(np.asarray(wf.cutoffs) / (2 if wf.sided == "two" else 1))
    breaks = sorted({mu, 0.0, *(se * z), *(-se * z)})
    lo, hi = mu - 12 * s, mu + 12 * s
    points = [b for b in breaks if lo < b < hi]
    num = integrate.quad(lambda y: y * weight(y) * stats.norm.pdf(y, mu, s), lo, hi, points=points, limit=200)[0]
    den = integrate.quad(lambda y: weight(y) * stats.norm.pdf(y, mu, s), lo, hi, points=points, limit=200)[0]
    got = selected_mean(wf, np.array(se), np.array(mu), np.array(tau), [np.array(w) for w in weights])
    assert float(got) == pytest.approx(num / den, abs=1e-8)


def test_a_selection_models_curve_equals_a_dense_quadrature_of_its_posterior():
    """H1 FE with one-sided selection at p = 0.05 (omega_2 ~ U(0, 1) under Dirichlet(1, 1)): the posterior mean of
    E[y | se] on an (mu, omega_2) grid, the inner expectation by a y grid."""
    wf = WeightFunction("one", (0.05,))
    fit = fit_bias(Y, SE, measure="RR", ensemble=[ModelSpec(True, False, "selection", wf)])
    se = np.array([0.0, 0.1, 0.3, 0.6])
    got = selection_curve(fit.models[0].fit, wf, se)
    mu = np.linspace(-1.0, 2.0, 601)
    om = np.linspace(0.0, 1.0, 401)
    z = stats.norm.isf(0.05)
    M = mu[:, None, None]
    sig = stats.norm.cdf((M - SE * z) / SE)[..., 0, :]  # P(p < 0.05 | mu) per study
    observed = Y / SE > z
    loglik = (stats.norm.logpdf(Y, M[..., 0], SE).sum(-1)[:, None]
              + (~observed).sum() * np.log(np.maximum(om, 1e-300))[None, :]
              - np.log(sig[:, None, :] + om[None, :, None] * (1 - sig[:, None, :])).sum(-1))
    logp = (loglik + stats.norm.logpdf(mu, 0, F)[:, None] + np.log(trapz_weights(mu))[:, None]
            + np.log(trapz_weights(om))[None, :])
    w = np.exp(logp - logsumexp(logp))
    for s_i, g in zip(se, got):
        if s_i == 0:  # every estimate on the side of its sign: E[y] = mu
            expected = mu[:, None] * np.ones_like(om)[None, :]
        else:
            y = mu[:, None] + s_i * np.linspace(-12, 12, 4001)[None, :]
            dens = stats.norm.pdf(y, mu[:, None], s_i) * trapz_weights(np.linspace(-12 * s_i, 12 * s_i, 4001))
            above = y / s_i > z
            a1, a2 = (dens * above * y).sum(1), (dens * ~above * y).sum(1)
            p1, p2 = (dens * above).sum(1), (dens * ~above).sum(1)
            expected = (a1[:, None] + om[None, :] * a2[:, None]) / (p1[:, None] + om[None, :] * p2[:, None])
        assert g == pytest.approx(float((w * expected).sum()), abs=1e-4)


@pytest.fixture(scope="module")
def analysed():
    data = EffectData(study=tuple(f"s{i}" for i in range(len(Y))), yi=-Y, sei=SE, measure="RR",
                      benefit=Benefit.BELOW)
    return bias_analysis(data, BiasPlan(ensemble="pet-peese"), 0.95)


def test_the_analysis_keeps_the_class_curves_on_the_outcomes_own_scale(analysed):
    """Fitted to -yi, reported back for yi: the curves are the direct fit's with their signs turned."""
    from bayesmeta.reanalysis.bias import bias_ensemble

    direct = fit_bias(Y, SE, measure="RR", ensemble=bias_ensemble("pet-peese"))
    c = analysed["curves"]
    se = np.asarray(c["se"])
    assert se[0] == 0.0 and se[-1] == pytest.approx(1.1 * SE.max()) and set(c) == {"se", "PET", "PEESE"}
    ref = class_curves(direct, se)
    for kind, power in (("PET", 1), ("PEESE", 2)):
        members = [m for m in direct.models if m.spec.bias == kind]
        post = np.array([m.post_prob for m in members])
        means = [coefficient_means(m.fit) for m in members]
        assert c[kind]["post_prob"] == pytest.approx(post.sum(), rel=1e-12)
        assert c[kind]["intercept"] == pytest.approx(-np.dot(post, [m["mu"] for m in means]) / post.sum())
        assert c[kind]["slope"] == pytest.approx(-np.dot(post, [m["b"] for m in means]) / post.sum())
        np.testing.assert_allclose(c[kind]["curve"], -np.asarray(ref[kind]["curve"]), rtol=1e-12)
        np.testing.assert_allclose(c[kind]["curve"], c[kind]["intercept"] + c[kind]["slope"] * se**power,
                                   rtol=1e-12, atol=1e-12)
    # the densities: the averaged one holds 1 - P(no effect), the unadjusted one all its mass (log RR grid)
    d = analysed["density"]
    x = np.asarray(d["x"])
    assert np.trapezoid(d["mu"], x) == pytest.approx(1 - analysed["mu_atom_at_0"], abs=2e-3)
    assert np.trapezoid(d["mu_unadjusted"], x) == pytest.approx(1.0, abs=2e-3)
    assert x[np.argmax(d["mu_unadjusted"])] == pytest.approx(analysed["mu_unadjusted"]["analysis"]["median"],
                                                             abs=0.05)


def _outcome(bias: dict) -> SimpleNamespace:
    from bayesmeta.frequentist import rma, trimfill

    yi = -Y
    plan = SimpleNamespace(measure="RR", label="BCG", thresholds=(0.7, 1.0), benefit=Benefit.BELOW, name="AE")
    return SimpleNamespace(bias=bias, plan=plan, effects=pd.DataFrame({"yi": yi, "sei": SE}), k=len(yi),
                           name="AE", frequentist={"reml": rma(yi, SE**2), "trimfill": trimfill(yi, SE**2)})


def test_the_funnel_draws_the_ensembles_pet_and_peese_lines_on_the_ratio_axis(analysed):
    from bayesmeta.plots.funnel import plot_funnel
    from bayesmeta.report.figures import _bias_funnel

    fig = _bias_funnel(_outcome(analysed), 0.95, plot_funnel)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "RR (log scale)"
    lines = {ln.get_label().split(",")[0]: ln for ln in ax.get_lines()}
    for kind, power in (("PET", 1), ("PEESE", 2)):
        c = analysed["curves"][kind]
        se = np.asarray(lines[kind].get_ydata())
        np.testing.assert_allclose(se, analysed["curves"]["se"])
        # the plotted RR is exp(intercept + slope se^p), intercept and slope the ensemble's posterior means
        np.testing.assert_allclose(np.log(lines[kind].get_xdata()), c["intercept"] + c["slope"] * se**power,
                                   rtol=1e-12)
        assert f"posterior probability {c['post_prob']:.2f}" in lines[kind].get_label()
    assert "selection" not in lines  # the pet-peese ensemble has no selection models


def test_the_funnel_draws_a_selection_curve_where_the_ensemble_has_selection_models(monkeypatch):
    """A two-model ensemble (one-sided selection at 0.05, and no bias; fixed effect) in place of psma's 36."""
    import bayesmeta.reanalysis.bias as rb
    from bayesmeta.bias import get_ensemble
    from bayesmeta.plots.funnel import plot_funnel
    from bayesmeta.report.figures import _bias_funnel

    data = EffectData(study=tuple(f"s{i}" for i in range(len(Y))), yi=-Y, sei=SE, measure="RR",
                      benefit=Benefit.BELOW)
    spec = [{"effect": True, "heterogeneity": False, "bias": "selection", "cutoffs": [0.05]},
            {"effect": True, "heterogeneity": False}]
    monkeypatch.setattr(rb, "bias_ensemble", lambda name: get_ensemble(spec))
    out = bias_analysis(data, BiasPlan(ensemble="psma"), 0.95)
    c = out["curves"]
    assert set(c) == {"se", "selection"}
    fit = fit_bias(Y, SE, measure="RR", ensemble=spec)
    np.testing.assert_allclose(c["selection"]["curve"],
                               -selection_curve(fit.models[0].fit, fit.models[0].spec.weights, np.asarray(c["se"])),
                               rtol=1e-10)
    (ax,) = _bias_funnel(_outcome(out), 0.95, plot_funnel).axes
    line = next(ln for ln in ax.get_lines() if ln.get_label().startswith("selection"))
    np.testing.assert_allclose(line.get_xdata(), np.exp(c["selection"]["curve"]), rtol=1e-12)


def test_the_posterior_figure_shows_the_averaged_and_unadjusted_densities_on_the_ratio_axis(analysed):
    from bayesmeta.report.figures import _bias_posterior

    (ax,) = _bias_posterior(_outcome(analysed), 0.95).axes
    assert ax.get_xscale() == "log"
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    d = analysed["density"]
    for label, key in (("model-averaged", "mu"), ("unadjusted (no bias, effect present)", "mu_unadjusted")):
        np.testing.assert_allclose(lines[label].get_xdata(), np.exp(d["x"]), rtol=1e-12)
        np.testing.assert_allclose(lines[label].get_ydata(), d[key], rtol=1e-12)
    stem = next(c for c in ax.collections if "point mass" in c.get_label())
    assert f"= {analysed['mu_atom_at_0']:.2f}" in stem.get_label()
    (segment,) = stem.get_segments()
    assert segment[0][0] == segment[1][0] == 1.0  # at RR = 1
