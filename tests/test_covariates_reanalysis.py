"""Study-level covariates in the reanalysis' per-covariate meta-regressions and in ``fit --covariates``, checked
against metafor REML fits of Bangert-Drowns et al. 2004 (tests/reference/make_covariate_fixtures.R): studies
without a value are left out (metafor's na.action), 0/1 moderators are two-level factors, numeric covariates are
centred at their mean, and the input problems around them are located in the user's own files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bayesmeta.cli import main
from bayesmeta.data import check_shared_columns
from bayesmeta.errors import InputError
from bayesmeta.formula import build_design, far_from_zero
from bayesmeta.plan_template import covariates_of
from bayesmeta.priors import load_prior_sets
from bayesmeta.reanalysis.metaregression import attach_covariates, metaregression
from bayesmeta.report.formatting import slope_interval
from bayesmeta.report.sections import _metaregression

FIXTURES = json.loads((Path(__file__).parent / "reference" / "covariate_fixtures.json").read_text())
DATA = pd.DataFrame(FIXTURES["data"])
FITS = FIXTURES["fits"]
SMD = SimpleNamespace(measure="SMD")


def _text(value: object) -> str:
    """A cell as a CSV writes it: blank for missing, whole numbers without '.0'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _studies() -> pd.DataFrame:
    """The study table as load_studies holds it (text cells, in file order)."""
    columns = ["study_id", "year", "grade", "length", "minutes", "imag", "meta"]
    return pd.DataFrame({c: [_text(v) for v in DATA[c]] for c in columns})


def _effects(columns: tuple[str, ...]) -> pd.DataFrame:
    """An outcome's effects as the reanalysis builds them: sorted by year (so not in file order), covariates as
    text from the study table, then attach_covariates."""
    studies = _studies()
    effects = pd.DataFrame({"study_id": DATA["study_id"], "yi": DATA["yi"], "vi": DATA["vi"],
                            "sei": np.sqrt(DATA["vi"])}).merge(studies, on="study_id")
    effects = effects.sort_values(["year", "study_id"], kind="stable").reset_index(drop=True)
    return attach_covariates(effects, studies, columns, "studies.csv")


def _prior(name: str = "weakly_informative"):
    return load_prior_sets()[name]


def test_missing_values_are_left_out_of_that_covariates_regression_as_metafor_does():
    effects = _effects(("length", "meta"))
    for column in ("length", "meta"):
        ref = FITS[column]
        m = metaregression(effects, SMD, _prior(), column, 0.95, 2)
        assert m["fitted"], m["reason"]
        assert m["k"] == ref["k"] < len(effects)
        assert m["omitted"] == sorted(ref["omitted"])
        coefs = m["frequentist"]["coefficients"]
        np.testing.assert_allclose([c["estimate"] for c in coefs][1], ref["estimate"][1], rtol=1e-4)
        np.testing.assert_allclose(m["frequentist"]["tau2"], ref["tau2"], rtol=1e-3)
    length = metaregression(effects, SMD, _prior(), "length", 0.95, 2)
    np.testing.assert_allclose(length["center"], FITS["length_centred"]["center"], rtol=1e-12)


def test_zero_one_moderator_is_a_two_level_factor_labelled_by_its_values():
    effects = _effects(("imag", "meta"))
    m = metaregression(effects, SMD, _prior(), "imag", 0.95, 2)
    assert m["fitted"] and m["kind"] == "factor"
    assert m["reference"] == "0" and m["counts"] == {"0": 45, "1": 3}
    assert [c["coefficient"] for c in m["contrasts"]] == ["imag[1]"]
    ref = FITS["imag_factor"]
    freq = m["frequentist"]["coefficients"][1]
    np.testing.assert_allclose(freq["estimate"], ref["estimate"][1], rtol=1e-4)
    np.testing.assert_allclose(freq["ci_lower"], ref["ci_lower"][1], rtol=1e-3)
    # the posterior of the level difference is near REML's (3 studies in level 1: within a fifth of its SE)
    assert abs(m["contrasts"][0]["reported_median"] - ref["estimate"][1]) < 0.2 * ref["se"][1]
    meta = metaregression(effects, SMD, _prior(), "meta", 0.95, 2)
    assert meta["fitted"] and meta["k"] == 46 and meta["counts"] == {"0": 29, "1": 17}
    np.testing.assert_allclose(meta["frequentist"]["coefficients"][1]["estimate"], FITS["meta"]["estimate"][1],
                               rtol=1e-4)


