"""NUTS engine (normal-normal model and meta-regression): R bayesmeta's published numbers and the exact engine
within 4 Monte Carlo standard errors, the diagnostics gate, refits without recompiling, reproducibility.

Compiled structures used (each compiled once for the module): 32 slots with normal mu and a positive tau family
(the family is data: eight schools with its half-Cauchy prior; HAIC OS, its leave-one-out, prior-grid and
other-family refits, Crins 2014, the deliberately short run); 32 slots with one covariate (meta-regression).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest

from conftest import haic_effects_for
from bayesmeta.effects import effects_for
from bayesmeta.errors import InputError, ModelError
from bayesmeta.exact import fit_exact
from bayesmeta.mcmc import CACHE, ESS_MIN, RHAT_MAX, diagnose, fit_nuts, padded_size
from bayesmeta.mcmc.prior_forms import prior_form
from bayesmeta.posterior import Posterior, SampleMarginal
from bayesmeta.priors import parse_prior

pytestmark = pytest.mark.slow

REF = Path(__file__).parent / "reference"
PUBLISHED = json.loads((REF / "bayesmeta_published.json").read_text())
SEED = 1
OS_PRIORS = {"mu_prior": "normal(0, 4)", "tau_prior": "halfnormal(0.5)"}
# The module makes 177 such comparisons. At 3 MCSE each fails by chance with probability 0.0027, so about one seed
# in three (1 - 0.9973^177 = 0.38) fails one of them (as seed 1 did with numba 0.65 / PyMC 5.28: z = -3.3, while
# seeds 2-6 gave |z| <= 2.0); at 4, the limit of the report's engine cross-check, about one in 90. A real error of
# the engine is many MCSEs wide.
Z_LIMIT = 4.0


def _table(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / name)


@pytest.fixture(scope="module")
def os_effects() -> pd.DataFrame:
    return haic_effects_for("OS")


@pytest.fixture(scope="module")
def schools() -> Posterior:
    d = _table("eight_schools.csv")
    return fit_nuts(
        d.yi,
        d.sei,
        mu_prior="normal(0, 50)",
        tau_prior="halfcauchy(25)",
        study=d.study,
        seed=SEED,
        target_accept=0.95,
    )


@pytest.fixture(scope="module")
def os_fit(os_effects) -> Posterior:
    return fit_nuts(
        os_effects.yi,
        os_effects.sei,
        study=os_effects.study_id,
        measure="HR",
        seed=SEED,
        **OS_PRIORS,
    )


@pytest.fixture(scope="module")
def crins(os_fit) -> Posterior:
    # 6 studies in the 32 slots compiled for HAIC OS (os_fit is requested so that the structure exists)
    d = _table("crins2014.csv")
    return fit_nuts(
        d.yi, d.sei, study=d.study, measure="OR", seed=SEED, **OS_PRIORS
    )


def _estimate_and_mcse(post: Posterior, param: str, stat: str) -> tuple[float, float]:
    """A posterior mean or quantile and its Monte Carlo standard error (ArviZ: Vehtari et al. 2021)."""
    idata = post.extras["idata"]
    name, _, index = param.partition("[")
    sel = {"covariate" if name == "beta" else "study": index[:-1]} if index else {}
    values = idata.posterior[name].sel(sel).to_dataset(name="v")
    if stat == "mean":
        return post.marginal(param).mean(), float(az.mcse(values, method="mean")["v"])
    q = 0.5 if stat == "median" else float(stat[1:])
    return float(post.marginal(param).ppf(q)), float(
        az.mcse(values, method="quantile", prob=q)["v"]
    )


def _assert_within_mcse(
    post: Posterior, param: str, stat: str, reference: float
) -> None:
    estimate, mcse = _estimate_and_mcse(post, param, stat)
    assert mcse > 0
    assert abs(estimate - reference) < Z_LIMIT * mcse, (
        param,
        stat,
        estimate,
        reference,
        mcse,
    )


# -- published R bayesmeta numbers -------------------------------------------------------------------------
def test_eight_schools_matches_r_bayesmeta(schools):
    ref = PUBLISHED["eight_schools_halfcauchy"]
    _assert_within_mcse(schools, "mu", "median", ref["mu"]["median"])
    _assert_within_mcse(schools, "mu", "mean", ref["mu"]["mean"])
    _assert_within_mcse(schools, "tau", "median", ref["tau"]["median"])
    _assert_within_mcse(schools, "tau", "q0.025", ref["tau"]["central95"][0])
    _assert_within_mcse(schools, "tau", "q0.975", ref["tau"]["central95"][1])
    _assert_within_mcse(schools, "predictive", "median", ref["theta_new"]["median"])


def test_crins_matches_r_bayesmeta(crins):
    ref = PUBLISHED["crins2014"]
    _assert_within_mcse(crins, "mu", "median", ref["mu"]["median"])
    _assert_within_mcse(crins, "mu", "mean", ref["mu"]["mean"])
    _assert_within_mcse(crins, "mu", "q0.025", ref["mu"]["central95"][0])
    _assert_within_mcse(crins, "mu", "q0.975", ref["mu"]["central95"][1])
    _assert_within_mcse(crins, "tau", "median", ref["tau"]["median"])
    _assert_within_mcse(crins, "tau", "mean", ref["tau"]["mean"])
    _assert_within_mcse(crins, "predictive", "median", ref["theta_new"]["median"])


# -- the exact engine as reference -------------------------------------------------------------------------
def _assert_matches_exact(
    post: Posterior, exact: Posterior, params: tuple[str, ...]
) -> None:
    for param in params:
        m = exact.marginal(param)
        _assert_within_mcse(post, param, "mean", m.mean())
        for q in (0.025, 0.5, 0.975):
            _assert_within_mcse(post, param, f"q{q}", float(m.ppf(q)))


def test_haic_os_matches_exact_engine(os_fit, os_effects):
    exact = fit_exact(
        os_effects.yi, os_effects.sei, study=os_effects.study_id, **OS_PRIORS
    )
    _assert_matches_exact(
        os_fit, exact, ("mu", "tau", "predictive", "theta[Kudo2018]", "theta[He2019]")
    )


def test_precise_studies_sample_without_divergences_and_match_the_exact_engine(os_fit):
    """HAIC DCR: four log-RRs, two with standard errors (0.064, 0.085) well below the posterior tau (about 0.18).
    With theta_i sampled non-centred this fit diverged (once here, 39 times in 5000 transitions in the HAIC report's
    cross-check under the plan's priors); with theta_i integrated out there is no funnel left."""
    d = haic_effects_for("DCR")
    args = dict(study=d.study_id, measure="RR", **OS_PRIORS)
    post = fit_nuts(d.yi, d.sei, seed=SEED, target_accept=0.95, **args)
    assert post.diagnostics["divergences"] == 0 and post.warnings == []
    assert post.diagnostics["settings"]["cache_hit"]
    _assert_matches_exact(post, fit_exact(d.yi, d.sei, **args), ("mu", "tau", f"theta[{d.study_id.iloc[0]}]"))


def test_mu_is_sampled_without_a_funnel_against_tau():
    """Cannon et al. 2006 (tests/reference/cannon2006.csv, metafor's dat.cannon2006): four large statin trials
    whose log ORs agree, so tau's posterior reaches from 0 to values where mu's conditional spread is many times the
    studies' own. With mu sampled as it is, seeds 1-3 diverged 4, 3 and 26 times in 4000 transitions; about its
    conditional centre (bayesmeta.mcmc.models._conditional_mu) none do, and the fit matches the exact engine."""
    d = _table("cannon2006.csv")
    args = dict(study=d.study, measure="OR", **OS_PRIORS)
    exact = fit_exact(d.yi, np.sqrt(d.vi), **args)
    for seed in (1, 3):
        post = fit_nuts(d.yi, np.sqrt(d.vi), seed=seed, **args)
        assert post.diagnostics["divergences"] == 0 and post.warnings == []
        _assert_matches_exact(post, exact, ("mu", "tau"))


@pytest.mark.parametrize("k, spread", [(1, "precise"), (2, "mixed"), (5, "precise"), (10, "noisy"), (40, "mixed")])
def test_no_funnel_from_one_study_to_forty_and_any_spread_of_standard_errors(k, spread):
    """Simulated meta-analyses (mu = -0.2, tau = 0.3) with standard errors of 0.02-0.08 (precise), 0.01-2 (mixed,
    log-uniform) or 0.5-2 (noisy): no divergences, no warnings, and mu's and tau's mean and quantiles within 4 MCSE
    of the exact engine's."""
    rng = np.random.default_rng(k)
    low, high = {"precise": (0.02, 0.08), "mixed": (0.01, 2.0), "noisy": (0.5, 2.0)}[spread]
    s = np.exp(rng.uniform(np.log(low), np.log(high), k))
    y = rng.normal(-0.2, 0.3, k) + rng.normal(0.0, s)
    post = fit_nuts(y, s, seed=SEED, **OS_PRIORS)
    assert post.diagnostics["divergences"] == 0 and post.warnings == []
    _assert_matches_exact(post, fit_exact(y, s, **OS_PRIORS), ("mu", "tau"))


def test_conditional_theta_is_the_normal_conditional_posterior():
    """theta_i | mu, tau, y ~ N((tau^2 y_i + s_i^2 mu) / (s_i^2 + tau^2), s_i^2 tau^2 / (s_i^2 + tau^2)) (BDA3 eq.
    5.17) at fixed mu and tau, drawn 200,000 times; tau = 0 gives theta_i = mu exactly."""
    from scipy import stats

    from bayesmeta.mcmc.fit import conditional_theta

    yi, sei = np.array([0.3, -0.4, 1.2]), np.array([0.1, 0.5, 2.0])
    mu, tau = 0.2, 0.4
    n = 200_000
    theta = conditional_theta(yi, sei, np.full((n, 1), mu), np.full(n, tau), seed=3)
    mean = (tau**2 * yi + sei**2 * mu) / (sei**2 + tau**2)
    var = sei**2 * tau**2 / (sei**2 + tau**2)
    for i in range(yi.size):
        assert stats.kstest(theta[:, i], "norm", args=(mean[i], np.sqrt(var[i]))).pvalue > 1e-3
        assert abs(theta[:, i].mean() - mean[i]) < 5 * np.sqrt(var[i] / n)
    assert np.array_equal(conditional_theta(yi, sei, np.full((4, 1), mu), np.zeros(4), seed=3), np.full((4, 3), mu))


def test_meta_regression_matches_exact_engine_in_the_intercept_only_models_slots(os_fit, os_effects):
    """Normal-prior coefficients sit in the coefficient slots of the compiled intercept-only model
    (bayesmeta.mcmc.models.coefficient_slots): a meta-regression on one, or two with their own priors, compiles
    nothing and matches the exact engine."""
    compiles = CACHE.compiles
    X = (os_effects.year.to_numpy(dtype=float) - 2020.0)[:, None]
    args = dict(
        X=X, covariate_names=["year"], study=os_effects.study_id, **OS_PRIORS
    )
    post = fit_nuts(os_effects.yi, os_effects.sei, seed=SEED, **args)
    exact = fit_exact(os_effects.yi, os_effects.sei, **args)
    assert (
        post.priors["beta"] == "normal(0, 4)"
    )  # the exact engine's default: normal(0, sd of mu's prior)
    _assert_matches_exact(post, exact, ("mu", "tau", "beta[year]"))
    assert post.draws["beta"].shape == (4, 1000, 1)
    assert post.extras["idata"].posterior["beta"].dims == ("chain", "draw", "covariate")

    two = dict(X=np.column_stack([X[:, 0], (os_effects.design == "RCT").astype(float)]),
               covariate_names=["year", "rct"], beta_prior=["normal(0.2, 0.3)", "normal(-1, 2)"],
               study=os_effects.study_id, **OS_PRIORS)
    post2 = fit_nuts(os_effects.yi, os_effects.sei, seed=SEED, **two)
    _assert_matches_exact(post2, fit_exact(os_effects.yi, os_effects.sei, **two),
                          ("mu", "tau", "beta[year]", "beta[rct]"))
    assert CACHE.compiles == compiles
    assert post.diagnostics["settings"]["cache_hit"] and post2.diagnostics["settings"]["cache_hit"]


def test_coefficient_slots_hold_the_design_and_each_coefficients_prior():
    from bayesmeta.mcmc.models import coefficient_data, coefficient_slots

    assert [coefficient_slots(p) for p in (0, 1, 4, 5, 9)] == [4, 4, 4, 8, 12]
    forms = [prior_form(parse_prior("normal(0.5, 2)")), prior_form(parse_prior("normal(-1, 0.1)"))]
    X = np.arange(6.0).reshape(3, 2)
    data = coefficient_data(forms, X, 5, 4)
    np.testing.assert_array_equal(data["X"][:3, :2], X)
    assert not data["X"][3:].any() and not data["X"][:, 2:].any()
    np.testing.assert_array_equal(data["beta_loc"], [0.5, -1, 0, 0])
    np.testing.assert_array_equal(data["beta_scale"], [2, 0.1, 1, 1])


@pytest.mark.parametrize("tau_prior", ["halfcauchy(0.5)", "lomax(2, 0.5)", "invgamma(2, 0.5)", "rhodes_smd"])
def test_every_positive_tau_family_refits_the_one_compiled_model_and_matches_the_exact_engine(
        os_fit, os_effects, tau_prior):
    """The tau prior's family is data (bayesmeta.mcmc.prior_forms.POSITIVE_FAMILIES): half-Cauchy, Lomax,
    inverse-gamma and the Rhodes et al. (2015) log-t prior on tau^2 reuse the model compiled for the half-normal."""
    compiles = CACHE.compiles
    args = dict(study=os_effects.study_id, mu_prior="normal(0, 4)", tau_prior=tau_prior)
    post = fit_nuts(os_effects.yi, os_effects.sei, seed=SEED, **args)
    assert CACHE.compiles == compiles and post.diagnostics["settings"]["cache_hit"]
    assert post.priors["tau"] == str(parse_prior(tau_prior))
    _assert_matches_exact(post, fit_exact(os_effects.yi, os_effects.sei, **args), ("mu", "tau"))


@pytest.mark.parametrize("text", ["halfnormal(0.5)", "halfcauchy(25)", "halft(3, 0.4)", "exponential(2)",
                                  "lognormal(-1.2, 0.8)", "lognormal_tau2(-2.5, 1.6)", "lomax(1.5, 0.3)",
                                  "invgamma(1, 0.15)", "rhodes_smd"])
def test_the_compiled_positive_unit_is_the_priors_density(text):
    """positive_unit_logp at the prior's family and shape, on the unit scale, differs from the prior's own
    normalised log-density (the exact engine's) by a constant: log(scale) plus the normalising constant."""
    import pytensor
    import pytensor.tensor as pt

    from bayesmeta.mcmc.models import positive_unit_logp

    form = prior_form(parse_prior(text))
    t, family, shape = pt.dvector("t"), pt.dscalar("family"), pt.dvector("shape")
    logp = pytensor.function([t, family, shape], positive_unit_logp(t, family, shape), mode="FAST_COMPILE")
    x = np.array([0.01, 0.05, 0.3, 1.0, 2.5, 40.0])
    compiled = logp(x / form.scale, float(form.family), np.asarray(form.shape))
    difference = compiled - parse_prior(text).logpdf(x)
    np.testing.assert_allclose(difference, difference[0], rtol=0, atol=1e-9)


# -- refits: same compiled model, new data -----------------------------------------------------------------
def test_refits_reuse_the_compiled_model_and_are_correct(os_fit, os_effects):
    compiles = CACHE.compiles
    keep = os_effects.study_id != "Kudo2018"
    sub = os_effects[keep]
    loo = fit_nuts(sub.yi, sub.sei, study=sub.study_id, seed=SEED, **OS_PRIORS)
    grid = fit_nuts(
        os_effects.yi,
        os_effects.sei,
        study=os_effects.study_id,
        seed=SEED,
        mu_prior="normal(0, 2)",
        tau_prior="halfnormal(1)",
    )
    assert CACHE.compiles == compiles
    assert (
        loo.diagnostics["settings"]["cache_hit"]
        and grid.diagnostics["settings"]["cache_hit"]
    )
    assert loo.diagnostics["settings"]["compile_seconds"] == 0.0

    exact_loo = fit_exact(sub.yi, sub.sei, study=sub.study_id, **OS_PRIORS)
    exact_grid = fit_exact(
        os_effects.yi,
        os_effects.sei,
        mu_prior="normal(0, 2)",
        tau_prior="halfnormal(1)",
    )
    _assert_matches_exact(loo, exact_loo, ("mu", "tau"))
    _assert_matches_exact(grid, exact_grid, ("mu", "tau"))
    # leaving Kudo2018 out moves mu by far more than Monte Carlo error (and the move matches the exact engine)
    shift = loo.marginal("mu").median() - os_fit.marginal("mu").median()
    assert abs(shift) > 10 * _estimate_and_mcse(os_fit, "mu", "median")[1]
    assert loo.k == 9 and "theta[Kudo2018]" not in loo.marginals


def test_crins_refit_in_padded_slots_is_a_cache_hit(crins):
    assert crins.diagnostics["settings"]["cache_hit"]
    assert crins.diagnostics["settings"]["k_padded"] == 32
    assert crins.draws["theta"].shape == (4, 1000, 6)


# -- diagnostics gate --------------------------------------------------------------------------------------
def test_good_run_has_no_warnings(crins):
    d = crins.diagnostics
    assert crins.warnings == []
    assert (
        d["rhat_max"] < RHAT_MAX
        and d["ess_bulk_min"] >= ESS_MIN
        and d["ess_tail_min"] >= ESS_MIN
    )
    assert d["divergences"] == 0
    assert set(d["table"]) >= {"mu", "tau", "theta[Heffron (2003)]"}
    assert (
        d["settings"]["seed"] == SEED
        and d["settings"]["chains"] == 4
        and d["settings"]["sampler"] == "nutpie"
    )


def test_short_run_warns_and_strict_mode_raises(os_fit, os_effects):
    args = dict(
        study=os_effects.study_id, seed=SEED, draws=20, tune=20, **OS_PRIORS
    )
    short = fit_nuts(os_effects.yi, os_effects.sei, **args)
    assert any("effective sample size" in w for w in short.warnings)
    assert all(w.endswith(".") for w in short.warnings)
    with pytest.raises(ModelError, match="convergence checks"):
        fit_nuts(os_effects.yi, os_effects.sei, strict=True, **args)


def _idata(posterior: dict, diverging: np.ndarray | None = None) -> az.InferenceData:
    stats = None if diverging is None else {"diverging": diverging}
    return az.from_dict(posterior=posterior, sample_stats=stats)


def test_diagnose_flags_each_failure_and_passes_independent_draws():
    rng = np.random.default_rng(0)
    good = rng.standard_normal((4, 1000))
    diagnostics, warnings = diagnose(_idata({"mu": good}, np.zeros((4, 1000), bool)))
    assert warnings == [] and diagnostics["divergences"] == 0
    assert diagnostics["rhat_max"] < 1.01 and diagnostics["ess_bulk_min"] > 2000

    shifted = good + np.array([0.0, 0.0, 0.0, 0.5])[:, None]  # one chain elsewhere
    _, warnings = diagnose(_idata({"mu": shifted}))
    assert any(w.startswith("R-hat reaches") for w in warnings)

    sticky = np.repeat(
        rng.standard_normal((4, 50)), 20, axis=1
    )  # each value held for 20 draws
    _, warnings = diagnose(_idata({"mu": sticky}))
    assert any("bulk effective" in w for w in warnings) and any(
        "tail effective" in w for w in warnings
    )

    diverging = np.zeros((4, 1000), bool)
    diverging[2, 10] = True
    diagnostics, warnings = diagnose(_idata({"mu": good}, diverging))
    assert (
        diagnostics["divergences"] == 1
        and warnings == [warnings[0]]
        and "1 of 4000" in warnings[0]
    )


# -- reproducibility and the result contract ---------------------------------------------------------------
def test_same_seed_gives_identical_draws(os_fit, os_effects):
    again = fit_nuts(
        os_effects.yi,
        os_effects.sei,
        study=os_effects.study_id,
        measure="HR",
        seed=SEED,
        **OS_PRIORS,
    )
    other = fit_nuts(
        os_effects.yi,
        os_effects.sei,
        study=os_effects.study_id,
        measure="HR",
        seed=SEED + 1,
        **OS_PRIORS,
    )
    for name in ("mu", "tau", "theta", "predictive"):
        np.testing.assert_array_equal(again.draws[name], os_fit.draws[name])
    assert not np.array_equal(other.draws["mu"], os_fit.draws["mu"])


def test_posterior_contract(os_fit, os_effects):
    k = len(os_effects)
    assert os_fit.engine == "nuts" and os_fit.measure == "HR" and os_fit.k == k
    assert os_fit.draws["mu"].shape == (4, 1000) and os_fit.draws["theta"].shape == (
        4,
        1000,
        k,
    )
    assert set(os_fit.draws) == {"mu", "tau", "theta", "predictive"}
    assert all(isinstance(m, SampleMarginal) for m in os_fit.marginals.values())
    assert set(os_fit.marginals) == {"mu", "tau", "predictive"} | {
        f"theta[{s}]" for s in os_effects.study_id
    }
    # theta_new ~ N(mu, tau^2) draw by draw: (theta_new - mu) has sd sqrt(E tau^2)
    theta_new = os_fit.draws["predictive"]
    assert (
        abs(
            np.std(theta_new - os_fit.draws["mu"])
            / np.sqrt(np.mean(os_fit.draws["tau"] ** 2))
            - 1
        )
        < 0.05
    )
    json.dumps(os_fit.to_dict(thresholds=(0.8,)), allow_nan=False)


# Kudo2018 is influential, so PSIS warns about its Pareto k
@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")
def test_inference_data_supports_loo_and_power_scaling(os_fit, os_effects):
    idata = os_fit.extras["idata"]
    assert {
        "posterior",
        "log_likelihood",
        "log_prior",
        "prior",
        "sample_stats",
        "observed_data",
    } <= set(idata.groups())
    np.testing.assert_allclose(idata.observed_data["yi"].values, os_effects.yi)
    loo = az.loo(idata, pointwise=True)
    assert loo.n_data_points == len(os_effects) and math.isfinite(loo.elpd_loo)
    sens = az.psens(idata, component="prior", var_names=["mu", "tau"])
    assert all(
        math.isfinite(float(sens[v])) and float(sens[v]) >= 0 for v in ("mu", "tau")
    )
    # the prior group holds draws from the priors: halfnormal(0.5) has median 0.5 * 0.6745
    assert abs(float(np.median(idata.prior["tau"])) - 0.5 * 0.67449) < 0.02


# -- priors, padding, refusals (no sampling) ---------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "normal(0.3, 2)",
        "halfnormal(0.5)",
        "halfcauchy(25)",
        "halft(3, 0.4)",
        "exponential(2)",
        "uniform(0, 3)",
        "lognormal(-1.2, 0.8)",
        "lognormal_tau2(-2.5, 1.6)",
    ],
)
def test_scaled_prior_forms_keep_the_density(text):
    prior = parse_prior(text)
    form = prior_form(prior)
    assert form.unit is not None
    x = (
        np.array([0.05, 0.3, 1.0, 2.5])
        if prior.support == "positive"
        else np.array([-2.0, 0.1, 1.7])
    )
    unit = form.unit.logpdf((x - form.loc) / form.scale) - math.log(form.scale)
    np.testing.assert_allclose(unit, prior.logpdf(x), rtol=1e-12)


