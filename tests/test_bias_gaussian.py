"""Marginal likelihoods of the bias ensembles' Gaussian-conditional models against independent adaptive
quadrature (no closed form), and the published metaBMA / Gronau et al. (2017) Bayes factors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from bayesmeta.bias import ModelSpec, default_priors, fit_bias, parse_tprior
from bayesmeta.bias.gaussian import fit_gaussian
from bayesmeta.priors import parse_prior

REF = Path(__file__).parent / "reference"
Y = np.array([0.2507640, 0.2275180, 0.3186069, 0.2832082, 0.1463949, 0.1509773])
S = np.array([0.2071399, 0.1931046, 0.1423228, 0.1421356, 0.1416107, 0.1221166])


def _lik(mu, tau, y=Y, s=S, shift=0.0):
    return math.exp(float(stats.norm.logpdf(y, mu + shift, np.sqrt(s**2 + tau**2)).sum()))


def test_random_effects_marginal_likelihood_matches_dense_quadrature():
    pri = default_priors("SMD")
    got = fit_gaussian(ModelSpec(True, True), pri, Y, S).integral.log_value
    # adaptive quad over tau of a 240-node Gauss-Legendre rule over mu in [-3, 3] (no closed form in mu)
    x, w = np.polynomial.legendre.leggauss(240)
    mu = 3 * x
    def inner(tau):
        ll = stats.norm.logpdf(Y[:, None], mu, np.sqrt(S[:, None] ** 2 + tau**2)).sum(0)
        return float(np.sum(3 * w * np.exp(ll) * stats.norm.pdf(mu))) * stats.invgamma.pdf(tau, 1, scale=0.15)
    ref, _ = integrate.quad(inner, 0, np.inf, epsabs=0, epsrel=1e-12, limit=200)
    assert got == pytest.approx(math.log(ref), abs=1e-8)


def test_random_effects_null_with_halfcauchy_tau_matches_quad():
    pri = default_priors("SMD", tau="halfcauchy(0.5)")
    got = fit_gaussian(ModelSpec(False, True), pri, Y, S).integral.log_value
    ref, _ = integrate.quad(lambda t: _lik(0.0, t) * 2 * stats.cauchy.pdf(t, 0, 0.5), 0, np.inf,
                            epsabs=0, epsrel=1e-12, limit=200)
    # a prior with density at tau = 0 leaves a long e^(log tau) tail: 96 nodes reach 1e-6 here (see README)
    assert got == pytest.approx(math.log(ref), abs=2e-6)


@pytest.mark.parametrize("kind", ["PET", "PEESE"])
def test_fixed_effect_pet_peese_with_half_cauchy_slope_matches_quadrature(kind):
    pri = default_priors("SMD")
    got = fit_gaussian(ModelSpec(True, False, kind), pri, Y, S).integral.log_value
    x = S if kind == "PET" else S**2
    scale = 1.0 if kind == "PET" else 5.0

    # adaptive quad over b of a 240-node Gauss-Legendre rule over mu in [-4, 4] (no closed form)
    gx, gw = np.polynomial.legendre.leggauss(240)
    mu = 4 * gx

    def f(b):
        ll = stats.norm.logpdf(Y[:, None], mu + b * x[:, None], S[:, None]).sum(0)
        return float(np.sum(4 * gw * np.exp(ll) * stats.norm.pdf(mu))) * 2 * stats.cauchy.pdf(b, 0, scale)

    ref, _ = integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-12, limit=200)
    assert got == pytest.approx(math.log(ref), abs=1e-8)


def test_cauchy_effect_prior_by_scale_mixture_matches_quad():
    pri = default_priors("SMD", mu="cauchy(0, 0.7071067811865476)+")
    got = fit_gaussian(ModelSpec(True, False), pri, Y, S).integral.log_value
    ref, _ = integrate.quad(lambda m: _lik(m, 0.0) * 2 * stats.cauchy.pdf(m, 0, 2**-0.5), 0, np.inf,
                            epsabs=0, epsrel=1e-12, limit=200)
    assert got == pytest.approx(math.log(ref), abs=1e-8)


@pytest.mark.parametrize("which", ["default", "informed"])
def test_reproduces_gronau_2017_power_pose_bayes_factors(which):
    ref = json.loads((REF / "bias_published.json").read_text())["gronau2017_power_pose"]
    row = ref[which]
    pri = default_priors("SMD", mu=row["mu_prior"], tau=ref["tau_prior"])
    res = fit_bias(Y, S, ensemble="metabma", priors=pri)
    ml = {m.name: m.log_ml for m in res.models}
    assert math.exp(ml["H1 FE none"] - ml["H0 FE none"]) == pytest.approx(row["bf10_fixed"], rel=2e-4)
    assert math.exp(ml["H1 RE none"] - ml["H0 RE none"]) == pytest.approx(row["bf10_random"], rel=2e-4)
    assert res.inclusion["effect"].bf == pytest.approx(row["inclusion_bf"], rel=2e-4)


def test_invgamma_prior_parses_and_integrates_to_one():
    p = parse_prior("invgamma(1, 0.15)", for_param="tau")
    assert p.text == "invgamma(1, 0.15)"
    total, _ = integrate.quad(lambda t: float(p.pdf(t)), 0, np.inf, limit=200)
    assert total == pytest.approx(1.0, abs=1e-8)
    assert float(p.logpdf(0.3)) == pytest.approx(stats.invgamma.logpdf(0.3, 1, scale=0.15), abs=1e-12)


def test_averaged_posterior_is_a_mixture_with_an_atom_at_zero():
    res = fit_bias(Y, S, ensemble="metabma", measure="SMD")
    p0 = sum(m.post_prob for m in res.models if not m.spec.effect)
    assert res.mu.atom == pytest.approx(p0, abs=1e-12)
    # with the N(0, 1) prior the fixed-effect H1 posterior of mu is the conjugate normal
    fe = next(m for m in res.models if m.spec.effect and not m.spec.heterogeneity)
    w = 1 / S**2
    prec = w.sum() + 1.0
    mean = (w * Y).sum() / prec
    assert fe.mu.median() == pytest.approx(mean, abs=1e-3)
    assert fe.mu.std() == pytest.approx(prec**-0.5, rel=1e-3)
    assert parse_tprior("t(3, 0.35, 0.1)+").lower == 0.0