@pytest.mark.parametrize("prior", ["weakly_informative", "skeptical"])
def test_numeric_covariate_is_centred_so_the_slope_agrees_with_reml(prior):
    effects = _effects(("year",))
    m = metaregression(effects, SMD, _prior(prior), "year", 0.95, 2)
    ref, centred = FITS["year"], FITS["year_centred"]
    assert m["kind"] == "numeric" and m["k"] == 48
    np.testing.assert_allclose(m["center"], centred["center"], rtol=1e-12)
    slope = m["contrasts"][0]
    # uncentred, the mu prior acts on the effect at year 0 and pulls the slope to ~0.0001; centred it is REML's
    assert abs(slope["reported_median"] - ref["estimate"][1]) < 0.1 * ref["se"][1]
    assert abs(slope["reported_median"] - ref["estimate"][1]) < 0.1 * abs(ref["estimate"][1])
    np.testing.assert_allclose(slope["reported_ci_upper"], ref["ci_upper"][1], rtol=0.1)
    intercept, beta = m["frequentist"]["coefficients"]
    np.testing.assert_allclose(intercept["estimate"], centred["estimate"][0], rtol=1e-4)  # effect at the mean
    np.testing.assert_allclose(beta["estimate"], ref["estimate"][1], rtol=1e-4)


def test_the_line_along_a_numeric_covariate_is_the_gls_prediction_when_tau_is_known():
    """With flat priors on mu and the slope and tau held at tau0 (a uniform prior on [tau0, tau0 (1 + 1e-9)]), the
    pooled effect at x is normal with the weighted least-squares mean c'b and variance c'(X'WX)^-1 c,
    W = diag(1 / (v_i + tau0^2)), c = (1, x - center) (Raudenbush 2009, Handbook of Research Synthesis, ch. 16)."""
    from scipy import stats

    from bayesmeta.priors import PriorSet, parse_prior
    from bayesmeta.reanalysis.metaregression import LINE_POINTS

    tau0 = 0.12
    prior = PriorSet(name="known_tau", mu=parse_prior("flat"), tau=parse_prior(f"uniform({tau0}, {tau0 * (1 + 1e-9)})"),
                     beta=parse_prior("flat"), description="", source="")
    effects = _effects(("year",))
    m = metaregression(effects, SMD, prior, "year", 0.9, 2)
    line = m["line"]
    x = effects["year"].to_numpy(float)
    X = np.column_stack([np.ones_like(x), x - x.mean()])
    w = 1 / (effects["vi"].to_numpy(float) + tau0**2)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    b = cov @ X.T @ (w * effects["yi"].to_numpy(float))
    grid = np.asarray(line["x"])
    assert len(grid) == LINE_POINTS and grid[0] == x.min() and grid[-1] == x.max()
    c = np.column_stack([np.ones_like(grid), grid - x.mean()])
    mean, sd = c @ b, np.sqrt(np.einsum("ij,jk,ik->i", c, cov, c))
    np.testing.assert_allclose(line["median"], mean, atol=1e-6 * sd.max())
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(line["ci_lower"], mean - z * sd, atol=1e-6 * sd.max())
    np.testing.assert_allclose(line["ci_upper"], mean + z * sd, atol=1e-6 * sd.max())


def test_infinite_covariate_names_the_study_table_and_its_row():
    studies = _studies()
    studies.loc[40, "length"] = "inf"  # file row 42
    effects = pd.DataFrame({"study_id": DATA["study_id"], "yi": DATA["yi"], "sei": np.sqrt(DATA["vi"])})
    effects = effects.merge(studies, on="study_id").sort_values("year", kind="stable").reset_index(drop=True)
    with pytest.raises(InputError) as err:
        attach_covariates(effects, studies, ("length",), "studies.csv")
    assert (err.value.file, err.value.row, err.value.column) == ("studies.csv", 42, "length")


