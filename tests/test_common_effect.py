"""The Bayesian common-effect model (tau = 0, bayesmeta/common_effect.py): its closed form against dense quadrature
of prior x likelihood, under a flat prior against metafor 3.8-1's method="FE" (tests/reference/bcg_metafor.json,
dat.bcg log RR; tests/reference/new_user_metafor.json, Normand 1999 MD), and beside a published common-effect row
of the comparison table (Normand 1999, Stat Med 18:321, Table IX's fixed-effect MD)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmeta.common_effect import common_effect_posterior
from bayesmeta.effect_data import EffectData
from bayesmeta.errors import ModelError, ReportedValueWarning
from bayesmeta.priors import NormalPrior

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
BCG = pd.read_csv(REFERENCE / "bcg.csv")
BCG_FE = json.loads((REFERENCE / "bcg_metafor.json").read_text())["FE"]
CASE = ROOT / "data" / "gallery" / "normand_stroke"
NORMAND_FE = json.loads((REFERENCE / "new_user_metafor.json").read_text())["normand_stroke"]["MD"]["FE"]


def _quadrature(y: np.ndarray, se: np.ndarray, m0: float, s0: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior density of mu on a dense grid: normal prior times the product of the studies' normal
    likelihoods, normalised by the trapezoid rule."""
    grid = np.linspace(-3.0, 2.0, 200_001)
    log = stats.norm.logpdf(grid, m0, s0) + stats.norm.logpdf(y[:, None], grid[None, :], se[:, None]).sum(axis=0)
    dens = np.exp(log - log.max())
    return grid, dens / np.trapezoid(dens, grid)


def test_closed_form_matches_dense_quadrature():
    y, se = BCG["yi"].to_numpy(), np.sqrt(BCG["vi"].to_numpy())
    post = common_effect_posterior(y, se, mu_prior="normal(0.2, 0.1)", measure="RR")  # a prior the data pull on
    grid, dens = _quadrature(y, se, 0.2, 0.1)
    mean = np.trapezoid(grid * dens, grid)
    sd = np.sqrt(np.trapezoid((grid - mean) ** 2 * dens, grid))
    assert post.mean == pytest.approx(mean, abs=1e-8)
    assert post.sd == pytest.approx(sd, rel=1e-6)
    below = grid < np.log(0.7)
    cdf = np.trapezoid(dens[below], grid[below])
    assert post.prob_below(0.7) == pytest.approx(cdf, abs=1e-5)
    assert post.prob_above(0.7, "predictive") == pytest.approx(1 - cdf, abs=1e-5)
    assert 0.01 < cdf < 0.99  # the threshold sits inside the posterior, so the check has teeth
    summary = post.summary(0.9, scale="reported")
    assert np.log(summary["ci_lower"]) == pytest.approx(mean - stats.norm.ppf(0.95) * sd, abs=1e-6)


@pytest.mark.parametrize(("yi", "sei", "ref"), [
    (BCG["yi"].to_numpy(), np.sqrt(BCG["vi"].to_numpy()), BCG_FE),
    (None, None, NORMAND_FE),
])
def test_flat_prior_is_metafor_common_effect(yi, sei, ref):
    if yi is None:  # Normand 1999 length of stay, MD from the arms' means and SDs as the fixture's escalc
        from bayesmeta.tables import read_effect_table

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ReportedValueWarning)
            data = read_effect_table(CASE / "outcomes.csv", "MD")
        post = common_effect_posterior(data, mu_prior="flat")
    else:
        post = common_effect_posterior(yi, sei, mu_prior="flat", measure="RR")
    s = post.summary(0.95)
    assert s["median"] == pytest.approx(ref["estimate"], rel=1e-9)
    assert s["sd"] == pytest.approx(ref["se"], rel=1e-9)
    assert s["ci_lower"] == pytest.approx(ref["ci_lower"], rel=1e-9)
    assert s["ci_upper"] == pytest.approx(ref["ci_upper"], rel=1e-9)


def test_vague_normal_prior_approaches_the_flat_one_and_a_tight_one_its_mean():
    y, se = BCG["yi"].to_numpy(), np.sqrt(BCG["vi"].to_numpy())
    assert common_effect_posterior(y, se, mu_prior=NormalPrior(0.0, 1e4)).mean == pytest.approx(
        BCG_FE["estimate"], rel=1e-6)
    assert common_effect_posterior(y, se, mu_prior=NormalPrior(0.5, 1e-5)).mean == pytest.approx(0.5, abs=1e-4)


def test_other_mu_priors_are_refused_not_approximated():
    from bayesmeta.plan import load_plan
    from bayesmeta.reanalysis.outcome import common_effect_record

    with pytest.raises(ModelError, match="closed form only under a normal or flat mu prior, not halfnormal"):
        common_effect_posterior([0.1, 0.2], [0.1, 0.1], mu_prior="halfnormal(1)")
    o = load_plan(ROOT / "models" / "gallery" / "normand_stroke.toml").outcomes[0]
    data = EffectData(study=("a", "b"), yi=np.array([-3.0, -5.0]), sei=np.array([1.0, 2.0]), measure="MD")
    assert "normal or flat" in common_effect_record(data, "halfnormal(1)", o, 0.95)["reason"]


