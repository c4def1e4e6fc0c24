"""Prior families: densities against scipy.stats closed forms, power-scaling, parsing, prior sets, PyMC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from bayesmeta.errors import InputError, ModelError
from bayesmeta.priors import (
    PoweredPrior,
    load_prior_sets,
    normal_tail_scale,
    parse_prior,
)

X = np.array([0.0, 1e-3, 0.05, 0.3, 1.0, 2.5, 40.0])
SEI = np.array([0.2, 0.45, 1.3])

CLOSED_FORMS = {
    "normal(0.3, 4)": lambda x: stats.norm.logpdf(x, 0.3, 4),
    "halfnormal(0.5)": lambda x: stats.halfnorm.logpdf(x, scale=0.5),
    "halfcauchy(0.5)": lambda x: stats.halfcauchy.logpdf(x, scale=0.5),
    "halft(3, 0.5)": lambda x: np.log(2 * stats.t.pdf(x, 3, scale=0.5)),
    "exponential(2)": lambda x: stats.expon.logpdf(x, scale=0.5),
    "uniform(0, 2)": lambda x: stats.uniform.logpdf(x, 0, 2),
    "lognormal(-2.56, 1.74)": lambda x: stats.lognorm.logpdf(x, s=1.74, scale=math.exp(-2.56)),
    "lognormal_tau2(-2.56, 1.74)": lambda x: stats.lognorm.logpdf(x, s=0.87, scale=math.exp(-1.28)),
}
PROPER_TAU = [t for t in CLOSED_FORMS if not t.startswith("normal")]
ALL_FORMS = list(CLOSED_FORMS) + ["flat", "uniform(0, inf)", "jeffreys", "halfflat", "power(halfcauchy(0.5), 0.8)"]


@pytest.mark.parametrize("text", list(CLOSED_FORMS))
def test_logpdf_matches_scipy(text):
    with np.errstate(divide="ignore"):
        want = CLOSED_FORMS[text](X)
    got = parse_prior(text).logpdf(X)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("text", PROPER_TAU)
def test_proper_tau_priors_are_normalised_and_zero_below_zero(text):
    prior = parse_prior(text)
    assert prior.proper and prior.support == "positive"
    total = integrate.quad(lambda t: float(prior.pdf(t)), 0, np.inf, limit=400)[0]
    assert total == pytest.approx(1.0, abs=1e-7)
    assert np.all(prior.logpdf(np.array([-1.0, -1e-9])) == -np.inf)


def test_improper_priors():
    for text, support in [("flat", "real"), ("uniform(0, inf)", "positive"), ("halfflat", "positive")]:
        prior = parse_prior(text)
        assert not prior.proper and prior.support == support
        with pytest.raises(ModelError):
            prior.rvs(3, 0)
    assert np.all(parse_prior("halfflat").logpdf(np.array([0.1, 7.0])) == 0.0)


def test_jeffreys_formula_and_need_for_sei():
    prior = parse_prior("jeffreys")
    want = [0.5 * math.log(sum((t / (s**2 + t**2)) ** 2 for s in SEI)) for t in X[1:]]
    np.testing.assert_allclose(prior.logpdf(X[1:], sei=SEI), want, rtol=1e-12)
    assert prior.logpdf(0.0, sei=SEI) == -np.inf
    assert prior.tail_exponent() == 1.0
    with pytest.raises(ModelError, match="standard errors"):
        prior.logpdf(X)


@pytest.mark.parametrize("text", ALL_FORMS)
def test_text_round_trip(text):
    prior = parse_prior(text)
    again = parse_prior(str(prior))
    assert again == prior and str(again) == prior.text
    np.testing.assert_array_equal(again.logpdf(X[1:], sei=SEI), prior.logpdf(X[1:], sei=SEI))


def test_parse_is_tolerant_of_case_and_spaces():
    assert parse_prior("  HalfNormal( 0.5 ) ").text == "halfnormal(0.5)"
    assert parse_prior("Normal(0, 1e-1)").text == "normal(0, 0.1)"


@pytest.mark.parametrize(
    "text",
    [
        "normal(0)",
        "foo(1)",
        "halfnormal(-1)",
        "halfnormal(0)",
        "uniform(1, inf)",
        "uniform(2, 1)",
        "normal(0, x)",
        "",
        "normal(nan, 1)",
        "normal(inf, 1)",
        "power(halfnormal(1), 0)",
        "halfcauchy",
        "flat(1)",
        "normal 0 1",
    ],
)
def test_malformed_text_says_the_valid_forms(text):
    with pytest.raises(ModelError, match=r"valid forms: normal\(mean, sd\), flat"):
        parse_prior(text)


def test_family_must_suit_the_parameter():
    with pytest.raises(ModelError, match="does not suit parameter 'mu'"):
        parse_prior("halfnormal(1)", for_param="mu")
    with pytest.raises(ModelError, match="does not suit parameter 'tau'"):
        parse_prior("normal(0, 1)", for_param="tau")
    assert parse_prior("flat", for_param="beta").text == "flat"


# -- power-scaling ---------------------------------------------------------------------------------------------
def _numeric_power(prior, alpha, x):
    """p(x)^alpha / integral of p^alpha, by adaptive quadrature."""
    lower = -np.inf if prior.support == "real" else 0.0
    norm = integrate.quad(lambda t: float(prior.pdf(t)) ** alpha, lower, np.inf, limit=400)[0]
    return alpha * prior.logpdf(x) - math.log(norm)


@pytest.mark.parametrize("text", ["normal(0.3, 4)"] + PROPER_TAU)
@pytest.mark.parametrize("alpha", [0.7, 1.3])
def test_power_is_the_renormalised_power_of_the_density(text, alpha):
    prior = parse_prior(text)
    powered = prior.power(alpha)
    x = X[1:] if prior.support == "positive" else X - 0.5
    np.testing.assert_allclose(powered.logpdf(x), _numeric_power(prior, alpha, x), rtol=1e-7, atol=1e-9)


def test_power_stays_in_closed_families():
    assert parse_prior("normal(1, 2)").power(4.0).text == "normal(1, 1)"
    assert parse_prior("halfnormal(0.5)").power(0.25).text == "halfnormal(1)"
    assert parse_prior("exponential(2)").power(1.5).text == "exponential(3)"
    assert parse_prior("flat").power(0.5).text == "flat"
    assert isinstance(parse_prior("halfcauchy(1)").power(0.9), PoweredPrior)
    assert parse_prior("halfcauchy(1)").power(1.0).text == "halfcauchy(1)"
    assert parse_prior("power(halfcauchy(1), 0.5)").power(2.0).text == "power(halfcauchy(1), 1)"
    with pytest.raises(ModelError):
        parse_prior("halfnormal(1)").power(-1.0)


def test_powered_heavy_tailed_prior_can_become_improper():
    # half-Cauchy tails ~ tau^-2: p^alpha is integrable only for alpha > 1/2
    assert parse_prior("halfcauchy(1)").power(0.6).proper
    assert not parse_prior("halfcauchy(1)").power(0.5).proper
    jeff = parse_prior("jeffreys").power(2.0)
    assert not jeff.proper and jeff.tail_exponent() == 2.0
    np.testing.assert_allclose(jeff.logpdf(X[1:], SEI), 2 * parse_prior("jeffreys").logpdf(X[1:], SEI))


# -- draws ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,cdf",
    [
        ("normal(0.3, 4)", lambda x: stats.norm.cdf(x, 0.3, 4)),
        ("halfnormal(0.5)", lambda x: stats.halfnorm.cdf(x, scale=0.5)),
        ("halfcauchy(0.5)", lambda x: stats.halfcauchy.cdf(x, scale=0.5)),
        ("halft(3, 0.5)", lambda x: 2 * stats.t.cdf(x, 3, scale=0.5) - 1),
        ("exponential(2)", lambda x: stats.expon.cdf(x, scale=0.5)),
        ("uniform(0, 2)", lambda x: stats.uniform.cdf(x, 0, 2)),
        ("lognormal_tau2(-2.56, 1.74)", lambda x: stats.lognorm.cdf(x, s=0.87, scale=math.exp(-1.28))),
        ("power(halfcauchy(0.5), 2)", lambda x: stats.halfcauchy.cdf(x, scale=0.5) * 0 + _cauchy2_cdf(x)),
    ],
)
def test_draws_follow_the_distribution(text, cdf):
    draws = parse_prior(text).rvs(4000, np.random.default_rng(11))
    assert stats.kstest(draws, cdf).pvalue > 1e-3


def _cauchy2_cdf(x):
    """CDF of the density proportional to (1 + (t/0.5)^2)^-2 on t > 0 (half-Cauchy(0.5) squared)."""
    z = np.asarray(x) / 0.5
    return (2 / math.pi) * (np.arctan(z) + z / (1 + z**2))


def test_draws_are_reproducible():
    prior = parse_prior("halfcauchy(0.5)")
    np.testing.assert_array_equal(prior.rvs(5, 3), prior.rvs(5, np.random.default_rng(3)))


# -- prior sets -----------------------------------------------------------------------------------------------
def test_prior_sets_file():
    sets = load_prior_sets()
    assert {"vague", "weakly_informative", "skeptical", "enthusiastic", "empirical"} <= set(sets)
    for s in sets.values():
        assert s.description and s.source
        assert s.mu.support == "real" and s.tau.support == "positive" and s.beta.support == "real"
    skeptical, enthusiastic = sets["skeptical"].mu, sets["enthusiastic"].mu
    # Spiegelhalter et al. 2004: P(HR < 0.7) = 5% under the sceptical prior, P(HR > 1) = 5% under the enthusiastic
    assert stats.norm.cdf(math.log(0.7), skeptical.mean, skeptical.sd) == pytest.approx(0.05, abs=1e-4)
    assert stats.norm.sf(0.0, enthusiastic.mean, enthusiastic.sd) == pytest.approx(0.05, abs=1e-4)
    assert enthusiastic.mean == pytest.approx(math.log(0.7), abs=1e-5)
    assert sets["empirical"].tau.logpdf(0.2) == pytest.approx(stats.lognorm.logpdf(0.2, s=0.87, scale=math.exp(-1.28)))
    assert normal_tail_scale(0.7) == pytest.approx(math.log(0.7) / stats.norm.ppf(0.05))


def test_prior_set_errors_name_file_and_entry(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('[x]\nmu = "normal(0, 1)"\ntau = "halfnormal(-2)"\n')
    with pytest.raises(InputError, match=r"p\.toml.*column 'x\.tau'.*valid forms"):
        load_prior_sets(bad)
    bad.write_text('[x]\nmu = "normal(0, 1)"\n')
    with pytest.raises(InputError, match="lacks 'tau'"):
        load_prior_sets(bad)
    with pytest.raises(InputError, match="not found"):
        load_prior_sets(tmp_path / "missing.toml")
    bad.write_text('[x]\nmu = "normal(0, 1)"\ntau = "halfnormal(1)"\n')
    assert load_prior_sets(bad)["x"].beta.text == "normal(0, 1)"


# -- PyMC -----------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_to_pymc_log_densities_match():
    """Each prior's PyMC variable has the same log-density (up to the constant of improper priors)."""
    pm = pytest.importorskip("pymc")
    texts = ALL_FORMS + ["power(jeffreys, 0.9)", "power(halft(3, 0.5), 1.3)", "lomax(2, 0.5)", "rhodes_smd",
                         "logt_tau2(-2, 1.5, 3)"]
    value = 0.3
    with pm.Model() as model:
        for j, text in enumerate(texts):
            parse_prior(text).to_pymc(f"v{j}", sei=SEI)
    from pymc.model.transform.conditioning import remove_value_transforms

    plain = remove_value_transforms(model)
    terms = plain.logp(sum=False)
    fn = plain.compile_fn(terms, point_fn=True, mode="FAST_COMPILE")  # PyTensor's Python implementations
    got = [float(t) for t in fn({plain.rvs_to_values[rv].name: np.asarray(value) for rv in plain.free_RVs})]
    # logp(sum=False) lists the free variables' terms first, then the potentials, in creation order
    names = [rv.name for rv in plain.free_RVs] + [p.name for p in plain.potentials]
    by_name = dict(zip(names, got, strict=True))
    for j, text in enumerate(texts):
        prior = parse_prior(text)
        want = float(prior.logpdf(value, sei=SEI))
        pymc_value = sum(v for n, v in by_name.items() if n.split("_")[0] == f"v{j}")
        assert pymc_value == pytest.approx(want, rel=1e-6, abs=1e-6), text