def test_report_states_k_centring_the_studies_left_out_and_slope_digits():
    effects = _effects(("length", "year"))
    regs = [metaregression(effects, SMD, _prior(), c, 0.95, 2) for c in ("length", "year")]
    summary = {"outcomes": {"a": {"label": "Achievement", "measure": "SMD", "k": 48, "bayes": {"x": 1},
                                  "metaregression": json.loads(json.dumps(regs, default=float)), "skipped": {}}}}
    text = "\n".join(str(b) for b in _metaregression(summary))
    assert "numeric covariate (k = 46, centred at 9.83)" in text
    assert "numeric covariate (k = 48, centred at 1989.98)" in text
    assert "Nieswandt1997, Radmacher1995" in text
    assert "per unit: 0.0012 (" in text and "per unit: 0.000 " not in text
    assert slope_interval(0.00124, -0.00625, 0.00874) == "0.0012 (-0.0063 to 0.0087)"
    assert slope_interval(0.5, -1.0, 2.0) == "0.500 (-1.000 to 2.000)"


def test_plan_accepts_numeric_levels_and_init_offers_zero_one_columns(tmp_path):
    studies = _studies()
    studies.to_csv(tmp_path / "studies.csv", index=False)
    pd.DataFrame({"study_id": DATA["study_id"], "outcome": "achievement", "measure": "SMD", "yi": DATA["yi"],
                  "vi": DATA["vi"]}).to_csv(tmp_path / "outcomes.csv", index=False)
    offered = {c.column: c.levels for c in covariates_of(studies.drop(columns=["study_id"]), len(studies))}
    assert offered["imag"] == ("0", "1") and offered["meta"] == ("0", "1")
    assert offered["length"] is None and offered["minutes"] is None
    (tmp_path / "plan.toml").write_text(
        'title = "t"\n[data]\noutcomes = "outcomes.csv"\nstudies = "studies.csv"\n'
        '[outcomes.achievement]\nlabel = "a"\nmeasure = "SMD"\nbenefit = "above"\n'
        '[covariates]\ncolumns = ["imag"]\nlevels = { imag = [0, 1] }\n')
    from bayesmeta.data import load_studies
    from bayesmeta.plan import load_plan

    plan = load_plan(tmp_path / "plan.toml")
    assert plan.covariate_levels == {"imag": ("0", "1")}
    load_studies(tmp_path / "studies.csv", plan.covariate_levels)  # the cells 0/1 are the declared levels
    with pytest.raises(InputError, match="not a valid imag"):
        load_studies(tmp_path / "studies.csv", {"imag": ("0", "2")})


def test_column_in_both_files_must_agree():
    studies = _studies()
    outcomes = pd.DataFrame({"study_id": DATA["study_id"], "outcome": "achievement",
                             "year": [_text(v) for v in DATA["year"]]})
    check_shared_columns(outcomes, studies, "outcomes.csv", "studies.csv")
    outcomes.loc[5, "year"] = "1901"
    with pytest.raises(InputError) as err:
        check_shared_columns(outcomes, studies, "outcomes.csv", "studies.csv")
    message = str(err.value)
    assert "outcomes.csv" in message and "studies.csv" in message and "\n" not in message
    assert (err.value.row, err.value.column) == (7, "year")


