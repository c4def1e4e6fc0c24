"""Q-profile CI, Mantel-Haenszel, Egger, leave-one-out, cumulative, subgroups, Spearman and the paper's pooling rule
against R metafor 3.8 (tests/reference/metafor_fixtures.json) and closed forms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bayesmeta.frequentist import (
    cumulative,
    egger_test,
    leave_one_out,
    mantel_haenszel,
    paper_rule,
    rma,
    spearman_correlation,
    subgroup_analysis,
    tau2_ci_qprofile,
)

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "metafor_fixtures.json").read_text())
DATA = FIX["datasets"]
SHARED = json.loads((REF / "bcg_metafor.json").read_text())
TOL = 1e-6
TABLE_KEYS = ("estimate", "se", "zval", "pval", "ci_lower", "ci_upper", "q", "q_p", "tau2", "i2", "h2")


def arms(events_treatment, total_treatment, events_control, total_control) -> dict:
    """The four arm-count columns as the Mantel-Haenszel verb takes them."""
    return {"events_treatment": events_treatment, "total_treatment": total_treatment,
            "events_control": events_control, "total_control": total_control}


@pytest.mark.parametrize("case", FIX["confint"], ids=lambda c: f"{c['dataset']}-{c['level']}-{c['mods']}")
def test_qprofile_matches_metafor(case):
    d = DATA[case["dataset"]]
    mods = None if case["mods"] is None else np.asarray(d[case["mods"]], dtype=float)
    lower, upper = tau2_ci_qprofile(d["yi"], d["vi"], level=case["level"], mods=mods)
    assert (lower, upper) == pytest.approx(case["tau2"], abs=TOL)


def test_qprofile_default_tolerance_reference():
    """The shared reference was made with uniroot's default tolerance (1.22e-4)."""
    d = DATA["bcg"]
    assert tau2_ci_qprofile(d["yi"], d["vi"]) == pytest.approx(SHARED["DL_tau2_qprofile_ci"], abs=1.22e-4)


def test_qprofile_bounds_are_chi2_quantiles():
    d = DATA["normand1999"]
    y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
    lower, upper = tau2_ci_qprofile(y, v, level=0.9)
    for t, q in ((lower, 0.95), (upper, 0.05)):
        w = 1 / (v + t)
        mu = np.sum(w * y) / np.sum(w)
        assert np.sum(w * (y - mu) ** 2) == pytest.approx(stats.chi2.ppf(q, y.size - 1), rel=1e-9)


@pytest.mark.parametrize("case", FIX["mh"], ids=lambda c: f"{c['dataset']}-{c['measure']}")
def test_mantel_haenszel_matches_metafor(case):
    d = DATA[case["dataset"]]
    res = mantel_haenszel(arms(d["ai"], d["n1i"], d["ci"], d["n2i"]), measure=case["measure"])
    assert res.k == case["k"]
    for key in ("estimate", "se", "zval", "ci_lower", "ci_upper", "q", "q_p", "i2", "h2"):
        assert getattr(res, key) == pytest.approx(case[key], abs=TOL, rel=TOL), key
    assert res.pval == pytest.approx(case["pval"], rel=1e-6, abs=1e-300)
    if case["measure"] == "OR":
        assert res.cmh == pytest.approx(case["cmh"], rel=1e-9)
        assert res.cmh_p == pytest.approx(case["cmh_p"], rel=1e-6, abs=1e-300)
    else:
        assert res.cmh is None


def test_mantel_haenszel_shared_reference_and_single_table():
    d = DATA["bcg"]
    res = mantel_haenszel(arms(d["ai"], d["n1i"], d["ci"], d["n2i"]), measure="RR")
    for key, expected in SHARED["MH_RR"].items():
        assert getattr(res, key) == pytest.approx(expected, abs=1e-9), key
    # one table: the MH RR is the table's RR and the variance the usual 1/a - 1/n1 + 1/c - 1/n2
    one = mantel_haenszel(arms([10], [50], [20], [60]), measure="RR")
    assert one.estimate == pytest.approx(np.log((10 / 50) / (20 / 60)), rel=1e-12)
    assert one.se**2 == pytest.approx(1 / 10 - 1 / 50 + 1 / 20 - 1 / 60, rel=1e-12)


@pytest.mark.parametrize("case", FIX["regtest"], ids=lambda c: c["dataset"])
def test_egger_matches_regtest_lm(case):
    d = DATA[case["dataset"]]
    res = egger_test(d["yi"], d["vi"])
    assert res.tval == pytest.approx(case["zval"], abs=TOL)
    assert res.pval == pytest.approx(case["pval"], abs=TOL)
    assert res.df == case["df"]
    assert res.limit_estimate == pytest.approx(case["est"], abs=TOL)
    assert (res.limit_ci_lower, res.limit_ci_upper) == pytest.approx([case["ci_lower"], case["ci_upper"]], abs=TOL)


def test_egger_shared_reference():
    d = DATA["bcg"]
    res = egger_test(d["yi"], d["vi"])
    assert (res.tval, res.pval) == pytest.approx([SHARED["egger_lm"]["z"], SHARED["egger_lm"]["p"]], abs=1e-9)


def _check_table(table, expected):
    assert list(table.index) == expected["study"]
    for key in TABLE_KEYS:
        assert table[key].to_numpy() == pytest.approx(np.asarray(expected[key], dtype=float), abs=TOL, rel=TOL), key