def _normand_rows(bayes_extra: dict | None = None) -> dict[str, dict]:
    """The comparison rows of Normand 1999's three published pooled rows, with the exact random-effects posterior
    and the common-effect record under the plan's main prior set."""
    from bayesmeta.compare import compare_pooled
    from bayesmeta.exact import fit_exact
    from bayesmeta.plan import load_plan
    from bayesmeta.priors import load_prior_sets
    from bayesmeta.reanalysis.comparison import _pooled_rows
    from bayesmeta.reanalysis.outcome import common_effect_record, oriented_prior_set, probability_table, \
        reported_summary
    from bayesmeta.tables import read_effect_table

    plan = load_plan(ROOT / "models" / "gallery" / "normand_stroke.toml")
    o = plan.outcomes[0]
    main = oriented_prior_set(load_prior_sets(plan.priors_file)[plan.main_prior], o)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReportedValueWarning)
        data = read_effect_table(CASE / "outcomes.csv", "MD")
    post = fit_exact(data, mu_prior=main.mu, tau_prior=main.tau)
    bayes = {"reported": reported_summary(post, plan.level), "probabilities": probability_table(post, o),
             "common_effect": common_effect_record(data, main.mu, o, plan.level), **(bayes_extra or {})}
    a = SimpleNamespace(plan=o, bayes=bayes, name=o.name)
    effects = pd.DataFrame({"study_id": data.study, "outcome": o.name, "measure": "MD", "yi": data.yi,
                            "vi": data.sei ** 2})
    published = pd.read_csv(CASE / "published.csv", keep_default_na=False, na_values=[""])
    pooled = compare_pooled(effects, published, pooling=plan.pooling)
    return {r.rule_model: _pooled_rows(a, r, plan)[0] for r in pooled.itertuples(index=False)}, main, post


def test_published_common_effect_row_gets_the_bayesian_common_effect_model():
    rows, main, post = _normand_rows()
    assert main.mu.text == "normal(0, 26)"
    # the conjugate update written as a shrinkage of metafor's FE estimate towards the prior mean
    m0, v0, fe, v = 0.0, 26.0**2, NORMAND_FE["estimate"], NORMAND_FE["se"] ** 2
    mean = m0 + (fe - m0) * v0 / (v0 + v)
    sd = np.sqrt(v0 * v / (v0 + v))
    z = stats.norm.ppf(0.975)
    p = stats.norm.cdf((-7.0 - mean) / sd)  # the plan's MCID: a stay 7 days shorter
    cell = rows["FE"]["bayesian"]
    assert cell == (f"common effect (weakly_informative): median {mean:.2f} ({mean - z * sd:.2f} to "
                    f"{mean + z * sd:.2f}); P(MD < -7) {'< 0.001' if p < 0.001 else f'= {p:.3f}'}")
    assert rows["FE"]["bayesian_value"] == pytest.approx(mean, rel=1e-9)
    assert "tau = 0; mu prior normal(0, 26)" in rows["FE"]["plain"]
    random_median = float(post.summary(0.95, scale="reported").at["mu", "median"])
    assert f"random-effects posterior, which allows for heterogeneity between studies, has median " \
           f"{random_median:.2f}" in rows["FE"]["plain"]
    for method in ("DL", "REML"):  # random-effects rows keep the random-effects posterior
        assert rows[method]["bayesian"].startswith("random effects (weakly_informative): median "
                                                   f"{random_median:.2f} (")


def test_without_a_common_effect_posterior_the_row_says_why():
    rows, _, _ = _normand_rows({"common_effect": {"reason": "a reason the test gives"}})
    assert rows["FE"]["bayesian"].startswith("random effects (weakly_informative): median ")
    assert "no common-effect posterior: a reason the test gives" in rows["FE"]["plain"]


def test_the_record_fits_the_summary_schema():
    import jsonschema

    from bayesmeta.plan import load_plan
    from bayesmeta.reanalysis.outcome import common_effect_record
    from bayesmeta.reanalysis.result import to_json

    schema = json.loads((ROOT / "bayesmeta" / "resources" / "summary.schema.json").read_text())

    o = load_plan(ROOT / "models" / "gallery" / "normand_stroke.toml").outcomes[0]
    data = EffectData(study=("a", "b"), yi=np.array([-3.0, -5.0]), sei=np.array([1.0, 2.0]), measure="MD")
    record = to_json(common_effect_record(data, "normal(0, 26)", o, 0.95))
    part = {"$defs": schema["$defs"], **schema["$defs"]["bayes"]["properties"]["common_effect"]}
    jsonschema.Draft202012Validator(part).validate(record)
    assert not jsonschema.Draft202012Validator(part).is_valid({**record, "mu": {"median": "-3"}})