@pytest.mark.parametrize(
    "text",
    ["flat", "halfflat", "uniform(0, inf)", "jeffreys", "power(halfcauchy(1), 0.5)"],
)
def test_other_priors_are_compiled_as_written(text):
    form = prior_form(parse_prior(text))
    assert form.unit is None and (form.loc, form.scale) == (0.0, 1.0)
    assert form.depends_on_sei == ("jeffreys" in text)


def test_padded_size():
    assert [padded_size(k) for k in (1, 8, 9, 17, 32, 33, 41)] == [32, 32, 32, 32, 32, 40, 48]
    assert padded_size(16, pad_to=17) == 17
    with pytest.raises(ValueError, match="smaller"):
        padded_size(17, pad_to=16)


def test_improper_posterior_is_refused_before_sampling():
    compiles = CACHE.compiles
    with pytest.raises(ModelError, match="improper posterior"):
        fit_nuts([0.1, 0.4], [0.2, 0.3], mu_prior="flat", tau_prior="halfflat")
    with pytest.raises(ModelError, match="rank-deficient"):
        fit_nuts([0.1, 0.4, 0.2], [0.2, 0.3, 0.2], mu_prior="flat", X=np.ones((3, 1)))
    assert CACHE.compiles == compiles


def test_bad_input_names_study_row_and_column():
    with pytest.raises(InputError) as err:
        fit_nuts([0.1, 0.2, 0.3], [0.2, -0.1, 0.3], study=["a", "b", "c"])
    assert err.value.column == "sei" and err.value.row == 3 and "'b'" in str(err.value)
    with pytest.raises(InputError) as err:
        fit_nuts([0.1, float("nan")], [0.2, 0.1])
    assert err.value.column == "yi" and err.value.row == 3
    with pytest.raises(ModelError, match="does not suit"):
        fit_nuts([0.1, 0.2], [0.2, 0.1], tau_prior="normal(0, 1)")
    with pytest.raises(ModelError, match="draws"):
        fit_nuts([0.1, 0.2], [0.2, 0.1], draws=2)
