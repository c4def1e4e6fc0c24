"""The incidence rate ratio (IRR, events over person-time) and the ratio of means (ROM) against R metafor 3.8-1
(tests/reference/make_irr_rom_fixtures.R: escalc and rma on dat.hart1999 and dat.curtis1998): study effects to
1e-10, REML and DL pooling to 1e-6; the exact engine against a dense quadrature of the same posterior; every verb
taking the two measures; the TSA refusing them; bad input named by file, row and column."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from bayesmeta.cli import main
from bayesmeta.data import load_outcomes
from bayesmeta.effects import derive_effects, effects_for, person_time_effect
from bayesmeta.errors import InputError
from bayesmeta.escalc import ZeroCellRule, log_incidence_rate_ratio, log_ratio_of_means
from bayesmeta.plan import PLAN_MEASURES, load_plan
from bayesmeta.scales import MEASURE_INFO, TSA_INPUT_MEASURES, is_ratio
from bayesmeta.tables import read_effect_table

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "irr_rom_metafor.json").read_text())
CASES = {"irr": "IRR", "rom": "ROM", "irr_zero": "IRR"}
Z975 = 1.959963984540054


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def _reference(case: str, key: str = "yi") -> np.ndarray:
    return np.array([np.nan if v is None else v for v in REF[case][key]], dtype=float)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Each fixture's studies as a user's CSV: the two the R script wrote (the README's examples), and the one
    with zero counts from its JSON."""
    zero = tmp_path_factory.mktemp("irr_rom") / "irr_zero.csv"
    pd.DataFrame(REF["irr_zero"]["data"]).to_csv(zero, index=False)
    return {"irr": ROOT / "tests" / "reference" / "hart1999_irr.csv",
            "rom": ROOT / "tests" / "reference" / "curtis1998_rom.csv", "irr_zero": zero}


def test_the_two_measures_are_ratios_the_tsa_does_not_take():
    for code, label in (("IRR", "incidence rate ratio"), ("ROM", "ratio of means")):
        assert MEASURE_INFO[code].label == label and is_ratio(code) and code not in TSA_INPUT_MEASURES


def test_summary_json_schema_names_every_plan_measure():
    schema = json.loads((ROOT / "bayesmeta" / "resources" / "summary.schema.json").read_text())
    enum = schema["$defs"]["outcome"]["properties"]["measure"]["enum"]
    assert enum == list(PLAN_MEASURES)