def test_summary_with_a_covariate_also_an_effect_field_warns_nothing():
    from bayesmeta.reanalysis.result import OutcomeAnalysis

    plan = SimpleNamespace(label="a", measure="SMD", benefit=SimpleNamespace(value="above"), mcid=None,
                           thresholds=())
    effects = _effects(("year",)).assign(label="x", n_total=np.nan, method="given")
    a = OutcomeAnalysis(plan=plan, rows=effects, effects=effects, k_published=None, main_prior={},
                        plan_covariates=("year", "imag"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = a.summary()
    assert list(out["effects"][0]).count("year") == 1 and out["effects"][0]["year"] == 1926


def test_fit_center_option_and_the_uncentred_warning(tmp_path, capsys):
    flat = pd.DataFrame({"study": DATA["study_id"], "yi": DATA["yi"], "vi": DATA["vi"], "year": DATA["year"]})
    flat.to_csv(tmp_path / "flat.csv", index=False)
    common = ["fit", str(tmp_path / "flat.csv"), "--covariates", "year", "--mu-prior", "normal(0, 1)",
              "--tau-prior", "halfnormal(0.5)", "--json"]
    assert main([*common, "--center", "--mean-at", "year=1990"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert "warning" not in captured.err
    ref = FITS["year"]
    np.testing.assert_allclose(result["centers"]["year"], FITS["year_centred"]["center"], rtol=1e-12)
    slope = result["beta[year]"]
    assert abs(slope["median"] - ref["estimate"][1]) < 0.1 * ref["se"][1]
    at_1990 = result["mean_at"]["year=1990"]["median"]  # --mean-at is on the data's scale, not the centred one
    assert abs(at_1990 - (ref["estimate"][0] + 1990 * ref["estimate"][1])) < 0.2 * FITS["year_centred"]["se"][0]
    assert main([*common, "--no-center"]) == 0
    captured = capsys.readouterr()
    assert "warning: covariate year has mean 1989.98" in captured.err and "--center" in captured.err
    uncentred = json.loads(captured.out)
    assert uncentred["centers"] == {} and any("far from 0" in w for w in uncentred["warnings"])
    # the prior on mu at year 0 pulls the uncentred slope far from REML's: the reason for the warning
    assert abs(uncentred["beta[year]"]["median"] - ref["estimate"][1]) > 0.2 * ref["se"][1]


def test_design_centring_keeps_slopes_and_moves_the_intercept():
    table = pd.DataFrame({"x": [1.0, 2.0, 4.0, 9.0], "g": ["a", "b", "a", "b"]})
    plain, centred = build_design("x + g", table), build_design("x + g", table, center=True)
    assert centred.centers == {"x": 4.0}
    np.testing.assert_allclose(centred.X[:, 1], table["x"] - 4.0)
    np.testing.assert_allclose(centred.X[:, 2], plain.X[:, 2])
    np.testing.assert_allclose(centred.row({"x": 4.0, "g": "b"}), [1.0, 0.0, 1.0])
    assert far_from_zero(plain, table) == {}
    years = pd.DataFrame({"year": [1990.0, 1995.0, 2000.0, 2005.0]})
    assert list(far_from_zero(build_design("year", years), years)) == ["year"]
    assert far_from_zero(build_design("year", years, center=True), years) == {}


def test_fit_plan_center_key(tmp_path, capsys):
    pd.DataFrame({"study": DATA["study_id"], "yi": DATA["yi"], "vi": DATA["vi"], "year": DATA["year"]}).to_csv(
        tmp_path / "flat.csv", index=False)
    (tmp_path / "fit.toml").write_text('[fit]\ndata = "flat.csv"\ncovariates = "year"\nmu_prior = "normal(0, 1)"\n'
                                       'center = true\n')
    assert main(["fit", str(tmp_path / "fit.toml"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(result["centers"]["year"], FITS["year_centred"]["center"], rtol=1e-12)
    assert abs(result["beta[year]"]["median"] - FITS["year"]["estimate"][1]) < 0.1 * FITS["year"]["se"][1]
    (tmp_path / "fit.toml").write_text('[fit]\ndata = "flat.csv"\ncovariates = "year"\ncenter = "yes"\n')
    assert main(["fit", str(tmp_path / "fit.toml")]) == 2
    assert "fit.center" in capsys.readouterr().err


def test_fit_covariates_codes_and_centres_as_the_plans_one_covariate_regression(tmp_path, capsys):
    """`fit --covariates x` is the plan's `[covariates] columns = ["x"]` regression: a 0/1 moderator is a two-level
    factor against its more frequent level, a numeric column a slope centred at its mean by default; the same
    priors give the same exact posterior."""
    effects = _effects(("imag", "year"))
    pd.DataFrame({"study": effects["study_id"], "yi": effects["yi"], "vi": effects["vi"], "imag": effects["imag"],
                  "year": effects["year"]}).to_csv(tmp_path / "flat.csv", index=False)
    prior = _prior()
    keys = ("median", "mean", "sd", "ci_lower", "ci_upper")
    for column, coefficient in (("imag", "imag[1]"), ("year", "year")):
        planned = metaregression(effects, SMD, prior, column, 0.95, 2)["posterior"]
        assert main(["fit", str(tmp_path / "flat.csv"), "--measure", "SMD", "--covariates", column, "--mu-prior",
                     prior.mu.text, "--tau-prior", prior.tau.text, "--beta-prior", prior.beta.text, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert [k for k in out if k.startswith("beta[")] == [f"beta[{coefficient}]"]
        for name in ("mu", f"beta[{coefficient}]"):
            np.testing.assert_allclose([out[name][k] for k in keys], [planned[name][k] for k in keys], rtol=1e-8,
                                       err_msg=name)
        assert out["centers"] == ({} if column == "imag" else {"year": pytest.approx(FITS["year_centred"]["center"],
                                                                                      rel=1e-12)})