@pytest.mark.parametrize("case", FIX["leave1out"], ids=lambda c: f"{c['method']}-{c['test']}")
def test_leave_one_out_matches_metafor(case):
    d = DATA[case["dataset"]]
    table = leave_one_out(d["yi"], d["vi"], method=case["method"], study=d["study"], test=case["test"])
    _check_table(table, case["table"])
    assert (table["k"] == len(d["yi"]) - 1).all()


@pytest.mark.parametrize("case", FIX["cumul"], ids=lambda c: f"{c['method']}-{c['test']}")
def test_cumulative_matches_metafor(case):
    d = DATA[case["dataset"]]
    table = cumulative(
        d["yi"], d["vi"], order=d[case["order"]], method=case["method"], study=d["study"], test=case["test"]
    )
    _check_table(table, case["table"])
    assert table["k"].tolist() == list(range(1, len(d["yi"]) + 1))


@pytest.mark.parametrize("case", FIX["subgroups"], ids=lambda c: f"{c['dataset']}-{c['method']}")
def test_subgroups_match_metafor(case):
    d = DATA[case["dataset"]]
    groups = d["alloc"] if case["dataset"] == "bcg" else d["platinum"]
    res = subgroup_analysis(d["yi"], d["vi"], groups, method=case["method"])
    assert list(res.groups.index) == case["groups"]
    assert res.groups["k"].tolist() == case["k"]
    for key in ("estimate", "se", "tau2", "q"):
        assert res.groups[key].to_numpy() == pytest.approx(case[key], abs=TOL), key
    assert res.q_between == pytest.approx(case["q_between"], abs=TOL)
    assert res.p_between == pytest.approx(case["p_between"], abs=TOL)
    assert res.df_between == case["df_between"]
    assert res.model == ("common" if case["method"] == "FE" else "random")
    json.dumps(res.as_dict())


def test_common_effect_subgroup_q_equals_wald_of_group_means():
    """Q_total - sum Q_within equals the Q of the group estimates around their weighted mean (common effect)."""
    d = DATA["bcg"]
    res = subgroup_analysis(d["yi"], d["vi"], d["alloc"], method="FE")
    fit = rma(res.groups["estimate"], res.groups["se"] ** 2, method="FE")
    assert res.q_between == pytest.approx(fit.q, rel=1e-10)


def test_spearman_matches_cor_test():
    case = FIX["spearman"][0]
    rho, p = spearman_correlation(DATA["bcg"]["ablat"], DATA["bcg"]["yi"])
    assert rho == pytest.approx(case["rho"], abs=1e-12)
    assert p == pytest.approx(case["p"], abs=1e-10)


def test_paper_rule_switches_at_fifty_percent():
    # homogeneous set: I^2 = 0 -> common effect
    d = DATA["k3_homogeneous"]
    assert paper_rule(d["yi"], d["vi"]).method == "FE"
    # BCG: I^2 = 92% -> DerSimonian-Laird, matching metafor's DL fit
    d = DATA["bcg"]
    res = paper_rule(d["yi"], d["vi"])
    assert res.method == "DL"
    assert res.estimate == pytest.approx(SHARED["DL"]["estimate"], abs=1e-9)
    # the threshold is strict: I^2 exactly at the threshold pools with random effects
    i2 = rma(d["yi"], d["vi"], method="FE").i2
    assert paper_rule(d["yi"], d["vi"], threshold=i2).method == "DL"
    assert paper_rule(d["yi"], d["vi"], threshold=i2 + 1e-9).method == "FE"


@pytest.mark.parametrize("case", FIX["mh"], ids=lambda c: f"{c['dataset']}-{c['measure']}")
def test_the_frequentist_command_pools_arm_counts_by_mantel_haenszel(case, tmp_path, capsys):
    """`frequentist --method MH` (the standard for sparse binary data) gives metafor's rma.mh from the arm counts;
    an effects table without counts, or --bias / --hksj with this common-effect model, is a clear error."""
    import pandas as pd

    from bayesmeta.cli import main

    d = DATA[case["dataset"]]
    path = tmp_path / "counts.csv"
    pd.DataFrame({"study": [f"s{i}" for i in range(len(d["ai"]))], "events_treatment": d["ai"],
                  "total_treatment": d["n1i"], "events_control": d["ci"], "total_control": d["n2i"]}).to_csv(
        path, index=False)
    assert main(["frequentist", str(path), "--method", "MH", "--measure", case["measure"], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "MH" and out["k"] == case["k"]
    for key in ("estimate", "ci_lower", "ci_upper", "q", "i2"):
        assert out[key] == pytest.approx(case[key], abs=TOL, rel=TOL), key
    assert out["reported"]["estimate"] == pytest.approx(np.exp(case["estimate"]), rel=1e-8)
    assert main(["frequentist", str(path), "--method", "MH", "--measure", case["measure"]]) == 0
    assert "Mantel-Haenszel common-effect model" in capsys.readouterr().out
    assert main(["frequentist", str(path), "--method", "MH", "--measure", case["measure"], "--bias"]) == 2
    assert "--bias needs a tau^2 estimator" in capsys.readouterr().err
    effects = tmp_path / "effects.csv"
    pd.DataFrame({"study": ["a", "b"], "yi": [0.1, -0.2], "sei": [0.2, 0.3]}).to_csv(effects, index=False)
    assert main(["frequentist", str(effects), "--method", "MH", "--measure", "OR"]) == 2
    assert "no arm counts" in capsys.readouterr().err