# -- escalc ----------------------------------------------------------------------------------------------------
def test_escalc_irr_and_rom_equal_metafor():
    d = REF["irr"]["data"]
    yi, vi = log_incidence_rate_ratio(d["events_treatment"], d["person_time_treatment"], d["events_control"],
                                      d["person_time_control"])
    np.testing.assert_allclose(yi, REF["irr"]["yi"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(vi, REF["irr"]["vi"], rtol=0, atol=1e-10)
    d = REF["rom"]["data"]
    yi, vi = log_ratio_of_means(d["mean_treatment"], d["sd_treatment"], d["total_treatment"], d["mean_control"],
                                d["sd_control"], d["total_control"])
    np.testing.assert_allclose(yi, REF["rom"]["yi"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(vi, REF["rom"]["vi"], rtol=0, atol=1e-10)


def test_zero_counts_follow_escalc():
    """One zero count: 1/2 added to both counts (escalc's add = 1/2, to = "only0"); no events in either arm:
    escalc's default keeps the study with 1/2 added, bayesmeta's default drops it (escalc's drop00 = TRUE)."""
    d = REF["irr_zero"]["data"]
    x1, t1, x2, t2 = (np.array(d[c], dtype=float) for c in ("events_treatment", "person_time_treatment",
                                                             "events_control", "person_time_control"))
    yi, vi = log_incidence_rate_ratio(x1, t1, x2, t2)
    np.testing.assert_allclose(yi, REF["irr_zero"]["yi_drop00_false"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(vi, REF["irr_zero"]["vi_drop00_false"], rtol=0, atol=1e-10)
    yi, vi, corrected, dropped = person_time_effect("IRR", x1, t1, x2, t2)
    np.testing.assert_allclose(yi, _reference("irr_zero"), rtol=0, atol=1e-10)
    np.testing.assert_allclose(vi, _reference("irr_zero", "vi"), rtol=0, atol=1e-10)
    assert corrected.tolist() == [False, False, True, False, False, False]
    assert dropped.tolist() == [False, False, False, True, False, False]


# -- tables ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(CASES))
def test_a_users_table_gives_metafors_effects(case, files):
    data = read_effect_table(files[case], CASES[case])
    yi, vi = _reference(case), _reference(case, "vi")
    kept = ~np.isnan(yi)
    assert data.measure == CASES[case] and data.study == tuple(np.array(REF[case]["data"]["study"])[kept])
    np.testing.assert_allclose(data.yi, yi[kept], rtol=0, atol=1e-10)
    np.testing.assert_allclose(data.sei ** 2, vi[kept], rtol=0, atol=1e-10)
    assert data.covariates is None or data.covariates.empty  # person-time and arm sizes are not covariates
    if case == "irr_zero":
        assert data.dropped == ("CAFA",) and data.method[2] == "person_time_cc"


def test_person_time_is_the_default_form_and_arm_counts_stay_available(files):
    """hart1999 has person-time and arm sizes: without a measure it is read as IRR, with RR as arm counts."""
    assert read_effect_table(files["irr"]).measure == "IRR"
    rr = read_effect_table(files["irr"], "RR")
    d = REF["irr"]["data"]
    a, n1, c, n2 = (np.array(d[k], dtype=float) for k in ("events_treatment", "total_treatment", "events_control",
                                                          "total_control"))
    np.testing.assert_allclose(rr.yi, np.log(a / n1) - np.log(c / n2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", ["irr", "rom"])
def test_an_estimate_with_its_ci_reads_as_hr_and_rr_do(case, tmp_path):
    yi, se = _reference(case), np.sqrt(_reference(case, "vi"))
    path = tmp_path / "ci.csv"
    printed = {"estimate": np.exp(yi), "ci_lower": np.exp(yi - Z975 * se), "ci_upper": np.exp(yi + Z975 * se)}
    pd.DataFrame({"study": REF[case]["data"]["study"], "measure": CASES[case],  # 13 decimals, as if printed
                  **{k: [f"{v:.13f}" for v in values] for k, values in printed.items()}}).to_csv(path, index=False)
    data = read_effect_table(path)
    assert data.measure == CASES[case]
    np.testing.assert_allclose(data.yi, yi, rtol=0, atol=1e-10)
    np.testing.assert_allclose(data.sei, se, rtol=0, atol=1e-10)


# -- frequentist and Bayesian fits through the command line ------------------------------------------------------
@pytest.mark.parametrize("case", ["irr", "rom"])
@pytest.mark.parametrize("method", ["REML", "DL"])
def test_frequentist_pooling_equals_metafor(case, method, files):
    status, out, err = _cli(["frequentist", files[case], "--measure", CASES[case], "--method", method, "--json"])
    assert status == 0, err
    got, want = json.loads(out), REF[case]["fits"][method]
    assert got["k"] == want["k"] and got["measure"] == CASES[case]
    for key in ("estimate", "se", "ci_lower", "ci_upper", "tau2"):
        assert got[key] == pytest.approx(want[key], abs=1e-6), key
    assert got["reported"]["estimate"] == pytest.approx(math.exp(want["estimate"]), rel=1e-6)


def _dense_mu(yi: np.ndarray, se: np.ndarray, prior_sd: float = 4.0, tau_scale: float = 0.5,
              upper: float = 3.0, n: int = 6001) -> dict[str, float]:
    """The posterior of mu under mu ~ normal(0, prior_sd), tau ~ halfnormal(tau_scale) by brute force: p(tau | y)
    on a uniform grid (trapezoid weights) from the closed-form marginal y | tau ~ N(0, D + prior_sd^2 J) with
    D = diag(se^2 + tau^2) (Sherman-Morrison), mu | tau, y normal; mu's CDF the grid mixture of those normals."""
    tau = np.linspace(0.0, upper, n)
    d = se[None, :] ** 2 + tau[:, None] ** 2
    sum_w, sum_wy = (1 / d).sum(axis=1), (yi / d).sum(axis=1)
    v0 = prior_sd ** 2
    logdet = np.log(d).sum(axis=1) + np.log1p(v0 * sum_w)
    quad = (yi ** 2 / d).sum(axis=1) - v0 * sum_wy ** 2 / (1 + v0 * sum_w)
    lp = -0.5 * (logdet + quad) + stats.halfnorm.logpdf(tau, scale=tau_scale)
    w = np.exp(lp - lp.max())
    w[[0, -1]] *= 0.5
    w /= w.sum()
    precision = sum_w + 1 / v0
    mean, sd = sum_wy / precision, 1 / np.sqrt(precision)
    cdf = lambda x: float(np.sum(w * stats.norm.cdf(x, mean, sd)))  # noqa: E731
    lo, hi = float((mean - 10 * sd).min()), float((mean + 10 * sd).max())
    quantile = lambda p: optimize.brentq(lambda x: cdf(x) - p, lo, hi, xtol=1e-12)  # noqa: E731
    m1 = float(np.sum(w * mean))
    return {"median": quantile(0.5), "mean": m1, "sd": math.sqrt(float(np.sum(w * (sd ** 2 + mean ** 2))) - m1 ** 2),
            "ci_lower": quantile(0.025), "ci_upper": quantile(0.975)}


@pytest.mark.parametrize("case", ["irr", "rom"])
def test_exact_fit_agrees_with_dense_quadrature_and_reports_a_ratio(case, files):
    """The defaults mu ~ normal(0, 4), tau ~ halfnormal(0.5), on metafor's yi and vi, integrated on a dense tau
    grid (step 5e-4: 40 points per posterior SD of tau for ROM, where it is narrowest); the printed pooled ratio is
    exp of the posterior median and interval of mu."""
    status, out, err = _cli(["fit", files[case], "--measure", CASES[case], "--json"])
    assert status == 0, err
    got = json.loads(out)
    assert got["measure"] == CASES[case] and got["engine"] == "exact"
    want = _dense_mu(_reference(case), np.sqrt(_reference(case, "vi")))
    for key in ("median", "mean", "sd", "ci_lower", "ci_upper"):
        assert got["mu"][key] == pytest.approx(want[key], abs=2e-5), key
    if case == "irr":  # the table printed for people (the same code for every ratio measure)
        status, text, err = _cli(["fit", files[case], "--measure", CASES[case]])
        assert status == 0, err
        line = re.search(rf"pooled {CASES[case]}: ([\d.]+) \(95% CrI ([\d.]+) to ([\d.]+)\)", text)
        assert line is not None, text
        for printed, key in zip(line.groups(), ("median", "ci_lower", "ci_upper"), strict=True):
            assert float(printed) == pytest.approx(math.exp(want[key]), abs=0.0005 + 1e-9)


@pytest.mark.parametrize("verb", [
    ["ppc"], ["sensitivity", "--threshold", "0.5"], ["monitor", "--mcid", "0.8"], ["bias"],
])
def test_every_verb_takes_an_irr_table(verb, files):
    status, out, err = _cli([verb[0], files["irr"], "--measure", "IRR", *verb[1:], "--json"])
    assert status == 0, err
    result = json.loads(out)
    assert result["measure"] == "IRR" and "error" not in err


def test_reinterpret_takes_a_printed_irr_and_rom():
    for measure, estimate, ci in (("IRR", 0.36, ("0.26", "0.50")), ("ROM", 1.29, ("1.24", "1.34"))):
        status, out, err = _cli(["reinterpret", "--estimate", estimate, "--ci", *ci, "--measure", measure,
                                 "--benefit", "below" if measure == "IRR" else "above", "--json"])
        assert status == 0, err
        rows = json.loads(out)
        assert rows and all(0 < r["median"] and math.isfinite(r["median"]) for r in rows)
        assert rows[0]["yi"] == pytest.approx(math.log(estimate), abs=1e-12)


@pytest.mark.parametrize("case", ["irr", "rom"])
def test_the_tsa_refuses_them_naming_the_measures_it_takes(case, files):
    status, out, err = _cli(["tsa", files[case], "--measure", CASES[case], "--mcid", "0.8"])
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and CASES[case] in err and "--measure RR, OR or RD" in err


# -- plans: init, the effects reanalyze uses, compare --------------------------------------------------------------
@pytest.fixture(scope="module")
def plan_folder(tmp_path_factory) -> Path:
    """An outcomes table with a stroke outcome (IRR, hart1999) and a biomass outcome (ROM, curtis1998), the
    published REML pooled ratios (metafor's, rounded to 2 decimals), and the plan `bayesmeta init` writes."""
    folder = tmp_path_factory.mktemp("irr_rom_plan")
    parts = []
    for case, outcome in (("irr", "stroke"), ("rom", "biomass")):
        part = pd.DataFrame(REF[case]["data"]).rename(columns={"study": "study_id"})
        part.insert(1, "outcome", outcome)
        part.insert(2, "measure", CASES[case])
        parts.append(part)
    pd.concat(parts).to_csv(folder / "outcomes.csv", index=False)
    published = []
    for case, outcome in (("irr", "stroke"), ("rom", "biomass")):
        fit = REF[case]["fits"]["REML"]
        printed = {key: f"{math.exp(fit[key]):.2f}" for key in ("estimate", "ci_lower", "ci_upper")}
        published.append({"outcome": outcome, "analysis": "pooled", "variable": "", "level": "", "k": fit["k"],
                          "measure": CASES[case], **printed, "p_value": "", "p_relation": "", "i2_percent": "",
                          "where": "metafor", "method": "REML"})
    pd.DataFrame(published).to_csv(folder / "published.csv", index=False)
    status, _, err = _cli(["init", "--outcomes", folder / "outcomes.csv", "--published", folder / "published.csv",
                           "--out", folder / "plan.toml"])
    assert status == 0, err
    return folder


def test_init_writes_a_plan_with_the_two_measures(plan_folder):
    plan = load_plan(plan_folder / "plan.toml")
    assert {o.name: o.measure for o in plan.outcomes} == {"stroke": "IRR", "biomass": "ROM"}
    assert plan.covariates == () and plan.pooling == "REML"  # person-time columns are not offered as covariates


def test_a_plans_effects_equal_metafors(plan_folder):
    rows = load_outcomes(plan_folder / "outcomes.csv")
    for case, outcome in (("irr", "stroke"), ("rom", "biomass")):
        effects = effects_for(outcome, rows)
        np.testing.assert_allclose(effects["yi"], REF[case]["yi"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(effects["vi"], REF[case]["vi"], rtol=0, atol=1e-10)
        assert set(effects["method"]) == {"person_time" if case == "irr" else "means"}


def test_a_plans_person_time_without_arm_sizes_and_its_zero_count_rule(tmp_path):
    rows = pd.DataFrame(REF["irr_zero"]["data"]).rename(columns={"study": "study_id"})
    rows.insert(1, "outcome", "stroke")
    rows.insert(2, "measure", "IRR")
    rows.to_csv(tmp_path / "outcomes.csv", index=False)
    table = load_outcomes(tmp_path / "outcomes.csv")
    default = derive_effects(table)
    assert default["usable"].tolist() == [True, True, True, False, True, True]
    assert "no events in either arm" in default["reason"].iloc[3] and default["method"].iloc[2] == "person_time_cc"
    kept = _reference("irr_zero")
    np.testing.assert_allclose(default["yi"][default["usable"]], kept[~np.isnan(kept)], rtol=0, atol=1e-10)
    escalc_default = effects_for("stroke", table, zero_cells=ZeroCellRule(drop00=False))  # the plan's zero_cells
    np.testing.assert_allclose(escalc_default["yi"], REF["irr_zero"]["yi_drop00_false"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(escalc_default["vi"], REF["irr_zero"]["vi_drop00_false"], rtol=0, atol=1e-10)


def test_compare_reproduces_the_published_ratios(plan_folder):
    status, out, err = _cli(["compare", plan_folder / "published.csv", "--plan", plan_folder / "plan.toml", "--json"])
    assert status == 0, err
    rows = {r["outcome"]: r for r in json.loads(out)["pooled"]}
    assert {o: rows[o]["status"] for o in ("stroke", "biomass")} == {"stroke": "reproduced", "biomass": "reproduced"}


def test_a_plans_tsa_of_an_irr_outcome_is_refused_by_key(plan_folder):
    text = (plan_folder / "plan.toml").read_text() + "\n[tsa.stroke]\nmcid = 0.8\n"
    path = plan_folder / "plan_tsa.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=r"key 'tsa.stroke'.*measure IRR.*RR, OR, RD, MD, HR, SMD"):
        load_plan(path)


# -- bad input ---------------------------------------------------------------------------------------------------
def _corrupt(path: Path, tmp_path: Path, row: int, column: str, value) -> Path:
    frame = pd.read_csv(path)
    if value is None:
        frame = frame.drop(columns=[column])
    else:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
    out = tmp_path / f"bad_{column}.csv"
    frame.to_csv(out, index=False)
    return out


@pytest.mark.parametrize("case, row, column, value, located, valid", [
    ("irr", 2, "person_time_control", -435, True, "> 0"),
    ("irr", 0, "person_time_treatment", 0, True, "> 0"),
    ("irr", 3, "events_control", -1, True, "a whole number from 0 to total_control"),
    ("irr", 1, "person_time_treatment", "", True, "a number"),
    ("irr", 0, "person_time_control", None, False, "events_treatment, person_time_treatment, events_control"),
    ("rom", 4, "mean_control", 0, True, "a mean > 0"),
    ("rom", 7, "mean_treatment", -2.5, True, "a mean > 0"),
])
def test_bad_input_is_one_line_naming_file_row_and_column(case, row, column, value, located, valid, files, tmp_path):
    path = _corrupt(files[case], tmp_path, row, column, value)
    status, out, err = _cli(["fit", path, "--measure", CASES[case]])
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"error: {path}") and f"column '{column}'" in err and valid in err
    assert (f"row {row + 2}," in err) == located


@pytest.mark.parametrize("outcome, nth, column, value, valid", [
    ("biomass", 3, "mean_treatment", 0.0, "a mean > 0"),
    ("stroke", 1, "person_time_control", -245.0, "a number > 0"),
    ("stroke", 4, "events_control", np.nan, "all four of events_treatment, person_time_treatment"),
])
def test_a_plans_bad_outcome_cell_is_named(outcome, nth, column, value, valid, plan_folder, tmp_path):
    frame = pd.read_csv(plan_folder / "outcomes.csv")
    position = int(np.flatnonzero(frame["outcome"] == outcome)[nth])
    frame.loc[position, column] = value
    if outcome == "stroke":  # person-time without the arm sizes
        frame.loc[frame["outcome"] == "stroke", ["total_treatment", "total_control"]] = np.nan
    frame.to_csv(tmp_path / "outcomes.csv", index=False)
    with pytest.raises(InputError) as info:
        load_outcomes(tmp_path / "outcomes.csv")
    assert (info.value.file, info.value.row, info.value.column) == (str(tmp_path / "outcomes.csv"), position + 2,
                                                                    column)
    assert valid in str(info.value)
